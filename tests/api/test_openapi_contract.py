"""The OpenAPI document tells the truth (issue 15, point 9): schemathesis generates requests for
every operation of /api/v1/openapi.json, valid and invalid, sends them to the app with an
organizer's bearer token and seeded data, and checks that the answers are what the document
says: no server error, a documented status code and content type, and a body that conforms to
the documented schema (for errors: the one envelope `{"error": {code, message, details}}`).

Bounded and reproducible: a few examples per operation, derandomized, no example database. A
larger run by hand, against a live server: see README (API section)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

SLUG = "nd49-2024"
KH = "56"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 10


@pytest.fixture()
def seeded(app, make_user, token_for, nd49, client):
    """An organizer (the caller), a coordinator account, a registered endpoint with contacts and
    a reminder rule: the resources the path parameters name. Seeded afresh for each operation."""
    make_user("org@example.gov.vn", "organizer")
    coordinator = make_user("kh@example.gov.vn", "coordinator", KH)
    headers = token_for("org@example.gov.vn")
    endpoint = client.post(f"/api/v1/events/{SLUG}/endpoints", headers=headers, json={
        "unit_code": KH, "name": "Hội trường Sở", "protocol": "sip", "dial": "diemcau-kh@10.56.0.10",
        "contacts": [{"name": "Đỗ Thị Hồng Anh", "phone": "0913 123 456", "role": "technical",
                      "email": "kh@example.gov.vn"}]})
    assert endpoint.status_code == 201, endpoint.get_json()
    rules = client.get(f"/api/v1/events/{SLUG}/reminders", headers=headers).get_json()["items"]
    assert rules, "the plan file's reminders"
    return {"headers": headers, "path": {"slug": SLUG, "endpoint_id": endpoint.get_json()["id"],
                                         "rule_id": rules[0]["rule"]["id"], "user_id": coordinator}}


def _document() -> dict:
    """The OpenAPI document, as the app serves it (it does not depend on the database)."""
    from coordinator import create_app

    doc_app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return doc_app.test_client().get("/api/v1/openapi.json").get_json()


# One test per operation (schemathesis's lazy `from_fixture` schema needs a pytest older than ours).
schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, app, seeded):
    # The path parameters name the seeded resources (random ones would only ever be 404: the
    # 404s are checked below and by the run against a live server); the rest is generated,
    # schema-valid and not.
    if case.path_parameters:
        case.path_parameters = {**case.path_parameters,
                                **{k: v for k, v in seeded["path"].items() if k in case.path_parameters}}
    # identity: the WSGI transport hands schemathesis the bytes as sent, and does not gunzip what
    # Flask-Compress compresses (an HTTP client does: the live-server run covers gzip).
    case.call_and_validate(headers={**seeded["headers"], "Accept-Encoding": "identity"}, checks=CHECKS, app=app)


# --- what schemathesis found, one test each -----------------------------------------------------

def _resolve(spec, obj):
    while "$ref" in obj:
        section, name = obj["$ref"].split("/")[-2:]
        obj = spec["components"][section][name]
    return obj


def test_every_error_response_documents_the_one_envelope(client):
    """The document declared flask-smorest's {code, status, message, errors}; the API sends
    {"error": {code, message, details}}. Now every error status of every operation, and the
    default response, is that envelope (or an envelope whose details say more)."""
    spec = client.get("/api/v1/openapi.json").get_json()
    envelope = spec["components"]["schemas"]["Error"]
    assert envelope["required"] == ["error"] and set(envelope["properties"]) == {"error"}
    body = _resolve(spec, envelope["properties"]["error"])
    assert set(body["properties"]) == set(body["required"]) == {"code", "message", "details"}
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()
                  if method != "parameters"]
    assert len(operations) >= 32
    for path, method, op in operations:
        statuses = set(op["responses"])
        assert {"default", "401", "403", "503"} <= statuses, (method, path, statuses)
        if "{" in path:
            assert "404" in statuses, (method, path)
        if method in ("post", "patch", "delete"):
            assert "400" in statuses, (method, path)
        for status, response in op["responses"].items():
            if status != "default" and int(status) < 400:
                continue
            schema = _resolve(spec, _resolve(spec, response)["content"]["application/json"]["schema"])
            assert set(schema["properties"]) == {"error"}, (method, path, status)
            inner = _resolve(spec, schema["properties"]["error"])
            assert {"code", "message", "details"} <= set(inner["properties"]), (method, path, status)
    unauthorized = spec["components"]["responses"]["UNAUTHORIZED"]
    assert "WWW-Authenticate" in unauthorized["headers"]


def test_a_check_of_an_endpoint_id_beyond_the_column_is_refused_not_a_crash(client, make_user, token_for, nd49):
    """POST /events/<slug>/checks with an endpoint_id beyond 64 bits was a 500 (SQLite cannot bind
    it); now 422 naming the field, like any id the id columns cannot hold."""
    make_user("op@example.gov.vn", "operator")
    headers = token_for("op@example.gov.vn")
    for endpoint_id in (2**64, 2**63, 2**31, 0, -(2**64)):
        response = client.post(f"/api/v1/events/{SLUG}/checks", headers=headers,
                               json={"checks": [{"endpoint_id": endpoint_id, "state": "connected"}]})
        assert response.status_code == 422, (endpoint_id, response.get_json())
        assert "endpoint_id" in response.get_json()["error"]["details"]["json"]["checks"]["0"]
    # In a path, an id no row can have is no such resource.
    for path in (f"/api/v1/endpoints/{2**64}", f"/api/v1/endpoints/{2**31}", f"/api/v1/users/{2**64}",
                 f"/api/v1/events/{SLUG}/reminders/{2**64}"):
        response = client.get(path, headers=headers)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found", path
    response = client.post(f"/api/v1/endpoints/{2**64}/checks", headers=headers, json={"state": "connected"})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_numbers_beyond_the_columns_are_422_not_500(client, make_user, token_for, nd49):
    make_user("org@example.gov.vn", "organizer")
    headers = token_for("org@example.gov.vn")
    response = client.post(f"/api/v1/events/{SLUG}/endpoints", headers=headers,
                           json={"unit_code": KH, "name": "Hội trường Sở", "expected_attendance": 2**64})
    assert response.status_code == 422
    assert [d["field"] for d in response.get_json()["error"]["details"]] == ["expected_attendance"]
    assert client.get(f"/api/v1/events/{SLUG}/endpoints", headers=headers).get_json()["total"] == 0
    for path in (f"/api/v1/events/{SLUG}/messages?offset={2**63}", f"/api/v1/units?page={2**62}",
                 f"/api/v1/users?page={2**62}", f"/api/v1/events/{SLUG}/endpoints?page={2**62}"):
        response = client.get(path, headers=headers)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_request", path


def test_an_api_write_without_credentials_is_401_not_a_csrf_failure(client, make_user, nd49):
    """Unauthenticated writes were answered 400 "CSRF check failed": a client without credentials
    must be told to authenticate (401, WWW-Authenticate), in the error envelope."""
    body = {"unit_code": KH, "name": "Hội trường Sở"}
    for response in (client.post(f"/api/v1/events/{SLUG}/endpoints", json=body),
                     client.patch("/api/v1/endpoints/1", json={"name": "x"}),
                     client.delete(f"/api/v1/events/{SLUG}/reminders/1"),
                     client.post(f"/api/v1/events/{SLUG}/publish"),
                     client.post("/api/v1/users", json={"email": "x@example.gov.vn", "role": "operator"}),
                     client.post(f"/api/v1/events/{SLUG}/endpoints", json=body,
                                 headers={"Authorization": "Basic b3JnOnB3"})):
        assert response.status_code == 401, response.get_json()
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        error = response.get_json()["error"]
        assert error["code"] == "unauthorized" and "Bearer" in error["message"] and error["details"] == {}
    # A browser's cookie of nobody (it saw the sign-in page, never signed in) is no credential either.
    client.get("/login")
    assert client.post(f"/api/v1/events/{SLUG}/endpoints", json=body).status_code == 401
    # A wrong token: 401 as before.
    assert client.post(f"/api/v1/events/{SLUG}/endpoints", json=body,
                       headers={"Authorization": "Bearer forged"}).status_code == 401


def test_a_signed_in_browser_without_the_csrf_token_is_still_refused(client, make_user, nd49):
    from factories import csrf_from, login

    make_user("org@example.gov.vn", "organizer")
    login(client, "org@example.gov.vn")
    body = {"unit_code": KH, "name": "Hội trường Sở"}
    response = client.post(f"/api/v1/events/{SLUG}/endpoints", json=body)
    assert response.status_code == 400 and "CSRF" in response.get_json()["error"]["message"]
    token = csrf_from(client.get("/events/").get_data(as_text=True))
    assert client.post(f"/api/v1/events/{SLUG}/endpoints", json=body, headers={"X-CSRFToken": token}).status_code == 201


def test_the_schemas_say_which_values_the_rules_accept(client):
    """Schema-valid requests were refused with 422 where the document could have said so: the
    fixed lists the code checks against are enums of the document, from the same constants."""
    from coordinator.endpoints.models import CONTACT_ROLES, PROTOCOLS
    from coordinator.events.models import REMINDER_AUDIENCES, REMINDER_CHANNELS, SESSION_KINDS
    from coordinator.outbox.models import CHANNELS, STATUSES
    from coordinator.events import reminder_texts as templates
    from coordinator.reminders import rules
    from coordinator.units.models import TIERS

    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for name in ("Rule", "RulePatch"):
        rule = schemas[name]["properties"]
        assert rule["anchor"]["enum"] == list(rules.ANCHORS)
        assert rule["channel"]["enum"] == list(REMINDER_CHANNELS)
        assert rule["audience"]["enum"] == list(REMINDER_AUDIENCES)
        assert rule["offset_seconds"]["maximum"] == rules.MAX_OFFSET_SECONDS == -rule["offset_seconds"]["minimum"]
        assert rule["template"]["maxLength"] == templates.MAX_TEMPLATE_CHARS
        for placeholder in templates.SESSION_PLACEHOLDERS + templates.DEADLINE_PLACEHOLDERS:
            assert placeholder in rule["template"]["allOf"][0]["pattern"]
    assert schemas["Contact"]["properties"]["role"]["enum"] == list(CONTACT_ROLES)
    assert schemas["EndpointInput"]["properties"]["protocol"]["enum"] == list(PROTOCOLS)
    kind = next(p for p in spec["paths"]["/api/v1/events/{slug}/sessions/{kind}"]["parameters"] if p["name"] == "kind")
    assert kind["schema"]["enum"] == list(SESSION_KINDS)
    messages = {p["name"]: p["schema"] for p in spec["paths"]["/api/v1/events/{slug}/messages"]["get"]["parameters"]}
    assert messages["channel"]["enum"] == list(CHANNELS) and messages["status"]["enum"] == list(STATUSES)
    incidents = {p["name"]: p["schema"] for p in spec["paths"]["/api/v1/events/{slug}/incidents"]["get"]["parameters"]}
    assert incidents["tier"]["enum"] == list(TIERS) and incidents["session"]["enum"] == ["", *SESSION_KINDS]
    # The documented template pattern is the rule's: a template it accepts passes, one it refuses does not.
    import re

    pattern = re.compile(schemas["Rule"]["properties"]["template"]["allOf"][0]["pattern"])
    assert pattern.match("Hop {event} luc {local_time}; {{khong}} {confirm_url}")
    assert not pattern.match("Hop {ngay}") and not pattern.match("Hop {event")


def test_a_method_the_url_does_not_allow_says_which_it_does(client, make_user, token_for):
    make_user("op@example.gov.vn", "operator")
    response = client.delete("/api/v1/events", headers=token_for("op@example.gov.vn"))
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "OPTIONS"}
