"""The organizer's pages: create, edit, publish and cancel an event through HTTP forms."""
from __future__ import annotations

from factories import EN, csrf_from, field_block, form_values, new_event_form, post_new

def test_organizer_creates_an_event_through_the_form(organizer_client):
    response = post_new(organizer_client, new_event_form())
    assert response.status_code == 302 and response.headers["Location"].endswith("/events/tap-huan-kh")
    page = organizer_client.get("/events/tap-huan-kh").get_data(as_text=True)
    assert "Hội nghị trực tuyến tập huấn Nghị định 49 tại Khánh Hòa" in page
    assert "27/06/2024 14:00" in page and "28/06/2024 08:30" in page and "28/06/2024 11:30" in page
    assert "Hội trường UBND tỉnh Khánh Hòa" in page
    body = organizer_client.get("/api/v1/events/tap-huan-kh").get_json()  # same session, no token needed
    assert body["tiers"] == ["central", "province", "district", "commune"]
    main = next(s for s in body["sessions"] if s["kind"] == "main")
    assert main["starts_at"] == "2024-06-28T08:30:00+07:00" and main["sequence"] == 0
    assert body["deadlines"][0]["due_at"] == "2024-06-20T00:00:00+07:00"
    assert body["tier_roles"][3]["may_attend_at_parent"] is True
    assert "28/06/2024 08:30" in organizer_client.get("/events/").get_data(as_text=True)


def test_errors_stand_next_to_their_fields_and_nothing_is_saved(organizer_client):
    response = post_new(organizer_client, new_event_form(**{
        "sessions-1-ends_at": "28/06/2024 08:00",          # before the start
        "sessions-0-starts_at": "27-06-2024 2pm",          # not dd/mm/yyyy HH:MM
        "tiers-2-tier": "commune", "tiers-3-tier": "district",  # out of order
        "slug": "Tập huấn!",
    }), headers=EN)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "the end must be after the start" in field_block(html, "sessions-1-ends_at")
    assert "dd/mm/yyyy HH:MM" in field_block(html, "sessions-0-starts_at")
    assert 'value="27-06-2024 2pm"' in field_block(html, "sessions-0-starts_at")  # what was typed stays
    assert "Use 3–64 characters" in field_block(html, "slug")
    assert organizer_client.get("/api/v1/events").get_json()["total"] == 0


def test_plan_rules_apply_to_the_form(organizer_client):
    response = post_new(organizer_client, new_event_form(**{"unit_structure": "2025"}), headers=EN)
    assert response.status_code == 400
    assert "unknown tier 'district' for structure 2025" in field_block(response.get_data(as_text=True), "tiers-2-tier")


def test_editing_a_session_bumps_its_sequence_and_keeps_its_uid(organizer_client):
    post_new(organizer_client, new_event_form())
    before = {s["kind"]: s for s in organizer_client.get("/api/v1/events/tap-huan-kh").get_json()["sessions"]}
    page = organizer_client.get("/events/tap-huan-kh/edit").get_data(as_text=True)
    assert 'value="28/06/2024 08:30"' in page  # the form shows local times as typed
    data = new_event_form(**{"sessions-1-starts_at": "28/06/2024 09:00", "title": "Tên mới của hội nghị",
                             "slug": "attempt-to-rename"})
    response = organizer_client.post("/events/tap-huan-kh/edit", data={**data, "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    body = organizer_client.get("/api/v1/events/tap-huan-kh").get_json()
    after = {s["kind"]: s for s in body["sessions"]}
    assert body["title"] == "Tên mới của hội nghị" and body["slug"] == "tap-huan-kh"
    assert after["main"]["starts_at"] == "2024-06-28T09:00:00+07:00"
    assert after["main"]["sequence"] == before["main"]["sequence"] + 1
    assert after["main"]["ical_uid"] == before["main"]["ical_uid"]
    assert after["connectivity_test"]["sequence"] == before["connectivity_test"]["sequence"]


def test_editing_keeps_the_reminder_plan(organizer_client, nd49, app):
    from coordinator.events.services import get_event

    page = organizer_client.get("/events/nd49-2024/edit").get_data(as_text=True)
    form = form_values(page)
    assert form["sessions-0-starts_at"] == "27/06/2024 14:00" and form["tiers-3-may_attend_at_parent"] == "y"
    assert "tiers-0-may_attend_at_parent" not in form
    form["sessions-1-location"] = "Hội trường Bộ TT&TT, 18 Nguyễn Du, Hà Nội"
    response = organizer_client.post("/events/nd49-2024/edit", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        event = get_event("nd49-2024")
        assert len(event.reminder_rules) == 8
        assert event.session("main").location == "Hội trường Bộ TT&TT, 18 Nguyễn Du, Hà Nội"
        assert event.session("main").sequence == 1  # a new place is a significant change
        assert event.session("connectivity_test").sequence == 0
        assert event.tier_roles[3].may_attend_at_parent


def test_publish_then_cancel(organizer_client, nd49, app):
    from coordinator.audit.services import recent

    page = organizer_client.get("/events/nd49-2024").get_data(as_text=True)
    token = csrf_from(page)
    assert organizer_client.post("/events/nd49-2024/publish", data={"csrf_token": token}).status_code == 302
    assert organizer_client.get("/api/v1/events/nd49-2024").get_json()["status"] == "published"
    # Cancelling asks first, and needs a reason: without one, nothing changes.
    confirm = organizer_client.get("/events/nd49-2024/cancel").get_data(as_text=True)
    assert 'name="reason"' in confirm and "required" in confirm
    refused = organizer_client.post("/events/nd49-2024/cancel", data={"csrf_token": token, "reason": "  "})
    assert refused.status_code == 422
    assert organizer_client.get("/api/v1/events/nd49-2024").get_json()["status"] == "published"
    reason = "Lãnh đạo Bộ bận đột xuất, sẽ thông báo lịch mới"
    assert organizer_client.post("/events/nd49-2024/cancel",
                                 data={"csrf_token": token, "reason": reason}).status_code == 302
    assert organizer_client.get("/api/v1/events/nd49-2024").get_json()["status"] == "cancelled"
    # A cancelled event cannot be published again.
    organizer_client.post("/events/nd49-2024/publish", data={"csrf_token": token})
    assert organizer_client.get("/api/v1/events/nd49-2024").get_json()["status"] == "cancelled"
    with app.app_context():
        entries = recent()
        actions = [(e.action, e.actor_label) for e in entries]
        cancel_entry = next(e for e in entries if e.action == "event.cancel")
    assert ("event.publish", "organizer@example.gov.vn") in actions
    assert ("event.cancel", "organizer@example.gov.vn") in actions
    assert cancel_entry.details["reason"] == reason


def test_finished_events_are_marked_by_the_scheduler_job(cli, organizer_client, nd49, app):
    from coordinator.events.services import get_event, publish

    with app.app_context():
        publish(get_event("nd49-2024"))
    result = cli("events", "finish-past")  # the ND49 sessions of 2024 are over
    assert "nd49-2024: finished" in result.output
    assert organizer_client.get("/api/v1/events/nd49-2024").get_json()["status"] == "finished"


def test_unknown_event_is_404_in_pages_and_api(organizer_client):
    assert organizer_client.get("/events/nope").status_code == 404
    response = organizer_client.get("/api/v1/events/nope")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_audit_log_page_lists_changes_for_organizers_only(organizer_client, client, nd49, make_user):
    from factories import login

    page = organizer_client.get("/events/nd49-2024").get_data(as_text=True)
    organizer_client.post("/events/nd49-2024/publish", data={"csrf_token": csrf_from(page)})
    html = organizer_client.get("/audit/", headers=EN).get_data(as_text=True)
    assert "event.publish" in html and "organizer@example.gov.vn" in html and "event.create" in html
    make_user("operator@example.gov.vn", "operator")
    other = organizer_client.application.test_client()
    login(other, "operator@example.gov.vn")
    assert other.get("/audit/").status_code == 403
