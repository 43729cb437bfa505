"""Accounts managed in the product (issue 13, point 3): the `/api/v1/users` API (list with filters
and pagination, create, change, permissions), one-time set-password links mailed through the
outbox to a real SMTP server on 127.0.0.1, disabling that ends sessions and API tokens at once,
the spreadsheet import (all or nothing, idempotent), the CLI without passwords on the command
line, and the audit log."""
from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from factories import PASSWORD, csrf_from, login
from fakes.smtp_server import SmtpServer

LINK_RE = re.compile(r"https?://[^\s\"<>]+/password/[A-Za-z0-9_-]{20,}")
NEW_PASSWORD = "mat-khau-moi-2024"


@pytest.fixture()
def smtp(app, monkeypatch):
    server = SmtpServer().start()
    for key, value in {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.port,
                       "SMTP_STARTTLS": False, "SMTP_SSL": False, "SMTP_TIMEOUT": 5.0,
                       "PUBLIC_BASE_URL": "https://hoinghi.example.gov.vn",
                       "MAIL_FROM": "Cục Thông tin cơ sở <no-reply@ttcs.example.gov.vn>",
                       "MAIL_FROM_ADDRESS": "no-reply@ttcs.example.gov.vn"}.items():
        monkeypatch.setitem(app.config, key, value)
    yield server
    server.stop()


def dispatch(cli) -> str:
    result = cli("outbox", "dispatch", "--once")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture()
def admin(make_user, token_for):
    make_user("admin@example.gov.vn", "admin")
    return token_for("admin@example.gov.vn")


@pytest.fixture()
def organizer(make_user, token_for):
    make_user("organizer@example.gov.vn", "organizer")
    return token_for("organizer@example.gov.vn")


def create(client, headers, status=201, **body):
    response = client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def user_id(app, email: str) -> int:
    from coordinator.auth.services import get_user_by_email

    with app.app_context():
        return get_user_by_email(email).id


def audit_actions(app) -> list[tuple[str, str | None, dict]]:
    from coordinator.audit.models import AuditEntry
    from coordinator.extensions import db

    with app.app_context():
        return [(e.action, e.object_id, e.details)
                for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def link_from(received) -> str:
    message = received.message
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = LINK_RE.findall(text)
    assert found, text
    html = message.get_body(preferencelist=("html",)).get_content()
    assert found[0] in html  # the same link in both parts
    return found[0]


def path_of(link: str) -> str:
    return "/password/" + link.rsplit("/password/", 1)[1]


def set_password_through(client, link: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    page = client.get(path_of(link))
    assert page.status_code == 200, page.status_code
    return client.post(path_of(link), data={"password": password, "confirm": confirm or password,
                                            "csrf_token": csrf_from(page.get_data(as_text=True))})


# --- the API: fields, list, filters, pagination ---------------------------------------------------

def test_list_with_filters_and_pagination(client, admin, make_user):
    make_user("kh@example.gov.vn", "coordinator", "56")
    make_user("nhatrang@example.gov.vn", "coordinator", "568")  # a district of Khánh Hòa (56)
    make_user("hanoi@example.gov.vn", "coordinator", "01")
    make_user("operator@example.gov.vn", "operator")
    create(client, admin, email="Nguyen.Anh@Example.gov.vn", name="Nguyễn Thị Ánh", role="operator")

    body = client.get("/api/v1/users", headers=admin).get_json()
    assert body["total"] == 6 and len(body["items"]) == 6
    assert [u["email"] for u in body["items"]] == sorted(u["email"] for u in body["items"])
    kh = next(u for u in body["items"] if u["email"] == "kh@example.gov.vn")
    assert {"email", "name", "role", "unit_code", "structure", "active", "last_login_at", "id",
            "created_at"} <= set(kh)
    assert (kh["role"], kh["unit_code"], kh["structure"], kh["active"], kh["last_login_at"]) == (
        "coordinator", "56", "2024", True, None)

    def emails(**params):
        response = client.get("/api/v1/users", query_string=params, headers=admin)
        assert response.status_code == 200, response.get_json()
        return sorted(u["email"] for u in response.get_json()["items"])

    # q: email or name, without diacritics or case
    assert emails(q="nguyen thi anh") == ["nguyen.anh@example.gov.vn"]
    assert emails(q="ÁNH") == ["nguyen.anh@example.gov.vn"]
    assert emails(q="hanoi@") == ["hanoi@example.gov.vn"]
    assert emails(q="100%") == []  # LIKE wildcards are literal
    assert emails(role="operator") == ["nguyen.anh@example.gov.vn", "operator@example.gov.vn"]
    # unit: the unit's subtree (Nha Trang is in Khánh Hòa), in one structure or any
    assert emails(unit="56", structure="2024") == ["kh@example.gov.vn", "nhatrang@example.gov.vn"]
    assert emails(unit="568") == ["nhatrang@example.gov.vn"]
    assert emails(unit="56", structure="2025") == []
    assert emails(unit="nope") == []
    create_patch = client.patch(f"/api/v1/users/{user_id(client.application, 'operator@example.gov.vn')}",
                                json={"active": False}, headers=admin)
    assert create_patch.status_code == 200 and create_patch.get_json()["active"] is False
    assert emails(active="false") == ["operator@example.gov.vn"]
    assert len(emails(active="true")) == 5
    assert emails(role="coordinator", active="true", unit="56", structure="2024") == [
        "kh@example.gov.vn", "nhatrang@example.gov.vn"]

    page1 = client.get("/api/v1/users?per_page=4", headers=admin).get_json()
    page2 = client.get("/api/v1/users?per_page=4&page=2", headers=admin).get_json()
    assert (page1["total"], page2["total"], len(page1["items"]), len(page2["items"])) == (6, 6, 4, 2)
    assert not {u["id"] for u in page1["items"]} & {u["id"] for u in page2["items"]}
    assert client.get("/api/v1/users?role=king", headers=admin).status_code == 400
    assert client.get("/api/v1/users?per_page=0", headers=admin).status_code == 400


def test_post_validates_and_patch_changes_role_scope_and_name(client, admin, app):
    body = create(client, admin, email="kh2@example.gov.vn", name="Sở TT&TT Khánh Hòa", role="coordinator",
                  unit_code="56", structure="2024")
    assert (body["email"], body["name"], body["unit_code"], body["structure"], body["active"],
            body["has_password"]) == ("kh2@example.gov.vn", "Sở TT&TT Khánh Hòa", "56", "2024", True, False)
    assert client.get(f"/api/v1/users/{body['id']}", headers=admin).get_json() == body

    errors = create(client, admin, 422, email="not-an-email", role="coordinator")["error"]
    assert errors["code"] == "invalid"
    assert {d["field"] for d in errors["details"]} == {"email", "unit_code"}
    unknown_unit = create(client, admin, 422, email="x@example.gov.vn", role="coordinator", unit_code="999")
    assert unknown_unit["error"]["details"][0]["field"] == "unit_code"
    assert create(client, admin, 422, email="x@example.gov.vn", role="coordinator", unit_code="56",
                  structure="1999")["error"]["details"][0]["field"] == "structure"
    assert create(client, admin, 409, email="KH2@example.gov.vn", role="operator")["error"]["code"] == "conflict"
    assert create(client, admin, 422, email="y@example.gov.vn", role="operator", extra=1)["error"]["code"] == "invalid"

    url = f"/api/v1/users/{body['id']}"
    moved = client.patch(url, json={"unit_code": "568"}, headers=admin).get_json()
    assert (moved["unit_code"], moved["structure"]) == ("568", "2024")  # the account's structure kept
    to_2025 = client.patch(url, json={"unit_code": "56", "structure": "2025"}, headers=admin).get_json()
    assert (to_2025["unit_code"], to_2025["structure"]) == ("56", "2025")
    no_scope = client.patch(url, json={"unit_code": None}, headers=admin)
    assert no_scope.status_code == 422 and no_scope.get_json()["error"]["details"][0]["field"] == "unit_code"
    operator = client.patch(url, json={"role": "operator", "unit_code": None, "name": "Kỹ thuật viên"},
                            headers=admin).get_json()
    assert (operator["role"], operator["unit_code"], operator["name"]) == ("operator", None, "Kỹ thuật viên")
    assert client.patch(url, json={"email": "other@example.gov.vn"}, headers=admin).status_code == 422
    assert client.patch("/api/v1/users/999999", json={"name": "x"}, headers=admin).status_code == 404
    assert client.get("/api/v1/users/999999", headers=admin).get_json()["error"]["code"] == "not_found"

    updates = [d for action, oid, d in audit_actions(app) if action == "user.update" and oid == str(body["id"])]
    assert updates[0]["changes"] == {"unit": ["2024:56", "2024:568"]}
    assert updates[-1]["changes"] == {"role": ["coordinator", "operator"], "unit": ["2025:56", None],
                                      "name": ["Sở TT&TT Khánh Hòa", "Kỹ thuật viên"]}


ROLE_MATRIX = [
    # actor, role created, status
    ("admin", "admin", 201), ("admin", "organizer", 201), ("admin", "coordinator", 201), ("admin", "operator", 201),
    ("organizer", "admin", 403), ("organizer", "organizer", 403), ("organizer", "coordinator", 201),
    ("organizer", "operator", 201),
]


@pytest.mark.parametrize("actor,role,status", ROLE_MATRIX)
def test_who_may_create_which_role(client, make_user, token_for, actor, role, status):
    make_user(f"{actor}@example.gov.vn", actor)
    body = {"email": f"new-{role}@example.gov.vn", "role": role}
    if role == "coordinator":
        body.update(unit_code="56", structure="2024")
    response = client.post("/api/v1/users", json=body, headers=token_for(f"{actor}@example.gov.vn"))
    assert response.status_code == status, response.get_json()


def test_permissions_of_organizers_coordinators_and_operators(client, app, admin, organizer, make_user, token_for):
    make_user("kh@example.gov.vn", "coordinator", "56")
    make_user("operator@example.gov.vn", "operator")
    make_user("other-org@example.gov.vn", "organizer")
    kh, op, other_org, adm = (user_id(app, e) for e in ("kh@example.gov.vn", "operator@example.gov.vn",
                                                        "other-org@example.gov.vn", "admin@example.gov.vn"))
    # Coordinators and operators manage no accounts; anonymous callers are asked to authenticate.
    for email in ("kh@example.gov.vn", "operator@example.gov.vn"):
        headers = token_for(email)
        assert client.get("/api/v1/users", headers=headers).status_code == 403
        assert client.post("/api/v1/users", json={"email": "z@example.gov.vn", "role": "operator"},
                           headers=headers).status_code == 403
        assert client.patch(f"/api/v1/users/{op}", json={"name": "x"}, headers=headers).status_code == 403
        assert client.get(f"/api/v1/users/{op}", headers=headers).status_code == 403
    assert client.get("/api/v1/users").status_code == 401
    # Organizers: every account listed; coordinator and operator accounts changed, never raised.
    assert client.get("/api/v1/users", headers=organizer).get_json()["total"] == 5
    assert client.patch(f"/api/v1/users/{kh}", json={"name": "Khánh Hòa"}, headers=organizer).status_code == 200
    assert client.patch(f"/api/v1/users/{kh}", json={"role": "operator"}, headers=organizer).status_code == 200
    raised = client.patch(f"/api/v1/users/{op}", json={"role": "organizer"}, headers=organizer)
    assert raised.status_code == 403 and raised.get_json()["error"]["details"][0]["field"] == "role"
    for target in (adm, other_org):
        assert client.patch(f"/api/v1/users/{target}", json={"active": False}, headers=organizer).status_code == 403
        assert client.post(f"/api/v1/users/{target}/password-link", headers=organizer).status_code == 403
    assert client.patch(f"/api/v1/users/{op}", json={"active": False}, headers=organizer).status_code == 200
    # Nobody disables their own account or changes their own role.
    org_id = user_id(app, "organizer@example.gov.vn")
    own = client.patch(f"/api/v1/users/{org_id}", json={"active": False}, headers=admin)
    assert own.status_code == 200  # (an admin may disable an organizer)
    assert client.patch(f"/api/v1/users/{adm}", json={"active": False}, headers=admin).status_code == 403
    assert client.patch(f"/api/v1/users/{adm}", json={"role": "operator"}, headers=admin).status_code == 403
    assert client.patch(f"/api/v1/users/{adm}", json={"name": "Quản trị"}, headers=admin).status_code == 200
    with app.app_context():
        from coordinator.auth.models import User
        from coordinator.extensions import db

        assert db.session.get(User, adm).active and db.session.get(User, adm).role == "admin"


def test_the_last_active_admin_stays_one(cli, client, app, admin, make_user, token_for):
    result = cli("users", "disable", "admin@example.gov.vn")
    assert result.exit_code == 1 and "last active administrator" in result.output
    make_user("admin2@example.gov.vn", "admin")
    second = token_for("admin2@example.gov.vn")
    first_id = user_id(app, "admin@example.gov.vn")
    assert client.patch(f"/api/v1/users/{first_id}", json={"role": "organizer"}, headers=second).status_code == 200
    # admin2 is now the only one: the CLI (which may do anything) cannot disable or demote it
    assert "last active administrator" in cli("users", "disable", "admin2@example.gov.vn").output
    assert cli("users", "disable", "admin@example.gov.vn").exit_code == 0
    assert "already disabled" in cli("users", "disable", "admin@example.gov.vn").output


# --- set-password links by email ------------------------------------------------------------------

def test_a_new_account_gets_a_one_time_link_by_email(client, app, admin, cli, smtp):
    from coordinator.auth.models import PasswordToken, User
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    body = create(client, admin, email="Tran.B@KhanhHoa.example.gov.vn", name="Trần Thị B", role="coordinator",
                  unit_code="56", structure="2024")
    assert "sent 1" in dispatch(cli)
    (received,) = smtp.to("tran.b@khanhhoa.example.gov.vn")
    message = received.message
    assert message["Content-Language"] == "vi" and "Trần Thị B" in str(message["To"])
    assert message["Subject"]
    link = link_from(received)
    assert link.startswith("https://hoinghi.example.gov.vn/password/")  # PUBLIC_BASE_URL
    token = link.rsplit("/", 1)[1]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "tran.b@khanhhoa.example.gov.vn" in text and "72" in text

    # Only the token's SHA-256 is stored; nothing in the outbox or the audit log opens the account.
    with app.app_context():
        rows = db.session.scalars(select(PasswordToken)).all()
        assert len(rows) == 1 and rows[0].token_hash != token and len(rows[0].token_hash) == 64
        assert (rows[0].expires_at - rows[0].created_at) == timedelta(hours=72)
        payloads = json.dumps([m.payload for m in db.session.scalars(select(OutboxMessage))])
        assert token not in payloads
    assert token not in json.dumps([d for _, _, d in audit_actions(app)])

    # Signing in is impossible before the password is set.
    page = client.get("/login")
    refused = client.post("/login", data={"email": "tran.b@khanhhoa.example.gov.vn", "password": "!",
                                          "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert refused.status_code == 400

    browser = app.test_client()
    form = browser.get(path_of(link))
    assert form.headers["Referrer-Policy"] == "no-referrer" and "no-store" in form.headers["Cache-Control"]
    assert browser.get(path_of(link)).status_code == 200  # opening it (a link previewer) uses nothing
    assert set_password_through(browser, link, confirm="something-else").status_code == 400
    assert set_password_through(browser, link, password="short").status_code == 400
    done = set_password_through(browser, link)
    assert done.status_code == 302 and done.headers["Location"].endswith("/events/")
    assert browser.get("/events/").status_code == 200  # signed in
    # Single use: the same link again is a clear page, never a 500.
    again = browser.get(path_of(link))
    assert again.status_code == 410 and 'data-state="used"' in again.get_data(as_text=True)
    other = app.test_client()
    token_field = csrf_from(other.get("/login").get_data(as_text=True))
    posted = other.post(path_of(link), data={"password": "x" * 12, "confirm": "x" * 12, "csrf_token": token_field})
    assert posted.status_code == 410

    fresh = app.test_client()
    login(fresh, "tran.b@khanhhoa.example.gov.vn", NEW_PASSWORD)
    shown = client.get(f"/api/v1/users/{body['id']}", headers=admin).get_json()
    assert shown["has_password"] is True and shown["last_login_at"] is not None
    actions = [a for a, oid, _ in audit_actions(app) if oid == str(body["id"])]
    assert actions[:2] == ["user.create", "user.password_link"]
    assert "user.password_set" in actions and actions.count("user.login") == 2
    with app.app_context():
        assert db.session.scalar(select(User).where(User.id == body["id"])).has_usable_password


def test_expired_replaced_and_unknown_links(client, app, make_user):
    from coordinator.accounts import links
    from coordinator.auth.services import get_user_by_email
    from coordinator.extensions import db
    from coordinator.timeutil import utcnow

    make_user("op@example.gov.vn", "operator")
    with app.app_context():
        user = get_user_by_email("op@example.gov.vn")
        old = links.issue(user, now=utcnow() - timedelta(hours=73), mail=False)
        db.session.commit()
    expired = client.get(path_of(old.url))
    assert expired.status_code == 410 and 'data-state="expired"' in expired.get_data(as_text=True)
    csrf_token = csrf_from(client.get("/login").get_data(as_text=True))
    assert client.post(path_of(old.url), data={"password": "x" * 12, "confirm": "x" * 12,
                                               "csrf_token": csrf_token}).status_code == 410

    with app.app_context():
        user = get_user_by_email("op@example.gov.vn")
        first = links.issue(user, mail=False)
        second = links.issue(user, mail=False)
        db.session.commit()
    replaced = client.get(path_of(first.url))
    assert replaced.status_code == 410 and 'data-state="revoked"' in replaced.get_data(as_text=True)
    assert client.get(path_of(second.url)).status_code == 200
    assert client.get("/password/not-a-token-at-all-0123456789").status_code == 404
    assert client.get("/password/" + "x" * 500).status_code == 404

    # A password set through a link ends every session opened before, and the other links.
    login(client, "op@example.gov.vn")
    assert client.get("/events/").status_code == 200
    with app.app_context():
        third = links.issue(get_user_by_email("op@example.gov.vn"), mail=False)
        fourth_user = get_user_by_email("op@example.gov.vn")
        db.session.commit()
    assert set_password_through(app.test_client(), third.url).status_code == 302
    assert client.get("/events/").status_code == 302  # the old session is over
    assert client.get(path_of(second.url)).status_code == 410
    assert fourth_user is not None


def test_forgot_password_answers_the_same_for_unknown_addresses(client, app, make_user, cli, smtp):
    from coordinator.outbox.models import OutboxMessage
    from coordinator.extensions import db

    make_user("op@example.gov.vn", "operator")
    login_page = client.get("/login").get_data(as_text=True)
    assert "/password/forgot" in login_page

    def ask(email):
        page = client.get("/password/forgot")
        assert page.status_code == 200
        response = client.post("/password/forgot", data={"email": email,
                                                          "csrf_token": csrf_from(page.get_data(as_text=True))})
        followed = client.get(response.headers["Location"]).get_data(as_text=True)
        flash = re.search(r'class="flash[^"]*"[^>]*>(.*?)</div>', followed, re.S).group(1)
        return response.status_code, response.headers["Location"], flash.replace(email, "EMAIL")

    known = ask("op@example.gov.vn")
    unknown = ask("nobody@example.gov.vn")
    assert known == unknown and known[0] == 302
    assert "sent 1" in dispatch(cli)
    assert len(smtp.received) == 1 and smtp.received[0].rcpt_tos == ["op@example.gov.vn"]
    link = link_from(smtp.received[0])
    assert ask("op@example.gov.vn") == known  # within the cooldown: nothing new replaces the link
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert set_password_through(app.test_client(), link).status_code == 302
    login(app.test_client(), "op@example.gov.vn", NEW_PASSWORD)


def test_forgot_password_is_rate_limited(client, make_user):
    token = csrf_from(client.get("/password/forgot").get_data(as_text=True))
    codes = [client.post("/password/forgot", data={"email": "x@example.gov.vn", "csrf_token": token}).status_code
             for _ in range(11)]
    assert codes == [302] * 10 + [429]


def test_admin_sends_a_new_link_through_the_api(client, app, admin, make_user, cli, smtp):
    make_user("kh@example.gov.vn", "coordinator", "56")
    kh = user_id(app, "kh@example.gov.vn")
    response = client.post(f"/api/v1/users/{kh}/password-link", headers=admin)
    assert response.status_code == 202
    assert response.get_json()["sent_to"] == "kh@example.gov.vn" and response.get_json()["purpose"] == "reset"
    dispatch(cli)
    link = link_from(smtp.to("kh@example.gov.vn")[0])
    assert set_password_through(app.test_client(), link).status_code == 302
    login(app.test_client(), "kh@example.gov.vn", NEW_PASSWORD)
    assert client.patch(f"/api/v1/users/{kh}", json={"active": False}, headers=admin).status_code == 200
    refused = client.post(f"/api/v1/users/{kh}/password-link", headers=admin)
    assert refused.status_code == 422 and refused.get_json()["error"]["details"][0]["field"] == "active"


# --- disabling ends sessions and tokens at once ---------------------------------------------------

def test_disabling_revokes_a_live_session_and_a_bearer_token_at_once(app, client, admin, make_user, token_for):
    from coordinator.auth.models import ApiToken
    from coordinator.extensions import db

    make_user("kh@example.gov.vn", "coordinator", "56")
    kh = user_id(app, "kh@example.gov.vn")
    bearer = token_for("kh@example.gov.vn")
    browser = app.test_client()
    page = browser.get("/login")
    browser.post("/login", data={"email": "kh@example.gov.vn", "password": PASSWORD, "remember": "y",
                                 "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert browser.get("/events/").status_code == 200
    assert client.get("/api/v1/events", headers=bearer).status_code == 200

    assert client.patch(f"/api/v1/users/{kh}", json={"active": False}, headers=admin).status_code == 200
    assert browser.get("/events/").status_code == 302  # the very next request: signed out
    assert browser.get("/api/v1/events").status_code == 401
    assert client.get("/api/v1/events", headers=bearer).status_code == 401
    with app.app_context():
        assert all(t.revoked_at is not None for t in db.session.scalars(select(ApiToken).where(ApiToken.user_id == kh)))
    disabled = [d for a, oid, d in audit_actions(app) if a == "user.disable" and oid == str(kh)]
    assert disabled and disabled[0]["tokens_revoked"] == 1

    # Enabling again revives neither the old cookie (session or remember-me) nor the token.
    assert client.patch(f"/api/v1/users/{kh}", json={"active": True}, headers=admin).status_code == 200
    assert browser.get("/events/").status_code == 302
    assert client.get("/api/v1/events", headers=bearer).status_code == 401
    login(app.test_client(), "kh@example.gov.vn")
    assert "user.enable" in [a for a, oid, _ in audit_actions(app) if oid == str(kh)]


def test_sessions_from_before_epochs_still_work_until_the_first_revocation(app, make_user):
    """A cookie written before this release holds the bare user id: accepted at epoch 0 only."""
    from coordinator.auth.services import get_user_by_email, revoke_access, user_for_session
    from coordinator.extensions import db

    make_user("op@example.gov.vn", "operator")
    with app.app_context():
        user = get_user_by_email("op@example.gov.vn")
        assert user_for_session(str(user.id)) is user and user_for_session(f"{user.id}:0") is user
        revoke_access(user)
        db.session.commit()
        assert user_for_session(str(user.id)) is None and user_for_session(f"{user.id}:0") is None
        assert user_for_session(f"{user.id}:1") is user
        assert user_for_session("garbage") is None and user_for_session("1:x") is None


# --- the import --------------------------------------------------------------------------------------

def xlsx(rows) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(client, headers, name: str, data: bytes):
    return client.post("/api/v1/users/import", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name)})


def count_users(app) -> int:
    from coordinator.auth.models import User
    from coordinator.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def test_import_is_all_or_nothing_with_every_row_error(client, app, organizer, make_user):
    make_user("admin@example.gov.vn", "admin")
    csv = ("Email,Họ và tên,Vai trò,Mã đơn vị,Cấu trúc\r\n"
           "ok@example.gov.vn,Người Tốt,Điều phối,56,2024\r\n"  # row 2: fine, but not saved either
           "not-an-email,A,Trực kỹ thuật,,\r\n"  # row 3
           "b@example.gov.vn,B,thủ trưởng,,\r\n"  # row 4: unknown role
           "c@example.gov.vn,C,Điều phối,,\r\n"  # row 5: a coordinator without unit
           "d@example.gov.vn,D,dieu phoi,99999,2024\r\n"  # row 6: unknown unit
           "OK@example.gov.vn,Again,Trực kỹ thuật,,\r\n"  # row 7: twice in the file
           "e@example.gov.vn,E,Tổ chức,,\r\n"  # row 8: an organizer may not create organizers
           "admin@example.gov.vn,,Trực kỹ thuật,,\r\n"  # row 9: nor change an admin
           "f@example.gov.vn,F,Trực kỹ thuật,,1999\r\n").encode()  # row 10: unknown structure
    before = count_users(app)
    response = upload(client, organizer, "tai-khoan.csv", csv)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    found = {(d["row"], d["column"]) for d in error["details"]}
    assert found == {(3, "Email"), (4, "Vai trò"), (5, "Mã đơn vị"), (6, "Mã đơn vị"), (7, "Email"),
                     (8, "Vai trò"), (9, "Vai trò"), (10, "Cấu trúc")}, error["details"]
    assert all(d["message"] for d in error["details"])
    assert count_users(app) == before

    missing = upload(client, organizer, "x.csv", b"Email,Name\r\na@example.gov.vn,A\r\n").get_json()["error"]
    assert missing["details"] == [{"row": 1, "column": "Vai trò", "message": missing["details"][0]["message"]}]
    assert upload(client, organizer, "x.xls", b"whatever").status_code == 422
    assert upload(client, organizer, "x.xlsx", b"not a zip").status_code == 422
    empty = client.post("/api/v1/users/import", headers=organizer, content_type="multipart/form-data", data={})
    assert empty.status_code == 422 and empty.get_json()["error"]["details"][0]["row"] is None


def test_import_creates_updates_and_is_idempotent(client, app, admin, make_user, cli, smtp):
    from coordinator.outbox.models import OutboxMessage
    from coordinator.extensions import db

    make_user("known@example.gov.vn", "operator")
    rows = [
        ("STT", "Thư điện tử", "Họ tên", "VAI TRÒ", "Mã đơn vị", "Cấu trúc"),
        (1, "Le.C@KhanhHoa.example.gov.vn", "Lê Văn C", "Điều phối", "56", "2024"),
        (2, "pham.d@example.gov.vn", "Phạm Thị D", "truc ky thuat", None, None),
        (3, "hoang.e@example.gov.vn", None, "Tổ chức", None, None),
        (None, None, None, None, None, None),  # an empty row is skipped
        (5, "known@example.gov.vn", "Đã có", "Trực kỹ thuật", None, None),
    ]
    response = upload(client, admin, "danh-sach.xlsx", xlsx(rows))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"created": 3, "updated": 1, "unchanged": 0}
    users = {u["email"]: u for u in client.get("/api/v1/users", headers=admin).get_json()["items"]}
    assert (users["le.c@khanhhoa.example.gov.vn"]["role"], users["le.c@khanhhoa.example.gov.vn"]["unit_code"]) == (
        "coordinator", "56")
    assert users["hoang.e@example.gov.vn"]["name"] == "hoang.e" and users["hoang.e@example.gov.vn"]["role"] == "organizer"
    assert users["known@example.gov.vn"]["name"] == "Đã có"
    assert "sent 3" in dispatch(cli)  # one set-password link per created account
    assert {r.rcpt_tos[0] for r in smtp.received} == {"le.c@khanhhoa.example.gov.vn", "pham.d@example.gov.vn",
                                                      "hoang.e@example.gov.vn"}

    # The same file again: nothing changes, nothing is mailed.
    again = upload(client, admin, "danh-sach.xlsx", xlsx(rows))
    assert again.get_json() == {"created": 0, "updated": 0, "unchanged": 4}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 3
    # As CSV with English headers and roles, one change: one update.
    csv = ("email,name,role,unit code,structure\r\n"
           "le.c@khanhhoa.example.gov.vn,Lê Văn C,coordinator,568,2024\r\n"
           "pham.d@example.gov.vn,Phạm Thị D,operator,,\r\n").encode()
    assert upload(client, admin, "x.csv", csv).get_json() == {"created": 0, "updated": 1, "unchanged": 1}
    imports = [d for a, _, d in audit_actions(app) if a == "user.import"]
    assert [(d["created"], d["updated"], d["unchanged"]) for d in imports] == [(3, 1, 0), (0, 0, 4), (0, 1, 1)]
    assert imports[0]["filename"] == "danh-sach.xlsx"
    updates = [d for a, _, d in audit_actions(app) if a == "user.update" and d.get("via") == "import"]
    assert updates[-1]["changes"] == {"unit": ["2024:56", "2024:568"]}


# --- the CLI: no password on the command line --------------------------------------------------------

def test_cli_create_without_password_prints_a_working_link(cli, app, smtp):
    result = cli("users", "create", "--email", "kh@example.gov.vn", "--role", "coordinator", "--unit", "56",
                 "--structure", "2024")
    assert result.exit_code == 0, result.output
    (link,) = LINK_RE.findall(result.output)
    assert "queued by email" in result.output
    dispatch(cli)
    assert link_from(smtp.to("kh@example.gov.vn")[0]) == link  # the mail carries the same link
    assert set_password_through(app.test_client(), link).status_code == 302
    login(app.test_client(), "kh@example.gov.vn", NEW_PASSWORD)

    quiet = cli("users", "create", "--email", "op@example.gov.vn", "--role", "operator", "--no-mail")
    assert "not mailed" in quiet.output and len(LINK_RE.findall(quiet.output)) == 1


def test_cli_password_from_stdin_and_the_warning_for_password_on_the_command_line(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "op@example.gov.vn", "--role", "operator",
                                 "--password-stdin"], input="mat-khau-tu-stdin\n")
    assert result.exit_code == 0, result.output
    assert "mat-khau-tu-stdin" not in result.output and not LINK_RE.findall(result.output)
    login(app.test_client(), "op@example.gov.vn", "mat-khau-tu-stdin")

    legacy = runner.invoke(args=["users", "create", "--email", "old@example.gov.vn", "--password", "long-enough-1",
                                 "--role", "operator"])
    assert legacy.exit_code == 0 and "visible to other users" in legacy.output
    login(app.test_client(), "old@example.gov.vn", "long-enough-1")

    assert runner.invoke(args=["users", "create", "--email", "x@example.gov.vn", "--role", "operator",
                               "--password-stdin"], input="\n").exit_code != 0
    assert runner.invoke(args=["users", "create", "--email", "x@example.gov.vn", "--role", "operator",
                               "--password-stdin", "--password", "long-enough-1"], input="a\n").exit_code != 0

    changed = runner.invoke(args=["users", "password", "op@example.gov.vn", "--password-stdin"],
                            input="mat-khau-thu-hai\n")
    assert changed.exit_code == 0, changed.output
    login(app.test_client(), "op@example.gov.vn", "mat-khau-thu-hai")
    assert runner.invoke(args=["users", "password", "op@example.gov.vn"]).exit_code != 0  # no terminal to prompt on
    assert "password_set" in " ".join(a for a, _, _ in audit_actions(app))
    assert not any("mat-khau" in json.dumps(d) for _, _, d in audit_actions(app))


def test_cli_link_token_and_demo_keep_working(cli, app, make_user):
    make_user("op@example.gov.vn", "operator")
    link = cli("users", "link", "op@example.gov.vn", "--no-mail")
    assert link.exit_code == 0 and len(LINK_RE.findall(link.output)) == 1
    assert cli("users", "link", "nobody@example.gov.vn").exit_code == 1
    token = cli("users", "token", "op@example.gov.vn").output.strip()
    assert token.startswith("vcc_")
    demo = cli("users", "demo")
    assert demo.exit_code == 0 and "admin@demo.gov.vn" in demo.output
    assert cli("users", "demo").exit_code == 0  # idempotent
    assert cli("users", "disable", "op@example.gov.vn").exit_code == 0
    assert app.test_client().get("/api/v1/events", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert cli("users", "enable", "op@example.gov.vn").exit_code == 0


def test_cli_prompts_for_the_password_on_a_terminal(app, database):
    """A real `flask users create` on a pseudo-terminal: the password is asked twice, not echoed."""
    import os
    import pty
    import select as select_fd
    import subprocess
    import sys

    from factories import ROOT

    master, slave = pty.openpty()
    env = {**os.environ, "DATABASE_URL": database.url, "SECRET_KEY": "test-secret-key"}
    # A new session: no controlling terminal but this one, so getpass reads the pty.
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "users", "create", "--email",
                             "tty@example.gov.vn", "--role", "operator"], stdin=slave, stdout=slave, stderr=slave,
                            cwd=ROOT, env=env, start_new_session=True)
    os.close(slave)
    seen = b""

    def wait_for(marker: bytes) -> None:
        nonlocal seen
        while marker not in seen:
            ready, _, _ = select_fd.select([master], [], [], 30)
            assert ready, f"no {marker!r} in {seen!r}"
            try:
                chunk = os.read(master, 1024)
            except OSError:
                chunk = b""
            assert chunk, f"ended without {marker!r}: {seen!r}"
            seen += chunk

    try:
        wait_for(b"Password:")
        os.write(master, b"mat-khau-terminal\n")
        wait_for(b"Repeat for confirmation:")
        os.write(master, b"mat-khau-terminal\n")
        wait_for(b"created operator tty@example.gov.vn")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert b"mat-khau-terminal" not in seen and b"/password/" not in seen
    login(app.test_client(), "tty@example.gov.vn", "mat-khau-terminal")
