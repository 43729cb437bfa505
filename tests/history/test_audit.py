"""The readable audit log: every recorded action as a sentence (Vietnamese and English), the /audit
page's filters and pagination, an endpoint's history, who may read it, and the number of queries.

Entries are made by the real services wherever a test can call them cheaply (events, endpoints,
reminder rules, deadlines, accounts, opt-outs); the others (incidents, reminder runs, documents,
imports, confirmations, units) are written with the exact shapes their services record, the
incidents through a bulk insert into `AuditEntry.__table__` as status/incidents.py does."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select

from factories import PASSWORD, ROOT, login
from test_audit_translations import T

SLUG = "nd49-2024"
EN = {"Accept-Language": "en-US,en;q=0.9"}
VI = {"Accept-Language": "vi"}
KH_PHONE = "+84905111222"
STOP_PHONE = "+84913999888"


# --- fixtures ------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def with_proposed_vietnamese(app):
    """The catalog's Vietnamese, with the proposed translations (test_audit_translations.T) for the
    msgids it does not have yet; restored afterwards."""
    from flask_babel import force_locale, get_translations

    with app.test_request_context(), force_locale("vi"):
        catalog = get_translations()._catalog
    added = {k: v for k, v in T.items() if not catalog.get(k)}
    catalog.update(added)
    yield
    for key in added:
        catalog.pop(key, None)


@pytest.fixture()
def world(app, nd49):
    """nd49 (created by the command line), an organizer "Nguyễn Văn A" who publishes it, registers
    Khánh Hòa's endpoint, edits it, changes reminders and deadlines, opts a number out; a
    coordinator account; and the entries other services write (incidents, runs, documents...)."""
    from coordinator.audit import services as audit
    from coordinator.audit.models import AuditEntry
    from coordinator.auth.services import create_user, issue_token, set_alert_sound
    from coordinator.deadlines.services import set_closed
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.extensions import db
    from coordinator.reminders import rules
    from coordinator.sms import services as sms
    from coordinator.units.services import get_unit

    with app.app_context():
        a = create_user("a@example.gov.vn", PASSWORD, "organizer", display_name="Nguyễn Văn A")
        event = get_event(SLUG)
        publish(event, actor=a)
        kh, hn = get_unit("2024", "56"), get_unit("2024", "01")
        values = endpoints.clean_endpoint({"name": "Hội trường Sở Khánh Hòa", "protocol": "sip", "dial": "kh@10.56.0.1",
                                           "contacts": [{"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "role": "technical"}]})
        kh_endpoint = endpoints.save_endpoint(event, kh, values, actor=a)
        endpoints.save_endpoint(event, kh, endpoints.clean_endpoint({**endpoints.as_input(kh_endpoint), "address": "Nha Trang"}),
                                actor=a, endpoint=kh_endpoint)
        hn_values = endpoints.clean_endpoint({"name": "Hội trường Sở Hà Nội", "protocol": "sip", "dial": "hn@10.1.0.1",
                                              "contacts": [{"name": "Trần Chủ Trì", "phone": "0913 222 333", "role": "chair"}]})
        hn_endpoint = endpoints.save_endpoint(event, hn, hn_values, actor=a)
        event = get_event(SLUG)
        main = event.session("main")
        move_session(event, "main", starts_at=main.starts_at + timedelta(hours=1), location="Hội trường Diên Hồng", actor=a)
        rule = rules.create_rule(event, {"anchor": "session:main", "offset_seconds": -3 * 3600, "channel": "sms",
                                         "audience": "technical", "template": "Nhắc: {event} lúc {local_time}"}, actor=a)
        rules.update_rule(rule, {"offset_seconds": -4 * 3600, "active": False}, actor=a)
        doomed = rules.create_rule(event, {"anchor": "session:main", "offset_seconds": -600, "channel": "email",
                                           "audience": "chairs", "template": "Sắp họp"}, actor=a)
        rules.delete_rule(doomed, actor=a)
        deadline = event.deadlines[0]
        set_closed(deadline, True, actor=a)
        set_closed(deadline, False, actor=a)
        sms.opt_out("+84913123456", "organizer", note="số cũ", actor=a)
        sms.opt_out(STOP_PHONE, "sms", note="STOP", actor_label=STOP_PHONE)
        sms.opt_in(STOP_PHONE, actor_label=STOP_PHONE)
        db.session.commit()
        b = create_user("b@example.gov.vn", PASSWORD, "coordinator", unit_code="56", display_name="Trần Thị B", actor=a)
        issue_token(b, "máy chủ tỉnh")
        set_alert_sound(a, True)  # the dashboards' alert for new incidents, turned on
        # The accounts service (in progress on another branch) records these:
        audit.record("user.update", "user", b.id, actor=a, email=b.email, via="page", changes={
            "name": ["Trần Thị B", "Trần Thị Bích"], "role": ["coordinator", "operator"], "unit": ["2024:56", None]})
        audit.record("user.disable", "user", b.id, actor=a, email=b.email, via="page", tokens_revoked=1, sessions="revoked")
        audit.record("user.enable", "user", b.id, actor=a, email=b.email, via="page")
        from coordinator.accounts.accounts import end_sessions

        end_sessions(a, b, via="page")
        audit.record("user.import", "user", None, actor=a, filename="can-bo.xlsx", rows=120, created=100, updated=5,
                     unchanged=15)
        audit.record("user.password_link", "user", b.id, actor=a, purpose="set", mailed=True,
                     expires_at="2024-06-30T10:00:00+00:00")
        audit.record("user.password_set", "user", b.id, actor=b, via="link:set")

        # What other services write, in their shapes.
        slug, kid, hid = event.slug, kh_endpoint.id, hn_endpoint.id
        existing_rule = event.reminder_rules[0]
        audit.record("reminder.fire", "reminder_rule", existing_rule.id, actor_label="scheduler",
                     version="20240625T0130Z-259200", queued=125, unreachable=3)
        audit.record("reminder.skip", "reminder_rule", existing_rule.id, actor_label="scheduler", reason="anchor_passed")
        audit.record("session.confirm", "event", slug, actor_label="link", session="connectivity_test", endpoints=[kid])
        audit.record("endpoints.import", "event", event.id, actor=a, event=slug, filename="diem-cau-khanh-hoa.xlsx",
                     endpoints={"created": 12, "updated": 3, "unchanged": 40}, contacts={"created": 30, "updated": 1, "unchanged": 80})
        audit.record("document.upload", "document_file", 1, actor=b, event=slug, deadline=deadline.id, unit="56", slot=0,
                     filename="Danh sách đầu mối.pdf", size=48213, sha256="ab" * 32, late=True)
        audit.record("document.replace", "document_file", 1, actor=b, event=slug, deadline=deadline.id, unit="56", slot=0,
                     filename="Danh sách đầu mối (bản 2).pdf", size=2_400_000, sha256="cd" * 32, late=False)
        audit.record("document.delete", "document_file", 1, actor=b, event=slug, deadline=deadline.id, unit="56", slot=0,
                     filename="Danh sách đầu mối (bản 2).pdf", sha256="cd" * 32)
        audit.record("document.contact", "deadline", deadline.id, actor=b, event=slug, unit="56", name="Lê Văn Mối",
                     phone="+84905333444")
        audit.record("event.copy_registrations", "event", event.id, actor=a, event=slug, source="nd49-2024", copied=3,
                     contacts=4, review=2)
        audit.record("units.load", "unit_structure", "2025", actor_label="cli", inserted=3321, updated=0)
        audit.record("broadcast.send", "broadcast", 1, actor=a, event=slug, session="connectivity_test", unit="56",
                     filter={"unit": "56", "tier": None, "states": ["failed"], "confirmed": None, "roles": ["technical"]},
                     template="{event}: điểm cầu {endpoint} chưa kết nối", strip_diacritics=False, recipients=120,
                     unreachable=4, segments_total=240, encoding="UCS-2")
        audit.record("broadcast.stop", "broadcast", 1, actor=a, event=slug, unit="56", dropped=80, sent=40)
        audit.record("event.finish", "event", slug, actor_label="scheduler")
        db.session.commit()
        now = datetime.now(timezone.utc)
        db.session.execute(insert(AuditEntry.__table__), [
            {"at": now, "actor_id": None, "actor_label": "probe", "action": "incident.open", "object_type": "endpoint",
             "object_id": str(kid), "details": {"incident": 41, "session": "connectivity_test",
                                                "detail": "SIP OPTIONS: no answer after 3 s", "layer": "timeout", "notified": 2}},
            {"at": now, "actor_id": None, "actor_label": "operator", "action": "incident.open", "object_type": "endpoint",
             "object_id": str(hid), "details": {"incident": 42, "session": "main", "detail": "", "layer": "", "notified": 0}}])
        db.session.execute(insert(AuditEntry.__table__), [
            {"at": now, "actor_id": None, "actor_label": "escalation", "action": "incident.digest", "object_type": "event",
             "object_id": slug, "details": {"scope": "56", "session": "connectivity_test", "incidents": 125, "recipients": 4}},
            {"at": now, "actor_id": None, "actor_label": "escalation", "action": "incident.digest", "object_type": "event",
             "object_id": slug, "details": {"scope": "national", "session": "main", "incidents": 1250, "recipients": 2}}])
        # The life of an incident (issue 16), on an endpoint of Hồ Chí Minh City no longer registered:
        # escalated, acknowledged, reassigned, noted, resolved.
        gone = 990001
        db.session.execute(insert(AuditEntry.__table__), [
            {"at": now, "actor_id": None, "actor_label": "escalation", "action": "incident.escalate",
             "object_type": "endpoint", "object_id": str(gone),
             "details": {"incident": 43, "session": "main", "event": slug, "level": "province", "recipients": 2,
                         "province": "79"}}])
        audit.record("incident.ack", "endpoint", gone, actor=a, incident=43, event=slug, unit="79", session="main",
                     owner=a.id, owner_label="Nguyễn Văn A")
        audit.record("incident.assign", "endpoint", gone, actor=a, incident=43, event=slug, unit="79", session="main",
                     owner=b.id, owner_label="Trần Thị B", previous=a.id)
        audit.record("incident.note", "endpoint", gone, actor=b, incident=43, event=slug, unit="79", session="main",
                     note=1, text="Đã gọi anh Hùng, đang khởi động lại codec")
        audit.record("incident.resolve", "endpoint", gone, actor=b, incident=43, event=slug, unit="79", session="main",
                     reason="Xã dự tại điểm cầu huyện", how="by_hand")
        db.session.commit()
        from coordinator.events.services import cancel

        endpoints.delete_endpoint(get_event(SLUG), db.session.get(type(kh_endpoint), kid), actor=a)
        cancel(get_event(SLUG), actor=a, reason="Bão số 3 đổ bộ")
        return {"a": a.id, "b": b.id, "kh": kid, "hn": hid, "rule": existing_rule.id, "deadline": deadline.id}


def _entries(app, action: str | None = None):
    from coordinator.audit.models import AuditEntry
    from coordinator.extensions import db

    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(db.session.scalars(stmt))


def said(app, action: str, locale: str) -> list[str]:
    """The sentences of every entry of `action`, oldest first, in `locale`."""
    from coordinator.history.sentences import describe_all

    with app.app_context():
        return describe_all(_entries(app, action), locale=locale)


def one(app, action: str, locale: str) -> str:
    found = said(app, action, locale)
    assert len(found) == 1, found
    return found[0]


# --- sentences ----------------------------------------------------------------------------------------

def test_the_cancellation_reads_as_the_issue_asks(app, world):
    assert one(app, "event.cancel", "vi") == (
        "Nguyễn Văn A đã hủy hội nghị “Hội nghị trực tuyến phổ biến Nghị định 49/2024/NĐ-CP” — lý do: Bão số 3 đổ bộ")
    assert one(app, "event.cancel", "en") == (
        "Nguyễn Văn A cancelled the event “Hội nghị trực tuyến phổ biến Nghị định 49/2024/NĐ-CP” — reason: Bão số 3 đổ bộ")


def test_event_family(app, world):
    title = "“Hội nghị trực tuyến phổ biến Nghị định 49/2024/NĐ-CP”"
    assert one(app, "event.create", "en") == f"The command line on the server created the event {title}"
    assert one(app, "event.create", "vi") == f"Dòng lệnh trên máy chủ đã tạo hội nghị {title}"
    assert one(app, "event.publish", "en") == f"Nguyễn Văn A published the event {title} (invitations queued: 0)"
    assert one(app, "event.publish", "vi") == f"Nguyễn Văn A đã công bố hội nghị {title} (thư mời chờ gửi: 0)"
    assert one(app, "event.finish", "en") == f"The scheduler marked the event {title} as finished"
    assert one(app, "event.finish", "vi") == f"Bộ lập lịch đã ghi nhận hội nghị {title} kết thúc"
    # before -> after, in the event's zone
    assert one(app, "session.move", "en") == (
        f"Nguyễn Văn A moved Main session of the event {title}: start: 28/06/2024 08:30 → 28/06/2024 09:30; "
        "place: — → Hội trường Diên Hồng")
    assert one(app, "session.move", "vi") == (
        f"Nguyễn Văn A đã dời Hội nghị chính thức của hội nghị {title}: bắt đầu: 28/06/2024 08:30 → 28/06/2024 09:30; "
        "địa điểm: — → Hội trường Diên Hồng")


def test_event_update_names_what_changed(app, world):
    from coordinator.events.plans import read_plan_file
    from coordinator.events.services import apply_plan

    with app.app_context():
        plan = read_plan_file(ROOT / "schedules" / "nd49-2024.toml")
        apply_plan(plan.model_copy(update={"short_title": "ND49"}), expected_slug=SLUG)
    # the plan file also puts back the main session the organizer moved, and drops the reminder added by hand
    assert one(app, "event.update", "en") == ("The command line on the server changed the event “ND49”: short title, "
                                              "session Main session, reminder for Main session removed")
    assert one(app, "event.update", "vi") == ("Dòng lệnh trên máy chủ đã sửa hội nghị “ND49”: tên rút gọn, "
                                              "phiên Hội nghị chính thức, bỏ lời nhắc cho Hội nghị chính thức")


def test_event_change_keys_in_words(app):
    from coordinator.history.event_sentences import _event_change

    with app.test_request_context(headers=EN):
        assert [_event_change(c) for c in ("title", "tier:commune", "session-added:rehearsal", "deadline:endpoints:province",
                                             "reminder-removed:session:main", "mystery")] == [
            "title", "tier Commune", "session Rehearsal added", "deadline Endpoints registered – Province",
            "reminder for Main session removed", "mystery"]


def test_endpoint_family(app, world):
    created_en, updated_en = said(app, "endpoint.create", "en"), one(app, "endpoint.update", "en")
    # Khánh Hòa's endpoint was removed since: the sentences name it by its unit; Hà Nội's by its name
    assert created_en[0] == ("Nguyễn Văn A registered the endpoint of Tỉnh Khánh Hòa (56) for the event "
                             "“Hội nghị trực tuyến phổ biến Nghị định 49/2024/NĐ-CP”")
    assert created_en[1].startswith("Nguyễn Văn A registered the endpoint “Hội trường Sở Hà Nội” of Thành phố Hà Nội (01) for")
    assert updated_en.startswith("Nguyễn Văn A updated the endpoint of Tỉnh Khánh Hòa (56) for the event “")
    removed = one(app, "endpoint.delete", "vi")
    assert removed.startswith("Nguyễn Văn A đã xóa điểm cầu của Tỉnh Khánh Hòa (56) khỏi hội nghị “")
    assert removed.endswith("(người liên hệ bị xóa: 1)")
    assert said(app, "endpoint.create", "vi")[1].startswith(
        "Nguyễn Văn A đã đăng ký điểm cầu “Hội trường Sở Hà Nội” của Thành phố Hà Nội (01) cho hội nghị")
    imported = one(app, "endpoints.import", "en")
    assert imported == ("Nguyễn Văn A imported “diem-cau-khanh-hoa.xlsx” into the event “Hội nghị trực tuyến phổ biến "
                        "Nghị định 49/2024/NĐ-CP”: endpoints 12 created, 3 updated, 40 unchanged; contacts 30 created, "
                        "1 updated, 80 unchanged")
    assert "điểm cầu thêm 12, sửa 3, giữ nguyên 40; người liên hệ thêm 30" in one(app, "endpoints.import", "vi")
    assert one(app, "event.copy_registrations", "en") == (
        "Nguyễn Văn A copied the registrations of “nd49-2024” into the event “Hội nghị trực tuyến phổ biến Nghị định "
        "49/2024/NĐ-CP”: 3 endpoints (4 contacts) copied, 2 listed for review")
    assert one(app, "event.copy_registrations", "vi") == (
        "Nguyễn Văn A đã sao chép đăng ký của “nd49-2024” sang hội nghị “Hội nghị trực tuyến phổ biến Nghị định "
        "49/2024/NĐ-CP”: đã sao chép 3 điểm cầu (4 người liên hệ), 2 trường hợp được liệt kê để xem xét")


def test_an_endpoint_update_with_before_and_after_says_what_changed(app, world):
    from coordinator.audit import services as audit
    from coordinator.history.sentences import describe
    from coordinator.extensions import db

    with app.app_context():
        entry = audit.record("endpoint.update", "endpoint", world["hn"], actor_label="cli", event=SLUG, unit="01",
                             before={"dial": "hn@10.1.0.1", "expected_attendance": 30},
                             after={"dial": "hn@10.1.0.2", "expected_attendance": 45})
        db.session.commit()
        assert describe(entry, locale="en").endswith(": dial address: hn@10.1.0.1 → hn@10.1.0.2; "
                                                     "expected attendance: 30 → 45")
        assert "địa chỉ kết nối: hn@10.1.0.1 → hn@10.1.0.2" in describe(entry, locale="vi")


def test_incident_family(app, world):
    probe, operator = said(app, "incident.open", "en")
    # Khánh Hòa's endpoint was removed since: named by the unit its registration recorded
    assert probe == ("The automatic probes reported the endpoint of Tỉnh Khánh Hòa (56) failed during Connectivity test: "
                     "incident #41 opened (no answer (timeout); SIP OPTIONS: no answer after 3 s; technical contacts texted: 2)")
    assert operator == ("An operator reported the endpoint “Hội trường Sở Hà Nội” of Thành phố Hà Nội (01) failed during "
                        "Main session: incident #42 opened (technical contacts texted: 0)")
    vi_probe, vi_operator = said(app, "incident.open", "vi")
    assert vi_probe.startswith("Hệ thống kiểm tra tự động báo") and "mở sự cố #41" in vi_probe
    assert "SMS báo cán bộ kỹ thuật: 2" in vi_probe
    assert vi_operator.startswith("Cán bộ trực kỹ thuật báo điểm cầu “Hội trường Sở Hà Nội” của Thành phố Hà Nội (01) mất kết nối")
    province, national = said(app, "incident.digest", "en")
    assert province == ("The incident escalation sent the incident digest of Tỉnh Khánh Hòa (56) for Connectivity test of "
                        "the event “Hội nghị trực tuyến phổ biến Nghị định 49/2024/NĐ-CP”: 125 incidents, 4 recipients")
    assert national.startswith("The incident escalation sent the incident digest of Whole country") and "1,250 incidents" in national
    vi_national = said(app, "incident.digest", "vi")[1]
    assert vi_national.startswith("Hệ thống báo sự cố đã gửi tin tổng hợp sự cố của Toàn quốc") and "1.250 sự cố" in vi_national


def test_reminder_family(app, world):
    created = said(app, "reminder.create", "en")[0]
    assert created == ("Nguyễn Văn A added the reminder SMS to Technical contacts, 3 h before Main session to the event "
                       "“Hội nghị trực tuyến phổ biến Nghị định 49/2024/NĐ-CP” (text: “Nhắc: {event} lúc {local_time}”)")
    changed = one(app, "reminder.update", "en")
    assert changed.endswith(": when: 3 h before → 4 h before; active: Yes → No")
    assert one(app, "reminder.update", "vi").endswith(": thời điểm: 3 giờ trước → 4 giờ trước; đang áp dụng: Có → Không")
    deleted = one(app, "reminder.delete", "en")
    assert deleted.startswith("Nguyễn Văn A deleted the reminder Email to Chairs of the endpoints, 10 min before Main session")
    fired = one(app, "reminder.fire", "vi")
    assert fired.startswith("Bộ lập lịch đã gửi lời nhắc SMS tới") and fired.endswith(": 125 tin chờ gửi (không liên lạc được: 3)")
    skipped = one(app, "reminder.skip", "en")
    assert skipped.startswith("The scheduler skipped the reminder ") and skipped.endswith(
        ": its session or deadline had already begun")


def test_deadline_and_document_families(app, world):
    closed, reopened = one(app, "deadline.close", "en"), one(app, "deadline.reopen", "vi")
    assert closed == ("Nguyễn Văn A closed registration for Focal contacts registered – Province of the event "
                      "“Hội nghị trực tuyến phổ biến Nghị định 49/2024/NĐ-CP”")
    assert reopened.startswith("Nguyễn Văn A đã mở lại đăng ký Đăng ký cán bộ đầu mối – Cấp tỉnh của hội nghị")
    uploaded = one(app, "document.upload", "en")
    assert uploaded.startswith("Trần Thị B uploaded “Danh sách đầu mối.pdf” for Tỉnh Khánh Hòa (56) "
                               "(Focal contacts registered – Province, event “") and uploaded.endswith("”; 48 kB; late)")
    assert one(app, "document.replace", "vi").startswith(
        "Trần Thị B đã thay một tệp của Tỉnh Khánh Hòa (56) bằng “Danh sách đầu mối (bản 2).pdf”")
    assert one(app, "document.replace", "en").endswith("”; 2.4 MB)")
    assert one(app, "document.replace", "vi").endswith("”; 2,4 MB)")
    assert one(app, "document.delete", "en").startswith("Trần Thị B deleted “Danh sách đầu mối (bản 2).pdf” of Tỉnh Khánh Hòa")
    assert one(app, "document.contact", "vi").startswith(
        "Trần Thị B đã cử Lê Văn Mối (0905 333 444) làm cán bộ đầu mối của Tỉnh Khánh Hòa (56) cho Đăng ký cán bộ đầu mối")


def test_account_sms_and_unit_families(app, world):
    assert said(app, "user.create", "en")[1] == (
        "Nguyễn Văn A created the account Trần Thị B <b@example.gov.vn>: coordinator of Tỉnh Khánh Hòa (56)")
    assert said(app, "user.create", "vi")[0] == "Dòng lệnh trên máy chủ đã tạo tài khoản Nguyễn Văn A <a@example.gov.vn>: đơn vị tổ chức"
    assert one(app, "token.issue", "en") == (
        "The command line on the server issued the API token “máy chủ tỉnh” for Trần Thị B <b@example.gov.vn>")
    by_organizer, stop = said(app, "sms.opt_out", "en")
    assert by_organizer == "Nguyễn Văn A stopped SMS to 0913 123 456 (organizer; note: số cũ)"
    assert stop == "0913 999 888 replied STOP: no more SMS to this number (note: STOP)"
    assert said(app, "sms.opt_out", "vi")[0] == "Nguyễn Văn A đã ngừng gửi SMS tới 0913 123 456 (đơn vị tổ chức; ghi chú: số cũ)"
    assert one(app, "sms.opt_in", "vi") == "0913 999 888 đã nhắn START: nhận SMS trở lại"
    assert one(app, "units.load", "en") == (
        "The command line on the server loaded the administrative units of 2025: 3,321 added, 0 updated")
    assert one(app, "units.load", "vi") == "Dòng lệnh trên máy chủ đã nạp danh mục đơn vị hành chính 2025: thêm 3.321, cập nhật 0"
    confirmed = one(app, "session.confirm", "en")
    assert confirmed == ("A contact (by the link in a reminder) confirmed the endpoint of Tỉnh Khánh Hòa (56) ready for "
                         "Connectivity test of the event “Hội nghị trực tuyến phổ biến Nghị định 49/2024/NĐ-CP”")
    assert one(app, "session.confirm", "vi").startswith("Người liên hệ (qua đường liên kết trong lời nhắc) đã xác nhận")


def test_account_changes(app, world):
    b = "Trần Thị B <b@example.gov.vn>"
    assert one(app, "user.update", "en") == (f"Nguyễn Văn A changed the account {b}: name: Trần Thị B → Trần Thị Bích; "
                                             "role: coordinator → operator; unit: Tỉnh Khánh Hòa (56) → —")
    assert one(app, "user.update", "vi") == (f"Nguyễn Văn A đã sửa tài khoản {b}: tên: Trần Thị B → Trần Thị Bích; "
                                             "vai trò: cán bộ điều phối → cán bộ trực kỹ thuật; đơn vị: Tỉnh Khánh Hòa (56) → —")
    assert one(app, "user.disable", "en") == f"Nguyễn Văn A disabled the account {b} (API tokens revoked: 1; signed out everywhere)"
    assert one(app, "user.enable", "vi") == f"Nguyễn Văn A đã mở lại tài khoản {b}"
    assert one(app, "user.import", "en") == ("Nguyễn Văn A imported accounts from “can-bo.xlsx”: 100 created, 5 updated, "
                                             "15 unchanged")
    assert one(app, "user.password_link", "vi") == (f"Nguyễn Văn A đã cấp cho {b} đường liên kết để đặt mật khẩu "
                                                    "(đã gửi qua thư điện tử; hiệu lực đến 30/06/2024 17:00)")
    assert one(app, "user.password_set", "en") == "Trần Thị B set their own password (by the emailed link)"


def test_login_is_recorded_and_said(app, client, world):
    login(client, "b@example.gov.vn")
    assert one(app, "user.login", "en") == "Trần Thị B signed in"
    assert one(app, "user.login", "vi") == "Trần Thị B đã đăng nhập"


def test_every_action_has_its_own_sentence(app, world, client):
    """All the actions in the code (record() calls and bulk inserts), and every one of them made
    by this module's world, have a renderer and a label."""
    from coordinator.audit.actions import ACTION_LABELS
    from coordinator.history.sentences import RENDERERS

    in_code = set()
    for path in (ROOT / "coordinator").rglob("*.py"):
        if "audit" in path.parts:
            continue
        source = path.read_text()
        for call in re.finditer(r"audit\.record\(\s*((?:[^,()]|\([^)]*\))+),", source):
            in_code.update(re.findall(r'"([a-z_]+\.[a-z_]+)"', call.group(1)))
        in_code.update(re.findall(r'"action":\s*"([a-z_]+\.[a-z_]+)"', source))
    assert len(in_code) >= 25, in_code
    assert in_code <= set(RENDERERS), in_code - set(RENDERERS)
    assert set(RENDERERS) == set(ACTION_LABELS)
    login(client, "b@example.gov.vn")
    from coordinator.events.plans import read_plan_file
    from coordinator.events.services import apply_plan

    with app.app_context():
        apply_plan(read_plan_file(ROOT / "schedules" / "nd49-2024.toml").model_copy(update={"short_title": "x"}),
                   expected_slug=SLUG)
        made = {e.action for e in _entries(app)}
    assert made == set(RENDERERS), set(RENDERERS) ^ made


def test_unknown_actions_and_odd_details_never_raise(app, world):
    from coordinator.audit import services as audit
    from coordinator.history.sentences import describe_all
    from coordinator.extensions import db

    with app.app_context():
        odd = [
            audit.record("widget.frob", "widget", 7, actor_label="cli", colour="xanh", sizes=[1, 2]),
            audit.record("event.cancel", "event", "gone-event", actor_label="cli", reason=123, cancellations="many"),
            audit.record("session.move", "event", SLUG, actor_label="cli", session="main", before="x", after=None),
            audit.record("endpoints.import", "event", "99999", actor_label="cli", endpoints=[1], contacts=None),
            audit.record("reminder.update", "reminder_rule", "abc", actor_label="cli", before={"offset_seconds": "soon"},
                         after={"offset_seconds": None}),
            audit.record("user.create", "user", None, actor_label="cli"),
            audit.record("incident.open", "endpoint", "-1", actor_label="probe"),
            audit.record("sms.opt_out", "phone", "not a phone", actor_label="not a phone"),
            audit.record("document.upload", "document_file", 1, actor_label="cli", deadline="x", size="big"),
        ]
        odd[0].details = ["not", "a", "dict"]
        db.session.commit()
        for locale in ("en", "vi"):
            sentences = describe_all(odd, locale=locale)
            assert all(isinstance(s, str) and s for s in sentences)
        en = describe_all(odd, locale="en")
        assert en[0] == "The command line on the server: widget.frob on widget 7"
        assert en[1] == "The command line on the server cancelled the event “gone-event” — reason: 123 (calendar cancellations: many)"
        renamed = audit.record("widget.frob", "widget", 8, actor_label="cli", colour="xanh")
        assert describe_all([renamed], locale="vi")[0] == "Dòng lệnh trên máy chủ: widget.frob trên widget 8 (colour: xanh)"


def test_a_removed_user_is_named_by_the_recorded_email(app, world):
    from coordinator.audit.models import AuditEntry
    from coordinator.history.sentences import describe
    from coordinator.extensions import db

    with app.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "sms.opt_out").order_by(AuditEntry.id))
        entry.actor_id = None  # what ON DELETE SET NULL leaves
        db.session.commit()
        assert describe(entry, locale="en") == "a@example.gov.vn stopped SMS to 0913 123 456 (organizer; note: số cũ)"


# --- the page: filters, pagination, permission --------------------------------------------------------

@pytest.fixture()
def organizer(client, world):
    login(client, "a@example.gov.vn")
    return client


def page(client, headers=EN, **args) -> str:
    response = client.get("/audit/", query_string=args, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def lines(html: str) -> list[str]:
    """The sentences on the page (without the raw details)."""
    found = re.findall(r"<li><time>[^<]*</time>(.*?)<details>", html, re.S)
    return [unescape(x).strip() for x in found]


def actions_on(html: str) -> list[str]:
    return re.findall(r"<summary>([a-z_.]+)</summary>", html)


def test_page_shows_sentences_and_the_raw_entry(organizer):
    html = page(organizer)
    assert any(s.startswith("Nguyễn Văn A cancelled the event") for s in lines(html))
    assert "<summary>event.cancel</summary>" in html and "a@example.gov.vn · event nd49-2024" in html
    assert "Bão số 3 đổ bộ" in html
    vi = page(organizer, headers=VI)
    assert any(s.startswith("Nguyễn Văn A đã hủy hội nghị") for s in lines(vi))


def test_filter_by_event(organizer, app):
    from coordinator.events.plans import read_plan_file
    from coordinator.events.services import apply_plan

    with app.app_context():
        apply_plan(read_plan_file(ROOT / "schedules" / "example-2025-two-tier.toml"))
    everything = set(actions_on(page(organizer, n=200)))
    nd49 = actions_on(page(organizer, event=SLUG, n=200))
    other = actions_on(page(organizer, event="example-2025-two-tier", n=200))
    assert other == ["event.create"]
    # found through the event's rules, deadlines and endpoints too, not only its slug
    assert {"incident.open", "reminder.fire", "reminder.skip", "deadline.close", "endpoints.import",
            "session.confirm", "event.cancel", "endpoint.delete"} <= set(nd49)
    assert not {"user.create", "sms.opt_out", "units.load", "token.issue"} & set(nd49)
    assert set(nd49) < everything
    html = page(organizer, event="nope")
    assert "There is no event &#39;nope&#39;." in html and not actions_on(html)


def test_filter_by_unit_code_or_name(organizer):
    kh = actions_on(page(organizer, unit="56", n=200))
    assert sorted(set(kh)) == sorted({"endpoint.create", "endpoint.update", "endpoint.delete", "incident.open",
                                      "incident.digest", "document.upload", "document.replace", "document.delete",
                                      "document.contact", "user.create", "session.confirm", "broadcast.send",
                                      "broadcast.stop"})
    assert kh.count("incident.open") == 1 and kh.count("incident.digest") == 1
    # typed as a name, with or without diacritics and its tier word
    assert actions_on(page(organizer, unit="tinh khanh hoa", n=200)) == kh
    assert actions_on(page(organizer, unit="Tỉnh Khánh Hòa", n=200)) == kh
    # a name several units bear: all of them, and a link to each to narrow down (filters kept)
    html = unescape(page(organizer, unit="Khánh Hòa", action="endpoint.create", n=200))
    assert actions_on(html) == ["endpoint.create"]
    choices = re.findall(r'<a href="([^"]+)">([^<]+)</a>', html.split('id="audit-units"', 1)[1].split("</p>", 1)[0])
    assert ("/audit/?unit=56&action=endpoint.create&n=200", "Tỉnh Khánh Hòa (56)") in [
        (href.replace("action=endpoint.create&unit=56", "unit=56&action=endpoint.create"), text) for href, text in choices]
    assert "Xã Khánh Hòa (14569)" in [text for _, text in choices] and not any("Tân Khánh Hòa" in t for _, t in choices)
    hn = actions_on(page(organizer, unit="01", n=200))
    assert sorted(set(hn)) == ["endpoint.create", "incident.open"]
    assert actions_on(page(organizer, unit="56", event=SLUG, action="session.confirm")) == ["session.confirm"]
    assert "No unit has the code or name" in page(organizer, unit="Atlantis")


def test_filter_by_user(organizer):
    by_a = lines(page(organizer, user="nguyen van a", n=200))  # no diacritics, any case
    assert by_a and all(s.startswith("Nguyễn Văn A") for s in by_a)
    assert lines(page(organizer, user="NGUYỄN VĂN A", n=200)) == by_a
    assert lines(page(organizer, user="a@example", n=200)) == by_a
    scheduler = lines(page(organizer, user="scheduler", n=200))
    assert len(scheduler) == 3 and all(s.startswith("The scheduler") for s in scheduler)
    assert lines(page(organizer, user="lap lich", n=200, headers=VI)) == lines(page(organizer, user="scheduler", n=200, headers=VI))
    stop = actions_on(page(organizer, user="0913 999 888"))  # a number, typed as people write it
    assert stop == ["sms.opt_in", "sms.opt_out"]
    assert not actions_on(page(organizer, user="nobody at all"))


def test_filter_by_action(organizer):
    html = page(organizer, action="event.cancel")
    assert actions_on(html) == ["event.cancel"]
    assert '<option value="event.cancel" selected>Event cancelled</option>' in html
    assert actions_on(page(organizer, action="incident.open")) == ["incident.open", "incident.open"]
    assert "is not an action" in page(organizer, action="DROP TABLE")


def test_filter_by_dates_in_vietnam_time(organizer, app):
    from coordinator.audit import services as audit
    from coordinator.extensions import db

    with app.app_context():
        for at, label in ((datetime(2024, 6, 27, 16, 30, tzinfo=timezone.utc), "late-27"),  # 23:30 on 27/06 in Hà Nội
                          (datetime(2024, 6, 27, 17, 30, tzinfo=timezone.utc), "early-28"),  # 00:30 on 28/06
                          (datetime(2024, 6, 28, 16, 59, tzinfo=timezone.utc), "late-28")):  # 23:59 on 28/06
            audit.record("widget.frob", "widget", label, actor_label="cli").at = at
        db.session.commit()

    def labels(**args):
        return re.findall(r"widget ([a-z0-9-]+) ·", page(organizer, action="widget.frob", **args))

    assert labels(**{"from": "28/06/2024"}) == ["late-28", "early-28"]
    assert labels(to="27/06/2024") == ["late-27"]
    assert labels(**{"from": "28/06/2024", "to": "28/06/2024"}) == ["late-28", "early-28"]
    assert labels(**{"from": "2024-06-27", "to": "27.06.2024"}) == ["late-27"]
    html = page(organizer, action="widget.frob", **{"from": "31/02/2024"})
    assert "&#39;31/02/2024&#39; is not a date" in html and len(labels(**{"from": "31/02/2024"})) == 3
    assert "The first day is after the last day." in page(organizer, **{"from": "29/06/2024", "to": "28/06/2024"})


def _links(html: str) -> dict[str, str]:
    return {unescape(text).strip("←→« ").strip(): unescape(href)
            for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', html.split('class="pager"', 1)[-1])}


def test_pagination_keeps_the_filters(organizer, app):
    from coordinator.audit import services as audit
    from coordinator.extensions import db

    with app.app_context():
        for i in range(120):
            audit.record("widget.frob", "widget", f"w{i:03d}", actor_label="cli")
        db.session.commit()
    args = {"action": "widget.frob", "user": "command", "n": 45}
    first = page(organizer, **args)
    names = re.findall(r"widget (w\d+) ·", first)
    assert names == [f"w{i:03d}" for i in range(119, 74, -1)]
    links = _links(first)
    assert set(links) == {"Older"}
    older = links["Older"]
    assert "action=widget.frob" in older and "user=command" in older and "n=45" in older
    second = organizer.get(older, headers=EN).get_data(as_text=True)
    assert re.findall(r"widget (w\d+) ·", second) == [f"w{i:03d}" for i in range(74, 29, -1)]
    links = _links(second)
    assert set(links) == {"Newest", "Newer", "Older"}
    assert all("user=command" in href and "n=45" in href for href in links.values())
    third = organizer.get(links["Older"], headers=EN).get_data(as_text=True)
    assert re.findall(r"widget (w\d+) ·", third) == [f"w{i:03d}" for i in range(29, -1, -1)]
    assert set(_links(third)) == {"Newest", "Newer"}
    back = organizer.get(_links(third)["Newer"], headers=EN).get_data(as_text=True)
    assert re.findall(r"widget (w\d+) ·", back) == re.findall(r"widget (w\d+) ·", second)
    newest = organizer.get(_links(back)["Newest"], headers=EN).get_data(as_text=True)
    assert re.findall(r"widget (w\d+) ·", newest) == names
    # the form keeps them too
    assert 'name="user" value="command"' in first and 'name="n" value="45"' in first
    assert 'name="n"' not in page(organizer, action="widget.frob")  # the default size is not repeated


def test_only_roles_with_audit_view_see_the_log(app, client, make_user):
    from coordinator.auth.permissions import PERMISSIONS

    assert PERMISSIONS["audit.view"] == {"admin", "organizer"}
    assert client.get("/audit/").status_code == 302  # to the sign-in page
    for role, unit in (("admin", None), ("organizer", None), ("coordinator", "56"), ("operator", None)):
        email = f"{role}@example.gov.vn"
        make_user(email, role, unit)
        other = app.test_client()
        login(other, email)
        allowed = role in PERMISSIONS["audit.view"]
        assert other.get("/audit/").status_code == (200 if allowed else 403), role
        assert ('href="/audit/"' in other.get("/events/").get_data(as_text=True)) == allowed


# --- an endpoint's history -----------------------------------------------------------------------------

def test_history_of_an_endpoint_after_create_update_delete(app, world):
    from coordinator.history.services import history_for_endpoint

    with app.test_request_context(headers=EN):
        history = history_for_endpoint(world["kh"])
        assert [line.entry.action for line in history] == [
            "endpoint.delete", "incident.open", "endpoint.update", "endpoint.create"]  # newest first
        assert history[0].sentence.startswith("Nguyễn Văn A removed the endpoint of Tỉnh Khánh Hòa (56) from the event “")
        assert all(line.at is not None for line in history)
        hn = history_for_endpoint(world["hn"])
        assert [line.entry.action for line in hn] == ["incident.open", "endpoint.create"]
        assert len(history_for_endpoint(world["kh"], limit=2)) == 2
    with app.test_request_context(headers=VI):
        assert history_for_endpoint(world["hn"])[-1].sentence.startswith(
            "Nguyễn Văn A đã đăng ký điểm cầu “Hội trường Sở Hà Nội”")


def test_history_includes_confirmations_naming_the_endpoint(app, world):
    from coordinator.audit import services as audit
    from coordinator.history.services import history_for_endpoint
    from coordinator.extensions import db

    with app.app_context():
        audit.record("session.confirm", "event", SLUG, actor_label="sms", session="main", endpoints=[world["hn"], 10 ** 6])
        audit.record("session.confirm", "event", SLUG, actor_label="sms", session="main", endpoints=[world["hn"] + 10 ** 6])
        db.session.commit()
    with app.test_request_context(headers=EN):
        history = history_for_endpoint(world["hn"])
        assert [line.entry.action for line in history] == ["session.confirm", "incident.open", "endpoint.create"]
        assert history[0].sentence.startswith("A contact (by SMS) confirmed the endpoint “Hội trường Sở Hà Nội” of "
                                              "Thành phố Hà Nội (01), endpoint #1000000 ready for Main session")


def test_history_include_renders_sentences_with_times(app, world):
    from flask import render_template_string

    from coordinator.history.services import history_for_endpoint
    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import get_event
    from coordinator.extensions import db

    with app.test_request_context(headers=VI):
        endpoint = db.session.get(Endpoint, world["hn"])
        html = render_template_string('{% include "audit/_history.html" %}', audit_history=history_for_endpoint(endpoint.id),
                                      event=get_event(SLUG), endpoint=endpoint)
        assert "Lịch sử thay đổi" in html and "đã đăng ký điểm cầu “Hội trường Sở Hà Nội”" in unescape(html)
        assert re.search(r"<time datetime=\"[^\"]+\">\d\d/\d\d/\d{4} \d\d:\d\d</time>", html)
        assert "All of it" not in html and "Xem đầy đủ" not in html  # anonymous here: no link to /audit
        assert "Chưa có thao tác nào với điểm cầu này." in render_template_string(
            '{% include "audit/_history.html" %}', audit_history=[], event=None, endpoint=None)
        assert render_template_string('{% include "audit/_history.html" %}').strip() == ""


def test_the_audit_page_shows_an_endpoints_whole_history(organizer, world):
    html = page(organizer, endpoint=world["kh"])
    assert actions_on(html) == ["endpoint.delete", "incident.open", "endpoint.update", "endpoint.create"]
    assert f'name="endpoint" value="{world["kh"]}"' in html


# --- cost ------------------------------------------------------------------------------------------------

def _count_queries(app, fn) -> int:
    from coordinator.extensions import db

    with app.app_context():
        engine = db.engine
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_constant_number_of_queries_whatever_the_page_size(app, organizer, world):
    """Twice the world's entries (about 100, of every kind) shown 10 and 100 at a time: the same
    number of statements, for the page and for the history."""
    from coordinator.audit.models import AuditEntry
    from coordinator.extensions import db

    with app.app_context():
        kinds = {}  # one entry about each kind of thing: every page of 10 needs every lookup
        for e in _entries(app):
            kinds.setdefault((e.object_type, e.actor_id is not None), e)
        group = [{c: getattr(e, c) for c in ("at", "actor_id", "actor_label", "action", "object_type", "object_id",
                                             "details")} for e in kinds.values()]
        assert len(group) <= 20
        db.session.execute(insert(AuditEntry.__table__), group * 12)
        db.session.commit()
        assert len(_entries(app)) >= 150
    counts = {}
    for n in (20, 150):
        counts[n] = _count_queries(app, lambda: page(organizer, n=n))
        counts[f"filtered {n}"] = _count_queries(app, lambda: page(organizer, n=n, event=SLUG, unit="56", user="a",
                                                                     before=10 ** 9, **{"from": "01/01/2020"}))
    assert counts[20] == counts[150], counts
    assert counts["filtered 20"] == counts["filtered 150"], counts
    assert counts[150] <= 13, counts

    from coordinator.history.names import Names

    with app.app_context():
        names = Names.load(_entries(app))
        assert names.queries <= 7 and names.endpoints and names.removed_endpoints and names.rules and names.deadlines and names.users


def test_a_full_page_stays_small(organizer, app, world):
    from coordinator.audit.models import AuditEntry
    from coordinator.extensions import db

    with app.app_context():
        rows = [{c: getattr(e, c) for c in ("at", "actor_id", "actor_label", "action", "object_type", "object_id", "details")}
                for e in _entries(app)]
        db.session.execute(insert(AuditEntry.__table__), rows * 6)
        db.session.commit()
    for headers in (EN, VI):
        html = page(organizer, headers=headers, n=200)
        assert len(actions_on(html)) == 200
        assert len(html.encode()) < 150_000
