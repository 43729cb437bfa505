"""Honest answers under faults (issue 14, point 10).

- The database does not answer: 503 with Retry-After, "nothing was saved, try again" (JSON for the
  API, a translated page otherwise), the transaction rolled back — checked for real: PostgreSQL
  behind a TCP proxy that is cut in the middle of an INSERT or stopped altogether, SQLite locked by
  another writer, a connection pool with no free connection; after recovery nothing was saved.
- A body over MAX_CONTENT_LENGTH: 413 in the API's JSON shape and as a page, in Vietnamese by
  default, naming the limit in MB.
- Foreign numbers: kept, typed "foreign" (not "mobile"), and skipped by every SMS fan-out with the
  reason; an SMS queued to one anyway fails unsent with the reason.
"""
from __future__ import annotations

import io
import re
import sqlite3
from html import unescape

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from factories import csrf_from, form_values, login
from fakes.tcp_proxy import TcpProxy

SLUG = "nd49-2024"
EN = {"Accept-Language": "en"}
NOTHING_SAVED = ("The database is not answering at the moment. Nothing was saved: please try again in "
                 "a minute.")
TOO_LARGE = ("The file is larger than the %(mb)s MB limit. Nothing was saved: choose a smaller file "
             "(or split it) and send it again.")
FOREIGN = "+1 650 253 0000"  # a valid US number
FOREIGN_E164 = "+16502530000"


def tr(app, message: str, lang: str = "vi", **params) -> str:
    """`message` as the reader sees it in `lang` (the catalogue's words once translated)."""
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale(lang):
        return gettext(message, **params)


@pytest.fixture()
def org(make_user, token_for, nd49):
    make_user("org@example.gov.vn", "organizer")
    return token_for("org@example.gov.vn")


def endpoint_body(**extra) -> dict:
    return {"unit_code": "56", "name": "Phòng họp trực tuyến Sở TT&TT", "protocol": "sip",
            "dial": "diemcau-56@10.56.0.10",
            "contacts": [{"name": "Đỗ Thị Hồng Ánh", "phone": "0905 111 222", "email": "hong.anh@khanhhoa.example.gov.vn",
                          "role": "technical"}], **extra}


def stored(app) -> dict[str, int]:
    """What the database holds of what a registration writes (read through the test's own app)."""
    from coordinator.audit.models import AuditEntry
    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                for model in (Endpoint, Contact, AuditEntry, OutboxMessage)}


@pytest.fixture()
def other_app(app, database):
    """Apps of their own on the test database (another URL, other pool settings); disposed after."""
    from coordinator import create_app
    from coordinator.extensions import db

    made = []

    def make(url: str | None = None, **config):
        other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url or database.url,
                            "MAIL_FILE_DIR": app.config["MAIL_FILE_DIR"], **config})
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


def assert_503_json(response, app, lang="vi"):
    assert response.status_code == 503, response.get_data(as_text=True)[:1000]
    assert response.headers["Retry-After"] == "30"
    body = response.get_json()
    assert body["error"]["code"] == "unavailable"
    assert body["error"]["message"] == tr(app, NOTHING_SAVED, lang)
    assert body["error"]["details"]["saved"] is False


# --- the database does not answer ---------------------------------------------------------------

@pytest.fixture()
def pg_proxy(database):
    if not database.is_postgres:
        pytest.skip("PostgreSQL behind a proxy: run with TEST_DATABASE_URL")
    url = make_url(database.url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    # sslmode=disable: the proxy must see the statements go by to cut one.
    proxied = url.set(host="127.0.0.1", port=proxy.port).update_query_dict({"sslmode": "disable"})
    yield proxy, proxied.render_as_string(hide_password=False)
    proxy.stop()


def test_postgresql_lost_in_the_middle_of_a_registration_saves_nothing(app, org, pg_proxy, other_app):
    proxy, url = pg_proxy
    proxied = other_app(url)
    client = proxied.test_client()
    assert client.get(f"/api/v1/events/{SLUG}", headers=org).status_code == 200
    before = stored(app)

    proxy.cut_on(b"INSERT INTO endpoints")  # the server goes away while the endpoint is being written
    response = client.post(f"/api/v1/events/{SLUG}/endpoints", json=endpoint_body(), headers=org)
    assert proxy.cuts == 1
    assert_503_json(response, app)
    assert stored(app) == before  # rolled back: no endpoint, contact, audit entry or invitation

    # The database is reachable again (a new connection): the same request now succeeds, once.
    assert client.get(f"/api/v1/events/{SLUG}/endpoints", headers=org).get_json()["total"] == 0
    response = client.post(f"/api/v1/events/{SLUG}/endpoints", json=endpoint_body(), headers=org)
    assert response.status_code == 201, response.get_json()
    assert stored(app)["endpoints"] == before["endpoints"] + 1


def test_postgresql_down_gives_503_pages_and_api_then_recovers(app, org, pg_proxy, other_app, make_user):
    proxy, url = pg_proxy
    proxied = other_app(url)
    browser = proxied.test_client()
    make_user("organizer@example.gov.vn", "organizer")
    login(browser, "organizer@example.gov.vn")
    api = proxied.test_client()
    assert browser.get(f"/events/{SLUG}").status_code == 200
    before = stored(app)

    proxy.stop()  # the database server is gone: connections dropped, the port refuses
    response = api.post(f"/api/v1/events/{SLUG}/endpoints", json=endpoint_body(), headers=org)
    assert_503_json(response, app)
    assert_503_json(api.get(f"/api/v1/events/{SLUG}", headers={**org, **EN}), app, "en")
    page = browser.get(f"/events/{SLUG}")
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    html = unescape(page.get_data(as_text=True))
    assert 'id="unavailable"' in html and tr(app, NOTHING_SAVED) in html and '<html lang="vi">' in html
    health = api.get("/healthz")
    assert health.status_code == 503 and health.get_json()["error"]["code"] == "unavailable"

    proxy.start()  # back on the same port
    assert browser.get(f"/events/{SLUG}").status_code == 200  # the session survived the outage
    assert stored(app) == before
    assert api.post(f"/api/v1/events/{SLUG}/endpoints", json=endpoint_body(), headers=org).status_code == 201


SAVED_THEN_LOST = ("The database stopped answering after your change was saved, so this page could not be shown. "
                   "Reload the page to check, and do not enter the change again.")


def test_postgresql_lost_right_after_the_commit_says_the_change_was_saved(app, org, pg_proxy, other_app):
    """The registration is committed, then the database goes away while the answer is being built:
    the reader must not be told that nothing was saved (and enter it twice)."""
    from sqlalchemy.orm import Session

    from coordinator.endpoints.models import Endpoint

    proxy, url = pg_proxy
    client = other_app(url).test_client()
    inserted = []

    def note(mapper, connection, target):
        inserted.append(target)

    def arm(session):  # the commit that wrote the endpoint: the next statement finds no server
        if inserted:
            proxy.cut_on(b"SELECT")

    event.listen(Endpoint, "after_insert", note)
    event.listen(Session, "after_commit", arm)
    try:
        response = client.post(f"/api/v1/events/{SLUG}/endpoints", json=endpoint_body(), headers=org)
    finally:
        event.remove(Session, "after_commit", arm)
        event.remove(Endpoint, "after_insert", note)
    assert proxy.cuts == 1 and response.status_code == 503, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert error["details"]["saved"] is True and error["message"] == tr(app, SAVED_THEN_LOST)
    assert stored(app)["endpoints"] == 1  # it was indeed saved


def test_the_answer_says_saved_only_after_a_change_was_committed(app, make_user):
    """A commit that records no change (a sign-in session's last-seen time) does not count."""
    from sqlalchemy.exc import OperationalError

    from coordinator.audit import services as audit
    from coordinator.auth.models import User
    from coordinator.extensions import db
    from coordinator.web.faults import database_unavailable

    user_id = make_user("org@example.gov.vn", "organizer")
    lost = OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
    with app.test_request_context("/api/v1/events"):
        db.session.get(User, user_id).display_name = "Nguyễn Văn A"  # housekeeping: no audit entry
        db.session.commit()
        body, status, headers = database_unavailable(lost)
        assert (status, body["error"]["details"]["saved"]) == (503, False)
    with app.test_request_context("/api/v1/events"):
        audit.record("event.publish", "event", SLUG, actor_label="test")
        db.session.commit()
        body, status, headers = database_unavailable(lost)
        assert (status, body["error"]["details"]["saved"]) == (503, True)
        assert body["error"]["message"] == tr(app, SAVED_THEN_LOST) and headers["Retry-After"] == "30"
    with app.test_request_context("/api/v1/events"):  # a rolled-back change is no change
        audit.record("event.publish", "event", SLUG, actor_label="test")
        db.session.flush()
        db.session.rollback()
        db.session.commit()
        assert database_unavailable(lost)[0]["error"]["details"]["saved"] is False


def test_sqlite_locked_by_another_writer_saves_nothing_and_says_so(app, org, database, other_app):
    if database.is_postgres:
        pytest.skip("SQLite's write lock")
    from coordinator.extensions import db

    impatient = other_app()
    with impatient.app_context():
        # Registered after the app's own listener (busy_timeout 30 s): a lock held longer than
        # this is what makes the writer give up; 30 s would make the test slow, not different.
        event.listen(db.engine, "connect", lambda conn, record: conn.execute("PRAGMA busy_timeout=300"))
        db.engine.dispose()
    client = impatient.test_client()
    assert client.get(f"/api/v1/events/{SLUG}/endpoints", headers=org).status_code == 200
    before = stored(app)

    holder = sqlite3.connect(make_url(database.url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process (an import, the scheduler) holds the write lock
    try:
        response = client.post(f"/api/v1/events/{SLUG}/endpoints", json=endpoint_body(), headers=org)
        assert_503_json(response, app)
        assert "database is locked" not in response.get_data(as_text=True)  # the reader gets our words
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert stored(app) == before
    assert client.post(f"/api/v1/events/{SLUG}/endpoints", json=endpoint_body(), headers=org).status_code == 201


def test_no_free_connection_in_the_pool_is_a_503_too(app, org, other_app):
    from coordinator.extensions import db

    small = other_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.3,
                                                 "pool_pre_ping": True})
    client = small.test_client()
    with small.app_context():
        held = db.engine.connect()  # every connection of the pool is busy (a long report, say)
        try:
            assert_503_json(client.get(f"/api/v1/events/{SLUG}", headers=org), app)
        finally:
            held.close()
    assert client.get(f"/api/v1/events/{SLUG}", headers=org).status_code == 200


def test_a_bug_in_a_statement_is_not_called_an_outage():
    from sqlalchemy.exc import OperationalError

    from coordinator.web.faults import is_unavailable

    assert is_unavailable(OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked")))
    assert not is_unavailable(OperationalError("SELECT …", {}, sqlite3.OperationalError("no such table: nope")))
    assert not is_unavailable(ValueError("no database involved"))


# --- a body over the size limit ----------------------------------------------------------------------

def test_an_upload_over_the_limit_gets_the_api_error_shape_in_vietnamese(app, client, org, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024 * 1024)
    big = io.BytesIO(b"x" * (1024 * 1024 + 512 * 1024))
    response = client.post(f"/api/v1/events/{SLUG}/endpoints/import", headers=org,
                           data={"file": (big, "diem-cau.xlsx")}, content_type="multipart/form-data")
    assert response.status_code == 413
    body = response.get_json()
    assert body["error"]["code"] == "too_large" and body["error"]["details"] == {"max_bytes": 1024 * 1024}
    assert body["error"]["message"] == tr(app, TOO_LARGE, mb="1")
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 5 * 1024 * 1024 // 2)
    response = client.post(f"/api/v1/events/{SLUG}/endpoints", headers={**org, **EN},
                           json={**endpoint_body(), "address": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert response.get_json()["error"]["message"] == TOO_LARGE % {"mb": "2.5"}
    assert stored(app)["endpoints"] == 0


def test_a_form_upload_over_the_limit_gets_a_page_naming_the_limit(app, organizer_client, nd49, monkeypatch):
    page = organizer_client.get(f"/events/{SLUG}/import").get_data(as_text=True)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2 * 1024 * 1024)
    response = organizer_client.post(f"/events/{SLUG}/import", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page), "file": (io.BytesIO(b"x" * (3 * 1024 * 1024)), "diem-cau.xlsx")})
    assert response.status_code == 413
    html = unescape(response.get_data(as_text=True))
    assert tr(app, TOO_LARGE, mb="2") in html
    assert "<h1>413</h1>" in html


# --- foreign numbers -------------------------------------------------------------------------------------

FOREIGN_NOTE = ("%(phone)s is not a Vietnamese number: it is kept, but the Vietnamese SMS sender cannot "
                "reach it, so it gets no SMS (reminders, incidents); call it or use email")


def register_with_a_foreign_number(client, org):
    body = endpoint_body(contacts=[
        {"name": "Nguyễn Văn Việt Kiều", "phone": FOREIGN, "email": "viet.kieu@example.com", "role": "technical"},
        {"name": "Đỗ Thị Hồng Ánh", "phone": "0905 111 222", "role": "technical"}])
    response = client.post(f"/api/v1/events/{SLUG}/endpoints", json=body, headers=org)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_foreign_number_is_kept_and_flagged_not_mobile(app, client, org):
    body = register_with_a_foreign_number(client, org)
    contacts = {c["phone"]: c for c in body["contacts"]}
    foreign = contacts[FOREIGN_E164]
    assert foreign["phone_type"] == "foreign" and foreign["sms_reachable"] is False
    assert foreign["phone_warning"] == tr(app, FOREIGN_NOTE, phone="+1 650-253-0000")
    vietnamese = contacts["+84905111222"]
    assert vietnamese["phone_type"] == "mobile" and vietnamese["sms_reachable"] is True
    assert vietnamese["phone_warning"] is None


def test_the_form_keeps_a_foreign_number_with_a_warning(app, client, make_user, nd49):
    make_user("kh@example.gov.vn", "coordinator", "56")
    login(client, "kh@example.gov.vn")
    page = client.get(f"/events/{SLUG}/units/568/endpoint", headers=EN).get_data(as_text=True)
    form = form_values(page, "")
    form.update({"name": "UBND TP Nha Trang", "contacts-0-role": "chair", "contacts-0-name": "Trần Văn Chủ",
                 "contacts-0-phone": "0913 123 456", "contacts-1-role": "technical",
                 "contacts-1-name": "Kỹ thuật viên ở nước ngoài", "contacts-1-phone": FOREIGN})
    response = client.post(f"/events/{SLUG}/units/568/endpoint", data=form, headers=EN, follow_redirects=True)
    assert response.status_code == 200
    html = unescape(response.get_data(as_text=True))
    assert re.search(r'class="flash flash-warning"[^>]*>\s*' + re.escape(FOREIGN_NOTE % {"phone": "+1 650-253-0000"}),
                     html), html[:3000]
    # The form shows it as it was typed, with its country code (not as a national number).
    page = client.get(f"/events/{SLUG}/units/568/endpoint").get_data(as_text=True)
    assert form_values(page, "")["contacts-1-phone"] == "+1 650-253-0000"


def test_sms_reminders_skip_a_foreign_number_with_the_reason(app, cli, client, org, organizer_client):
    from coordinator.events.services import get_event, publish

    register_with_a_foreign_number(client, org)
    with app.app_context():
        publish(get_event(SLUG))
    result = cli("reminders", "due", "--at", "2024-06-26T14:00:30+07:00")  # the technical contacts' −1 day SMS
    assert result.exit_code == 0 and "sent: 1 queued, 1 unreachable" in result.output, result.output
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        assert sorted(db.session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.channel == "sms"))) \
            == ["+84905111222"]
    # The organizer sees who is skipped and why, on the reminder's page.
    from coordinator.events.models import ReminderRule

    with app.app_context():
        rule_id = db.session.scalar(select(ReminderRule.id).where(ReminderRule.anchor == "session:connectivity_test",
                                                                  ReminderRule.channel == "sms",
                                                                  ReminderRule.audience == "technical"))
    html = unescape(organizer_client.get(f"/events/{SLUG}/reminders/{rule_id}").get_data(as_text=True))
    # (The page had shown "0 recipients" and no list to anyone signed in: base.html's `who` hid the audience.)
    assert tr(app, "%(n)s recipients would receive it now.", n=1) in html
    row = re.search(r'<tr data-reason="foreign_number">(.*?)</tr>', html, re.S)
    assert row and FOREIGN_E164 in row.group(1)
    assert tr(app, "foreign number: the Vietnamese SMS sender cannot reach it") in row.group(1)


def test_a_foreign_number_stored_as_mobile_before_is_still_skipped(app, cli, client, org):
    """Contacts saved before foreign numbers were told apart carry the type "mobile"."""
    from sqlalchemy import update

    from coordinator.endpoints.models import Contact
    from coordinator.events.services import get_event, publish
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    register_with_a_foreign_number(client, org)
    with app.app_context():
        db.session.execute(update(Contact).where(Contact.phone == FOREIGN_E164).values(phone_type="mobile"))
        db.session.commit()
        publish(get_event(SLUG))
    result = cli("reminders", "due", "--at", "2024-06-26T14:00:30+07:00")
    assert "sent: 1 queued, 1 unreachable" in result.output, result.output
    with app.app_context():
        assert FOREIGN_E164 not in db.session.scalars(select(OutboxMessage.recipient)).all()


def test_an_sms_queued_to_a_foreign_number_fails_unsent_with_the_reason(app, client, org):
    """The last guard, in the SMS backend: whatever queued it, it is not sent."""
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.outbox import services as outbox
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        event_id = get_event(SLUG).id
        outbox.enqueue([{"key": f"test:{FOREIGN_E164}", "channel": "sms", "kind": "reminder", "event_id": event_id,
                         "recipient": FOREIGN_E164, "payload": {"body": "Kiem tra ket noi luc 14:00", "lang": "vi"}}])
        db.session.commit()
        stats = outbox.dispatch_due(channels=["sms"])
        assert (stats.sent, stats.failed) == (0, 1)
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == FOREIGN_E164))
        assert row.status == "failed" and "foreign number" in row.last_error
    body = client.get(f"/api/v1/events/{SLUG}/messages?channel=sms", headers=org).get_json()
    assert body["items"][0]["last_error_kind"] == "foreign"
