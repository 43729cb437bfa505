"""Input no part of the product can hold: a NUL character in the query string or the path.

PostgreSQL refuses NUL in text (a search `?q=a%00b` reached a LIKE and answered 500); no
Vietnamese name, phone or search contains one. Refused here, once, before any view runs: 400 with
the API's error shape under /api/, the error page elsewhere. Form fields and JSON bodies are
checked where they are read (the field cleaners of `coordinator.fields` name the field; the
sign-in form treats a NUL as a wrong address), files by the spreadsheet readers.
"""
from __future__ import annotations

from flask import Flask, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

from coordinator.web.errors import error_body


def _has_nul() -> bool:
    if "%00" in request.query_string.decode("latin-1").lower() or "\x00" in request.path:
        return True
    return False


def register(app: Flask) -> None:
    @app.before_request
    def _refuse_nul():
        if not _has_nul():
            return None
        message = _("The request contains a NUL character (code 0), which no field can hold. "
                    "Nothing was saved.")
        if request.path.startswith("/api/"):
            return jsonify(error_body(400, message, code="invalid_character")), 400
        raise BadRequest(message)
