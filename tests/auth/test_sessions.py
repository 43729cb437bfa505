"""Signing out ends the session on the server: a session cookie or a remember-me cookie copied
before signing out no longer signs anybody in. A person can sign out everywhere; an administrator
can end an account's sessions (page and API, audited); a new password, a new role and disabling
the account end them too. Cookies from before sessions were recorded keep working until then."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from factories import PASSWORD, csrf_from, login

EN = {"Accept-Language": "en"}
B = "b@example.gov.vn"


def _signed_in(client) -> bool:
    return client.get("/events/").status_code == 200


def _copy_cookies(app, source, names=("session", "remember_token")):
    """Another browser holding the cookies `source` holds now (a stolen or shared copy)."""
    other = app.test_client()
    for name in names:
        cookie = source.get_cookie(name)
        if cookie is not None:
            other.set_cookie(name, cookie.value)
    return other


def _sign_out(client):
    page = client.get("/events/").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302


def _remember_login(client, email: str):
    page = client.get("/login")
    response = client.post("/login", data={"email": email, "password": PASSWORD, "remember": "y",
                                           "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert client.get_cookie("remember_token") is not None


def _actions(app, action: str):
    from coordinator.audit.models import AuditEntry
    from coordinator.extensions import db

    with app.app_context():
        return [(e.actor_id, e.object_id, e.details) for e in
                db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


def _user_id(app, email: str) -> int:
    from coordinator.auth.services import get_user_by_email

    with app.app_context():
        return get_user_by_email(email).id


def test_a_session_cookie_copied_before_signing_out_no_longer_works(app, client, make_user):
    make_user(B, "coordinator", "56")
    login(client, B)
    copy = _copy_cookies(app, client, ("session",))
    assert _signed_in(copy)
    _sign_out(client)
    assert not _signed_in(client)
    assert not _signed_in(copy)


def test_a_remember_me_cookie_copied_before_signing_out_no_longer_works(app, client, make_user):
    make_user(B, "coordinator", "56")
    _remember_login(client, B)
    copy = _copy_cookies(app, client, ("remember_token",))  # the browser was closed: only the remember-me cookie
    assert _signed_in(copy)
    _sign_out(client)
    assert not _signed_in(copy)
    assert not _signed_in(_copy_cookies(app, client))


def test_signing_out_on_one_device_keeps_the_others(app, make_user):
    make_user(B, "coordinator", "56")
    office, phone = app.test_client(), app.test_client()
    login(office, B)
    login(phone, B)
    _sign_out(office)
    assert not _signed_in(office)
    assert _signed_in(phone)


def test_sign_out_everywhere(app, make_user):
    make_user(B, "coordinator", "56")
    office, phone = app.test_client(), app.test_client()
    _remember_login(office, B)
    login(phone, B)
    stolen = _copy_cookies(app, phone)
    page = office.get("/account/sessions", headers=EN)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('class="user-session') == 2 and "this browser" in html
    response = office.post("/account/sessions/end", data={"csrf_token": csrf_from(html)}, headers=EN)
    assert response.status_code == 302
    assert not any(_signed_in(c) for c in (office, phone, stolen, _copy_cookies(app, office, ("remember_token",))))
    user_id = _user_id(app, B)
    assert _actions(app, "user.sessions_revoke") == [(user_id, str(user_id), {"via": "self", "sessions": 2})]
    login(phone, B)  # signing in again works
    assert _signed_in(phone)


def test_an_administrator_ends_an_accounts_sessions_from_its_page(app, client, make_user):
    make_user("admin@example.gov.vn", "admin")
    make_user(B, "coordinator", "56")
    official = app.test_client()
    login(official, B)
    login(client, "admin@example.gov.vn")
    user_id = _user_id(app, B)
    page = client.get(f"/users/{user_id}", headers=EN).get_data(as_text=True)
    assert 'data-open-sessions="1"' in page
    response = client.post(f"/users/{user_id}/sessions/revoke", data={"csrf_token": csrf_from(page)}, headers=EN)
    assert response.status_code == 302
    assert "Sessions ended: 1." in client.get(f"/users/{user_id}", headers=EN).get_data(as_text=True)
    assert not _signed_in(official)
    assert _signed_in(client)  # the administrator's own session is untouched
    assert _actions(app, "user.sessions_revoke") == [(_user_id(app, "admin@example.gov.vn"), str(user_id),
                                                      {"via": "page", "sessions": 1, "email": B})]


def test_the_api_ends_an_accounts_sessions(app, client, make_user, token_for):
    make_user("admin@example.gov.vn", "admin")
    make_user("org@example.gov.vn", "organizer")
    make_user(B, "coordinator", "56")
    official = app.test_client()
    login(official, B)
    user_id = _user_id(app, B)
    response = client.post(f"/api/v1/users/{user_id}/sessions/revoke", headers=token_for("org@example.gov.vn"))
    assert response.status_code == 200 and response.get_json() == {"sessions_ended": 1}
    assert not _signed_in(official)
    # An organizer may not end an administrator's sessions; an unknown account is 404.
    admin_id = _user_id(app, "admin@example.gov.vn")
    refused = client.post(f"/api/v1/users/{admin_id}/sessions/revoke", headers=token_for("org@example.gov.vn"))
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    assert client.post("/api/v1/users/999999/sessions/revoke", headers=token_for("admin@example.gov.vn")).status_code == 404
    # A browser calling the API with its session cookie needs the CSRF token, as for every API write.
    login(client, "admin@example.gov.vn")
    assert client.post(f"/api/v1/users/{user_id}/sessions/revoke").status_code == 400
    # The account's API tokens are not sessions: they keep working.
    headers = token_for(B)
    client.post(f"/api/v1/users/{user_id}/sessions/revoke", headers=token_for("admin@example.gov.vn"))
    assert client.get("/api/v1/events", headers=headers).status_code == 200


def test_a_new_role_a_new_password_and_disabling_end_the_sessions(app, client, make_user, token_for):
    from coordinator.auth.services import get_user_by_email, set_password
    from coordinator.extensions import db

    make_user("admin@example.gov.vn", "admin")
    make_user(B, "coordinator", "56")
    admin = token_for("admin@example.gov.vn")
    user_id = _user_id(app, B)
    official = app.test_client()

    login(official, B)
    assert client.patch(f"/api/v1/users/{user_id}", json={"name": "Trần Thị B"}, headers=admin).status_code == 200
    assert _signed_in(official)  # a new name changes nothing
    assert client.patch(f"/api/v1/users/{user_id}", json={"role": "operator"}, headers=admin).status_code == 200
    assert not _signed_in(official)

    login(official, B)
    with app.app_context():
        set_password(get_user_by_email(B), "another-password-1")
        db.session.commit()
    assert not _signed_in(official)

    login(official, B, "another-password-1")
    assert client.patch(f"/api/v1/users/{user_id}", json={"active": False}, headers=admin).status_code == 200
    assert not _signed_in(official)


def test_cookies_from_before_sessions_were_recorded_work_until_signing_out(app, make_user):
    """A session cookie written before this version carries "<id>:<epoch>" and no session id."""
    make_user(B, "coordinator", "56")
    user_id = _user_id(app, B)
    old = app.test_client()
    serializer = app.session_interface.get_signing_serializer(app)
    old.set_cookie("session", serializer.dumps({"_user_id": f"{user_id}:0", "_fresh": True}))
    assert _signed_in(old)
    copy = _copy_cookies(app, old, ("session",))
    _sign_out(old)
    assert not _signed_in(copy)


@pytest.mark.parametrize("value", ["", "abc", "1:x", "1:0:", "999999:0:nope", "1:0:" + "x" * 500])
def test_odd_session_values_name_nobody(app, make_user, value):
    make_user(B, "coordinator", "56")
    browser = app.test_client()
    browser.set_cookie("session", app.session_interface.get_signing_serializer(app).dumps({"_user_id": value}))
    assert not _signed_in(browser)


def test_ending_sessions_reads_as_a_sentence_in_the_audit_log(app, client, make_user):
    from coordinator.audit.models import AuditEntry
    from coordinator.history.sentences import describe_all
    from coordinator.extensions import db

    make_user("admin@example.gov.vn", "admin")
    make_user(B, "coordinator", "56")
    login(app.test_client(), B)
    login(client, "admin@example.gov.vn")
    user_id = _user_id(app, B)
    page = client.get(f"/users/{user_id}").get_data(as_text=True)
    client.post(f"/users/{user_id}/sessions/revoke", data={"csrf_token": csrf_from(page)})
    page = client.get("/account/sessions").get_data(as_text=True)
    client.post("/account/sessions/end", data={"csrf_token": csrf_from(page)})
    with app.app_context():
        entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.sessions_revoke")
                                          .order_by(AuditEntry.id)))
        said = describe_all(entries, locale="en")
    assert said == [f"Admin ended every session of b <{B}> (sessions ended: 1)",
                    "Admin signed out on every device (sessions ended: 1)"]


def test_remember_me_lasts_thirty_days_on_the_server(app, client, make_user):
    # The cookie says 30 days (REMEMBER_SECONDS; Flask-Login's own default is a year), and the
    # server holds the sign-in to the same: a remember-me cookie kept past it names nobody.
    from datetime import timedelta

    from coordinator.auth.models import UserSession
    from coordinator.extensions import db

    assert app.config["REMEMBER_COOKIE_DURATION"] == 30 * 86400
    make_user(B, "coordinator", "56")
    _remember_login(client, B)
    copy = _copy_cookies(app, client, ("remember_token",))
    assert _signed_in(copy)
    with app.app_context():
        row = db.session.scalars(select(UserSession)).one()
        row.created_at = row.created_at - timedelta(days=29)
        db.session.commit()
    assert _signed_in(_copy_cookies(app, client, ("remember_token",)))
    with app.app_context():
        row = db.session.scalars(select(UserSession)).one()
        row.created_at = row.created_at - timedelta(days=2)
        db.session.commit()
    assert not _signed_in(_copy_cookies(app, client, ("remember_token",)))
