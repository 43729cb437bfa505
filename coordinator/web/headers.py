"""Security headers on every response, set in one place (registered by the app factory).

- Content-Security-Policy: everything from this origin only; no page may be framed
  (`frame-ancestors 'none'`: clickjacking of the confirm and sign-in buttons). Scripts are the
  static files and the inline `<script nonce="{{ csp_nonce() }}">` blocks of our templates: an
  injected script or an `on…=` attribute does not run. Styles allow inline `style=`
  attributes and `<style>` blocks ('unsafe-inline'): the status bars are drawn with per-row
  widths, and CSS cannot run script.
- X-Content-Type-Options: nosniff (an uploaded file is never run as a script or a page).
- Referrer-Policy: no-referrer where the address carries a credential (the confirmation link
  /c/<token>; the set-password pages set it themselves), same-origin elsewhere.
- Strict-Transport-Security when the request came over https (directly, or through a proxy
  trusted by TRUST_PROXY_HEADERS) or the public address is https; HSTS_SECONDS = 0 turns it off.
"""
from __future__ import annotations

import secrets

from flask import Flask, Response, current_app, g, request


def csp_nonce() -> str:
    """This request's nonce for inline `<script>` blocks (a Jinja global)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join((
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def _https() -> bool:
    return request.is_secure or current_app.config.get("PUBLIC_BASE_URL", "").startswith("https://") \
        or current_app.config.get("PREFERRED_URL_SCHEME") == "https"


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")  # browsers without frame-ancestors
    headers.setdefault("Referrer-Policy", "no-referrer" if request.path.startswith("/c/") else "same-origin")
    max_age = int(current_app.config.get("HSTS_SECONDS", 0) or 0)
    if max_age > 0 and _https():
        headers.setdefault("Strict-Transport-Security", f"max-age={max_age}")
    return response


def register(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_security_headers)
