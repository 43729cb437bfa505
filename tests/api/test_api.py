"""The OpenAPI document and the shape of the read-only API."""
from __future__ import annotations


def test_openapi_document_describes_the_api(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    assert {"/api/v1/units", "/api/v1/events", "/api/v1/events/{slug}"} <= set(paths)
    params = {p["name"] for p in paths["/api/v1/units"]["get"]["parameters"]}
    assert {"tier", "parent", "q", "page", "per_page"} <= params
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    event = spec["components"]["schemas"]["Event"]["properties"]
    assert {"slug", "title", "timezone", "status", "tiers", "sessions", "deadlines", "tier_roles"} <= set(event)
    session = spec["components"]["schemas"]["Session"]["properties"]
    assert {"kind", "starts_at", "ends_at", "ical_uid", "sequence"} <= set(session)


def test_events_list_and_detail(client, make_user, token_for, nd49):
    make_user("coordinator@example.gov.vn", "coordinator", "56")
    headers = token_for("coordinator@example.gov.vn")
    body = client.get("/api/v1/events", headers=headers).get_json()
    assert body["total"] == 1 and body["items"][0]["slug"] == "nd49-2024"
    detail = client.get("/api/v1/events/nd49-2024", headers=headers)
    assert detail.headers["Content-Type"].startswith("application/json")
    assert "Nghị định số 49/2024/NĐ-CP" in detail.get_data(as_text=True)  # UTF-8, not \\u escapes


def test_unknown_path_and_method_are_json_errors(client, make_user, token_for):
    make_user("operator@example.gov.vn", "operator")
    headers = token_for("operator@example.gov.vn")
    response = client.get("/api/v1/nothing-here", headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    response = client.delete("/api/v1/events", headers=headers)
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"


def test_pages_keep_html_errors(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")


def test_health_check(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_every_api_module_finds_the_event_with_the_one_lookup(app, client, make_user, token_for, nd49):
    """events.lookup.event_or_404 for every operation naming an event (issue 15: three API modules
    had their own): an unknown slug is the same 404, and a coordinator whose account has no unit in
    the event's structure is told so (403 `no_scope`), as the event's pages tell it."""
    from datetime import date

    from coordinator.events.plans import read_plan_file, shift_plan
    from coordinator.events.services import apply_plan
    from factories import ROOT

    with app.app_context():
        e2025 = apply_plan(shift_plan(read_plan_file(ROOT / "schedules" / "example-2025-two-tier.toml"),
                                      date(2027, 4, 1))).event.slug
    make_user("org@example.gov.vn", "organizer")
    make_user("nhatrang@example.gov.vn", "coordinator", "568", "2024")  # a 2024 district: no 2025 unit
    org, nhatrang = token_for("org@example.gov.vn"), token_for("nhatrang@example.gov.vn")
    for path in ("", "/registration", "/endpoints", "/reminders", "/invitations"):
        response = client.get(f"/api/v1/events/nowhere{path}", headers=org)
        assert response.status_code == 404 and response.get_json()["error"]["message"] == "no event 'nowhere'", path
    for response in (client.get(f"/api/v1/events/{e2025}", headers=nhatrang),
                     client.get(f"/api/v1/events/{e2025}/endpoints", headers=nhatrang),
                     client.post(f"/api/v1/events/{e2025}/endpoints/import", headers=nhatrang, data={},
                                 content_type="multipart/form-data")):
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "no_scope"
    assert client.get(f"/api/v1/events/{nd49}", headers=nhatrang).status_code == 200
