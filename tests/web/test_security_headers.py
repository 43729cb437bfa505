"""Security headers on every response: a Content-Security-Policy that runs only our own scripts
and forbids framing, nosniff, a Referrer-Policy that never leaks the confirmation link, and HSTS
over https."""
from __future__ import annotations

import re

import pytest

from factories import login


def _csp(response) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/login", "/password/forgot", "/c/1-1-aaaaaaaaaa", "/api/v1/units", "/healthz",
                                  "/static/app.css", "/no-such-page"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = _csp(response)
    assert csp["default-src"] == "default-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["object-src"] == "object-src 'none'"
    assert "'unsafe-inline'" not in csp["script-src"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # plain http: no HSTS


def test_the_confirmation_link_is_never_sent_on_as_a_referer(client):
    assert client.get("/c/1-1-aaaaaaaaaa").headers["Referrer-Policy"] == "no-referrer"
    assert client.post("/c/1-1-aaaaaaaaaa").headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/password/some-token").headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/login").headers["Referrer-Policy"] == "same-origin"


def test_hsts_over_https(client):
    response = client.get("/login", base_url="https://hoinghi.example.gov.vn")
    assert re.fullmatch(r"max-age=\d{7,}", response.headers["Strict-Transport-Security"])


def test_each_page_has_its_own_nonce_and_inline_scripts_carry_it(app, organizer_client, nd49):
    first = organizer_client.get(f"/events/{nd49}/reminders/new")
    second = organizer_client.get(f"/events/{nd49}/reminders/new")
    nonces = []
    for response in (first, second):
        match = re.search(r"'nonce-([^']+)'", _csp(response)["script-src"])
        assert match, "no nonce in script-src"
        nonces.append(match.group(1))
        html = response.get_data(as_text=True)
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts and all('src="' in tag or f'nonce="{match.group(1)}"' in tag for tag in scripts), scripts
    assert nonces[0] != nonces[1]


def test_pages_carry_no_inline_event_handlers(app, client, make_user, nd49):
    """`onsubmit=` / `onclick=` would be blocked by the policy: the pages use data attributes
    that the site's script turns into the same confirmations."""
    make_user("admin@example.gov.vn", "admin")
    login(client, "admin@example.gov.vn")
    from coordinator.events.services import get_event

    with app.app_context():
        event = get_event(nd49)
        rule_id = event.reminder_rules[0].id
        session = event.sessions[0].kind
    pages = ["/events/", f"/events/{nd49}", f"/events/{nd49}/registration", f"/events/{nd49}/progress",
             f"/events/{nd49}/reminders/{rule_id}", f"/events/{nd49}/status", "/users/",
             f"/events/{nd49}/reports/attendance?session={session}"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert not re.search(r"<[^>]+\son[a-z]+=", html), path
