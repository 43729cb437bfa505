"""The one error envelope of the JSON answers: `{"error": {"code", "message", "details"}}`, used
by the API (`coordinator.api`) and by the answers the web layer gives before or instead of any
view (a database outage, a body too large, a NUL in the address)."""
from __future__ import annotations

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
}


def error_body(status: int, message: str, details=None, code: str | None = None) -> dict:
    return {"error": {"code": code or ERROR_CODES.get(status, "error"), "message": message, "details": details or {}}}
