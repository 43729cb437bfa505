"""Users, roles, sign-in, API tokens, CSRF and cookie settings."""
from __future__ import annotations

import pytest
from factories import PASSWORD, csrf_from, login


def test_sign_in_and_out(client, make_user):
    make_user("organizer@example.gov.vn", "organizer")
    assert client.get("/events/").status_code == 302  # anonymous: to the sign-in page
    response = login(client, "Organizer@Example.gov.vn")  # email is case-insensitive
    assert response.headers["Location"].endswith("/events/")
    assert client.get("/events/").status_code == 200
    page = client.get("/events/").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert client.get("/events/").status_code == 302


def test_wrong_password_is_refused_next_to_the_field(client, make_user):
    make_user("organizer@example.gov.vn", "organizer")
    page = client.get("/login", headers={"Accept-Language": "en"})
    response = client.post("/login", headers={"Accept-Language": "en"}, data={
        "email": "organizer@example.gov.vn", "password": "wrong-password", "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 400
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/events/").status_code == 302


def test_forms_without_csrf_token_are_refused(client, make_user):
    make_user("organizer@example.gov.vn", "organizer")
    response = client.post("/login", data={"email": "organizer@example.gov.vn", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/events/").status_code == 302


def test_next_parameter_cannot_redirect_off_site(client, make_user):
    make_user("organizer@example.gov.vn", "organizer")
    page = client.get("/login?next=https://evil.example/")
    response = client.post("/login?next=https://evil.example/", data={
        "email": "organizer@example.gov.vn", "password": PASSWORD, "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.headers["Location"] == "/events/"


def test_session_cookie_is_httponly_and_samesite(client, make_user):
    make_user("organizer@example.gov.vn", "organizer")
    response = login(client, "organizer@example.gov.vn")
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cookies_are_secure_when_served_over_https(monkeypatch, tmp_path):
    from coordinator.config import load_config

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://hoinghi.example.gov.vn")
    config = load_config(tmp_path)
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    assert not load_config(tmp_path)["SESSION_COOKIE_SECURE"]


def test_generated_secret_key_is_kept_between_starts(monkeypatch, tmp_path):
    from coordinator.config import load_config

    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_config(tmp_path)["SECRET_KEY"]
    assert len(first) >= 32 and load_config(tmp_path)["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_passwords_are_hashed(app_ctx, make_user):
    from coordinator.auth.services import get_user_by_email

    make_user("organizer@example.gov.vn", "organizer")
    user = get_user_by_email("organizer@example.gov.vn")
    assert PASSWORD not in user.password_hash and user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_cli_token_gives_api_access_and_is_stored_hashed(cli, client, app, make_user):
    from sqlalchemy import select

    from coordinator.auth.models import ApiToken
    from coordinator.extensions import db

    make_user("operator@example.gov.vn", "operator")
    result = cli("users", "token", "operator@example.gov.vn")
    token = result.output.strip()
    assert result.exit_code == 0 and token.startswith("vcc_") and len(token) > 40
    response = client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json() == {"items": [], "total": 0}
    with app.app_context():
        stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64
    assert client.get("/api/v1/events", headers={"Authorization": "Bearer vcc_forged"}).status_code == 401
    assert cli("users", "token", "nobody@example.gov.vn").exit_code == 1


def test_tokens_of_deactivated_users_stop_working(client, app, make_user, token_for):
    from coordinator.auth.services import get_user_by_email
    from coordinator.extensions import db

    make_user("operator@example.gov.vn", "operator")
    headers = token_for("operator@example.gov.vn")
    assert client.get("/api/v1/events", headers=headers).status_code == 200
    with app.app_context():
        get_user_by_email("operator@example.gov.vn").active = False
        db.session.commit()
    assert client.get("/api/v1/events", headers=headers).status_code == 401


def test_users_create_cli(cli, app_ctx):
    from coordinator.auth.services import get_user_by_email

    result = cli("users", "create", "--email", "kh@example.gov.vn", "--password", "mat-khau-123",
                 "--role", "coordinator", "--unit", "56", "--structure", "2024")
    assert result.exit_code == 0 and "Tỉnh Khánh Hòa" in result.output
    user = get_user_by_email("kh@example.gov.vn")
    assert (user.role, user.unit.code, user.unit.structure) == ("coordinator", "56", "2024")
    # Without --structure the unit is the default structure's (2025 since 1/7/2025).
    result = cli("users", "create", "--email", "kh2025@example.gov.vn", "--password", "mat-khau-123",
                 "--role", "coordinator", "--unit", "56")
    assert result.exit_code == 0, result.output
    assert get_user_by_email("kh2025@example.gov.vn").unit.structure == "2025"


@pytest.mark.parametrize("args,message", [
    (["--role", "coordinator"], "a coordinator needs --unit CODE"),
    (["--role", "coordinator", "--unit", "999"], "no unit with code '999'"),
    (["--role", "organizer", "--password", "short"], "at least 8 characters"),
    (["--role", "organizer", "--email", "not-an-email"], "not an email address"),
])
def test_users_create_cli_refuses_bad_input(cli, args, message):
    base = {"--email": "x@example.gov.vn", "--password": "long-enough-1"}
    for flag in ("--email", "--password"):
        if flag in args:
            base.pop(flag)
    argv = ["users", "create"] + [v for pair in base.items() for v in pair] + args
    result = cli(*argv)
    assert result.exit_code != 0 and message in result.output


def test_duplicate_user_is_refused(cli):
    argv = ["users", "create", "--email", "a@example.gov.vn", "--password", "long-enough-1", "--role", "operator"]
    assert cli(*argv).exit_code == 0
    result = cli(*argv)
    assert result.exit_code == 1 and "already exists" in result.output


ROLE_ACCESS = [
    # role, unit, may view events, may create events
    ("admin", None, True, True),
    ("organizer", None, True, True),
    ("coordinator", "56", True, False),
    ("operator", None, True, False),
]


@pytest.mark.parametrize("role,unit,may_view,may_manage", ROLE_ACCESS, ids=[r[0] for r in ROLE_ACCESS])
def test_roles_through_pages_and_api(client, make_user, token_for, nd49, role, unit, may_view, may_manage):
    make_user(f"{role}@example.gov.vn", role, unit)
    headers = token_for(f"{role}@example.gov.vn")
    assert client.get("/api/v1/events/nd49-2024", headers=headers).status_code == (200 if may_view else 403)
    login(client, f"{role}@example.gov.vn")
    assert client.get("/events/nd49-2024").status_code == (200 if may_view else 403)
    assert client.get("/events/new").status_code == (200 if may_manage else 403)
    assert client.get("/events/nd49-2024/edit").status_code == (200 if may_manage else 403)
    page = client.get("/events/").get_data(as_text=True)
    publish = client.post("/events/nd49-2024/publish", data={"csrf_token": csrf_from(page)})
    assert publish.status_code == (302 if may_manage else 403)


def test_coordinator_scope_is_its_subtree(app_ctx, make_user):
    from coordinator.auth.permissions import can
    from coordinator.auth.services import get_user_by_email
    from coordinator.units.services import get_unit, search_units

    make_user("kh@example.gov.vn", "coordinator", "56")
    make_user("org@example.gov.vn", "organizer")
    kh, org = get_user_by_email("kh@example.gov.vn"), get_user_by_email("org@example.gov.vn")
    commune_of_kh = search_units("2024", parent_code="568", per_page=1)[0][0]
    assert can(kh, "units.view", get_unit("2024", "56"))
    assert can(kh, "units.view", commune_of_kh)
    assert not can(kh, "units.view", get_unit("2024", "01"))
    assert not can(kh, "units.view", get_unit("2024", "TW"))
    assert can(org, "units.view", get_unit("2024", "01"))
    assert not can(kh, "events.manage")


def test_a_bearer_token_wins_over_a_session_cookie(client, make_user, token_for, nd49):
    make_user("kh@example.gov.vn", "coordinator", "56")
    make_user("org@example.gov.vn", "organizer")
    login(client, "kh@example.gov.vn")
    assert client.get("/api/v1/events/nd49-2024/registration").status_code == 403
    assert client.get("/api/v1/events/nd49-2024/registration", headers=token_for("org@example.gov.vn")).status_code == 200
    forged = client.get("/api/v1/events/nd49-2024/registration", headers={"Authorization": "Bearer vcc_forged"})
    assert forged.status_code == 401


def test_password_guessing_is_slowed_down(client, make_user):
    make_user("organizer@example.gov.vn", "organizer")
    token = csrf_from(client.get("/login").get_data(as_text=True))
    wrong = {"email": "organizer@example.gov.vn", "password": "guess", "csrf_token": token}
    codes = [client.post("/login", data=wrong, headers={"Accept-Language": "en"}).status_code for _ in range(11)]
    assert codes == [400] * 10 + [429]
    blocked = client.post("/login", data={**wrong, "password": PASSWORD}, headers={"Accept-Language": "en"})
    assert blocked.status_code == 429 and "Too many attempts" in blocked.get_data(as_text=True)
    # Another account from the same address is not locked out by these attempts.
    make_user("operator@example.gov.vn", "operator")
    assert client.post("/login", data={"email": "operator@example.gov.vn", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
