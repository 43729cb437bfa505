"""Event plan files: `schedules check`, `schedules load [--shift-to]`, and what the API then serves."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ND49 = ROOT / "schedules" / "nd49-2024.toml"
EXAMPLE_2025 = ROOT / "schedules" / "example-2025-two-tier.toml"


@pytest.fixture()
def auth(make_user, token_for):
    make_user("organizer@example.gov.vn", "organizer")
    return token_for("organizer@example.gov.vn")


def event_json(client, auth, slug="nd49-2024"):
    response = client.get(f"/api/v1/events/{slug}", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def sessions_by_kind(body):
    return {s["kind"]: s for s in body["sessions"]}


def write_plan(tmp_path: Path, text: str, name="plan.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_plans_are_valid(cli):
    result = cli("schedules", "check", str(ND49), str(EXAMPLE_2025))
    assert result.exit_code == 0, result.output
    assert "nd49-2024.toml: OK" in result.output and "tiers central, province, district, commune" in result.output
    assert "tiers central, province, commune" in result.output


def test_nd49_as_the_letter_says(cli, client, auth):
    result = cli("schedules", "load", str(ND49))
    assert result.exit_code == 0, result.output
    body = event_json(client, auth)
    assert body["title"].startswith("Hội nghị trực tuyến toàn quốc phổ biến, triển khai thực hiện Nghị định số 49/2024/NĐ-CP")
    assert "49/2024/NĐ-CP ngày 10/5/2024" in body["legal_reference"]
    assert body["timezone"] == "Asia/Ho_Chi_Minh" and body["status"] == "draft"
    assert body["tiers"] == ["central", "province", "district", "commune"]
    assert body["organizer"]["name"] == "Bộ Thông tin và Truyền thông"
    assert body["organizer"]["office"] == "Cục Thông tin cơ sở"
    sessions = sessions_by_kind(body)
    assert sessions["connectivity_test"]["starts_at"] == "2024-06-27T14:00:00+07:00"
    assert sessions["connectivity_test"]["ends_at"] == "2024-06-27T17:00:00+07:00"
    assert sessions["main"]["starts_at"] == "2024-06-28T08:30:00+07:00"
    assert sessions["main"]["ends_at"] == "2024-06-28T11:30:00+07:00"
    assert all(s["sequence"] == 0 and s["ical_uid"] for s in body["sessions"])
    assert body["deadlines"] == [{"kind": "focal_contacts", "tier": "province", "due_at": "2024-06-20T00:00:00+07:00",
                                  "title": body["deadlines"][0]["title"]}]
    roles = {r["tier"]: r for r in body["tier_roles"]}
    assert roles["central"]["chair"] == "Lãnh đạo Bộ Thông tin và Truyền thông chủ trì."
    assert roles["province"]["chair"].startswith("Lãnh đạo Sở Thông tin và Truyền thông chủ trì")
    assert "Phòng Văn hóa - Thông tin" in roles["district"]["chair"]
    assert "người phụ trách đài truyền thanh cấp xã" in roles["commune"]["attendees"]
    assert roles["commune"]["may_attend_at_parent"] is True
    assert not any(roles[t]["may_attend_at_parent"] for t in ("central", "province", "district"))


def test_nd49_reminder_plan_is_stored(app_ctx, nd49):
    from coordinator.events.services import get_event

    rules = {(r.anchor, r.offset_seconds, r.audience) for r in get_event(nd49).reminder_rules}
    day, hour = 86400, 3600
    assert ("deadline:focal_contacts", -3 * day, "units_missing_deadline") in rules
    assert ("deadline:focal_contacts", -1 * day, "units_missing_deadline") in rules
    assert ("session:connectivity_test", -1 * day, "technical") in rules
    assert ("session:connectivity_test", -1 * hour, "technical") in rules
    for offset in (-day, -hour):
        for audience in ("chairs", "technical"):
            assert ("session:main", offset, audience) in rules


def test_loading_twice_changes_nothing(cli, client, auth, app):
    from sqlalchemy import func, select

    from coordinator.events.models import Event, EventSession, ReminderRule
    from coordinator.extensions import db

    cli("schedules", "load", str(ND49))
    first = event_json(client, auth)
    result = cli("schedules", "load", str(ND49))
    assert result.exit_code == 0 and "nd49-2024: unchanged" in result.output
    assert event_json(client, auth) == first
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 1
        assert db.session.scalar(select(func.count()).select_from(EventSession)) == 2
        assert db.session.scalar(select(func.count()).select_from(ReminderRule)) == 8


def test_shift_to_moves_dates_keeps_times_gaps_and_uids(cli, client, auth):
    cli("schedules", "load", str(ND49))
    before = sessions_by_kind(event_json(client, auth))
    result = cli("schedules", "load", str(ND49), "--shift-to", "2027-03-15")
    assert result.exit_code == 0, result.output
    body = event_json(client, auth)
    after = sessions_by_kind(body)
    assert after["connectivity_test"]["starts_at"] == "2027-03-15T14:00:00+07:00"
    assert after["connectivity_test"]["ends_at"] == "2027-03-15T17:00:00+07:00"
    assert after["main"]["starts_at"] == "2027-03-16T08:30:00+07:00"
    assert after["main"]["ends_at"] == "2027-03-16T11:30:00+07:00"
    # The deadline kept its gap: 7 days and 14 hours before the test.
    assert body["deadlines"][0]["due_at"] == "2027-03-08T00:00:00+07:00"
    for kind in ("connectivity_test", "main"):
        assert after[kind]["ical_uid"] == before[kind]["ical_uid"]
        assert after[kind]["sequence"] == before[kind]["sequence"] + 1
    # The same shift again is no change: SEQUENCE must not grow.
    cli("schedules", "load", str(ND49), "--shift-to", "2027-03-15")
    assert sessions_by_kind(event_json(client, auth))["main"]["sequence"] == 1


def test_shift_to_rejects_a_bad_date(cli):
    result = cli("schedules", "load", str(ND49), "--shift-to", "15/03/2027")
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output


def test_the_2025_structure_plan_has_no_district_tier(cli, client, auth):
    assert cli("schedules", "load", str(EXAMPLE_2025)).exit_code == 0
    body = event_json(client, auth, "example-2025-two-tier")
    assert body["tiers"] == ["central", "province", "commune"] and body["unit_structure"] == "2025"
    assert {(d["kind"], d["tier"]) for d in body["deadlines"]} == {("focal_contacts", "province"),
                                                                 ("endpoints", "commune")}


def _nd49_with(replacements: list[tuple[str, str]]) -> str:
    text = ND49.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


BROKEN = [
    ("unknown tier", [('tier = "district"', 'tier = "hamlet"')],
     r"tiers\[2\]\.tier: unknown tier 'hamlet'"),
    ("end before start", [("ends_at = 2024-06-28T11:30:00", "ends_at = 2024-06-28T08:00:00")],
     r"sessions\[1\]\.ends_at: the end must be after the start"),
    ("unknown time zone", [('timezone = "Asia/Ho_Chi_Minh"', 'timezone = "Asia/Hanoi_City"')],
     r"timezone: unknown time zone 'Asia/Hanoi_City'"),
    ("unknown key", [('office = "Cục Thông tin cơ sở"', 'office = "Cục Thông tin cơ sở"\nfax = "024"')],
     r"organizer\.fax: unknown key"),
    ("unknown session kind", [('kind = "main"', 'kind = "plenary"')],
     r"sessions\[1\]\.kind: unknown session kind 'plenary'"),
    ("deadline for a tier not in use", [('kind = "focal_contacts"\ntier = "province"', 'kind = "focal_contacts"\ntier = "ward"')],
     r"deadlines\[0\]\.tier: tier 'ward' is not one of the event's tiers"),
    ("missing title", [('title = "Hội nghị trực tuyến toàn quốc phổ biến', 'name = "Hội nghị trực tuyến toàn quốc phổ biến')],
     r"title: required"),
    ("bad reminder offset", [('offset = "-P3D"', 'offset = "three days before"')],
     r"reminders\[0\]\.offset: "),
    ("tier listed twice", [('tier = "central"\nchair', 'tier = "commune"\nchair')],
     r"tiers\[3\]\.tier: tier 'commune' is listed twice"),
    ("tiers out of order", [('tier = "district"', 'tier = "XX"'), ('tier = "commune"', 'tier = "district"'),
                            ('tier = "XX"', 'tier = "commune"')],
     r"tiers\[3\]\.tier: tiers must be listed top-down"),
    # A date without a time would be read as midnight: refused, with its key path (issue 14).
    ("session start without a time", [("starts_at = 2024-06-28T08:30:00", "starts_at = 2024-06-28")],
     r"sessions\[1\]\.starts_at: a date without a time: write the time too"),
    ("session end without a time", [("ends_at = 2024-06-27T17:00:00", "ends_at = 2024-06-27")],
     r"sessions\[0\]\.ends_at: a date without a time"),
    ("session start as a date in a string", [("starts_at = 2024-06-27T14:00:00", 'starts_at = "2024-06-27"')],
     r"sessions\[0\]\.starts_at: a date without a time"),
    ("deadline without a time", [("due_at = 2024-06-20T00:00:00", "due_at = 2024-06-20")],
     r"deadlines\[0\]\.due_at: a date without a time"),
    # An end typed a day (or a month) too late.
    ("session longer than 24 hours", [("ends_at = 2024-06-28T11:30:00", "ends_at = 2024-06-29T11:30:00")],
     r"sessions\[1\]\.ends_at: a session lasts at most 24 hours, and this one lasts 27 hours"),
    ("session a month long", [("ends_at = 2024-06-27T17:00:00", "ends_at = 2024-07-27T17:00:00")],
     r"sessions\[0\]\.ends_at: a session lasts at most 24 hours, and this one lasts 723 hours"),
]


@pytest.mark.parametrize("name,replacements,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_plan_names_file_key_and_reason_and_saves_nothing(cli, client, auth, tmp_path, name,
                                                                 replacements, expected):
    path = write_plan(tmp_path, _nd49_with(replacements))
    for command in (["schedules", "check", str(path)], ["schedules", "load", str(path)]):
        result = cli(*command)
        assert result.exit_code == 1, result.output
        assert re.search(re.escape(str(path)) + r": " + expected, result.output), result.output
    assert client.get("/api/v1/events/nd49-2024", headers=auth).status_code == 404
    assert client.get("/api/v1/events", headers=auth).get_json()["total"] == 0


def test_every_error_is_reported_at_once(cli, tmp_path):
    path = write_plan(tmp_path, _nd49_with([
        ('timezone = "Asia/Ho_Chi_Minh"', 'timezone = "Mars/Olympus"'),
        ('tier = "district"', 'tier = "hamlet"'),
        ("ends_at = 2024-06-27T17:00:00", "ends_at = 2024-06-27T13:00:00"),
    ]))
    result = cli("schedules", "check", str(path))
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith(str(path))]
    assert len(errors) == 3, result.output


def test_toml_syntax_error_and_missing_file(cli, tmp_path):
    path = write_plan(tmp_path, 'slug = "x"\ntitle = "unterminated\n')
    result = cli("schedules", "check", str(path))
    assert result.exit_code == 1 and f"{path}: TOML syntax error" in result.output and "line 2" in result.output
    result = cli("schedules", "load", str(tmp_path / "nope.toml"))
    assert result.exit_code == 1 and "nope.toml: file not found" in result.output


def test_a_broken_update_leaves_the_event_as_it_was(cli, client, auth, tmp_path):
    cli("schedules", "load", str(ND49))
    before = event_json(client, auth)
    path = write_plan(tmp_path, _nd49_with([
        ("starts_at = 2024-06-28T08:30:00", "starts_at = 2024-06-28T09:00:00"),  # valid change...
        ('tier = "district"', 'tier = "hamlet"'),                                 # ...next to an error
    ]))
    assert cli("schedules", "load", str(path)).exit_code == 1
    assert event_json(client, auth) == before


def test_moving_a_session_bumps_only_its_sequence(cli, client, auth, tmp_path):
    cli("schedules", "load", str(ND49))
    path = write_plan(tmp_path, _nd49_with([("starts_at = 2024-06-28T08:30:00", "starts_at = 2024-06-28T09:00:00")]))
    result = cli("schedules", "load", str(path))
    assert "nd49-2024: updated" in result.output
    sessions = sessions_by_kind(event_json(client, auth))
    assert sessions["main"]["starts_at"] == "2024-06-28T09:00:00+07:00" and sessions["main"]["sequence"] == 1
    assert sessions["connectivity_test"]["sequence"] == 0


def test_explicit_offsets_are_converted_to_the_event_zone(cli, client, auth, tmp_path):
    path = write_plan(tmp_path, _nd49_with([
        ("starts_at = 2024-06-28T08:30:00", "starts_at = 2024-06-28T01:30:00Z"),
        ("ends_at = 2024-06-28T11:30:00", "ends_at = 2024-06-28T04:30:00Z"),
    ]))
    assert cli("schedules", "load", str(path)).exit_code == 0
    main = sessions_by_kind(event_json(client, auth))["main"]
    assert (main["starts_at"], main["ends_at"]) == ("2024-06-28T08:30:00+07:00", "2024-06-28T11:30:00+07:00")


def test_a_published_event_keeps_its_sessions(cli, client, auth, app, tmp_path):
    from coordinator.events.services import get_event, publish

    cli("schedules", "load", str(ND49))
    with app.app_context():
        publish(get_event("nd49-2024"))
    before = event_json(client, auth)
    text = ND49.read_text(encoding="utf-8")
    start = text.index("[[sessions]]\nkind = \"connectivity_test\"")
    end = text.index("[[sessions]]\nkind = \"main\"")
    without_test = text[:start] + text[end:]
    # ...and its reminders, so that the session's removal is the only problem.
    blocks = without_test.split("[[reminders]]")
    without_test = "[[reminders]]".join(b for b in blocks if 'anchor = "session:connectivity_test"' not in b)
    path = write_plan(tmp_path, without_test)
    result = cli("schedules", "load", str(path))
    assert result.exit_code == 1
    assert "session 'connectivity_test' cannot be removed from a Published event" in result.output
    assert event_json(client, auth) == before


def test_a_session_of_exactly_24_hours_is_accepted(cli, tmp_path):
    path = write_plan(tmp_path, _nd49_with([("ends_at = 2024-06-27T17:00:00", "ends_at = 2024-06-28T14:00:00")]))
    result = cli("schedules", "check", str(path))
    assert result.exit_code == 0, result.output


def test_the_24_hour_rule_counts_real_hours_and_is_translated(app):
    from flask_babel import force_locale

    from coordinator.events.plans import parse_plan, read_plan_file
    from coordinator.problems import Invalid

    data = read_plan_file(ND49).model_dump()
    # 25 wall-clock hours in Asia/Ho_Chi_Minh, given once with +07:00 and once as UTC: 25 real hours.
    data["sessions"][1]["starts_at"] = "2024-06-28T08:30:00+07:00"
    data["sessions"][1]["ends_at"] = "2024-06-29T02:30:00Z"
    with pytest.raises(Invalid) as exc:
        parse_plan(data)
    [error] = exc.value.problems
    assert error.field == "sessions[1].ends_at" and error.msg.params == {"hours": "25"}
    with app.test_request_context(), force_locale("vi"):
        from flask_babel import gettext

        assert error.localized() == gettext(error.msg.template, hours="25")


def test_moving_a_session_to_more_than_24_hours_is_refused(client, auth, cli):
    assert cli("schedules", "load", str(ND49)).exit_code == 0
    response = client.patch("/api/v1/events/nd49-2024/sessions/main", headers=auth,
                            json={"ends_at": "2024-06-30T11:30:00"})
    assert response.status_code == 422, response.get_json()
    [detail] = response.get_json()["error"]["details"]
    assert detail["field"] == "ends_at" and "51" in detail["message"]  # 28/06 08:30 to 30/06 11:30
    assert sessions_by_kind(event_json(client, auth))["main"]["ends_at"] == "2024-06-28T11:30:00+07:00"
    assert sessions_by_kind(event_json(client, auth))["main"]["sequence"] == 0


def test_the_organizers_form_refuses_a_session_over_24_hours_beside_its_end(organizer_client):
    from factories import EN, field_block, new_event_form, post_new

    response = post_new(organizer_client, new_event_form(**{"sessions-1-ends_at": "28/07/2024 11:30"}), headers=EN)
    assert response.status_code == 400
    assert "a session lasts at most 24 hours, and this one lasts 723 hours" in \
        field_block(response.get_data(as_text=True), "sessions-1-ends_at")
    assert organizer_client.get("/api/v1/events").get_json()["total"] == 0
