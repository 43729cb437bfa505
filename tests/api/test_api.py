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
