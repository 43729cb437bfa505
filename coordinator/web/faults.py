"""Honest answers when something outside the request fails.

- The database does not answer (down, restarting, a lost connection, SQLite locked by another
  writer for longer than its busy timeout, the connection pool exhausted): 503 with Retry-After,
  the request's transaction rolled back, and the answer says whether anything was saved — nothing,
  unless this request had already committed before the failure (then: reload and check). The API
  gets its JSON error shape, pages a translated page rendered without touching the database (no
  signed-in user, no permission checks: loading them is what may have failed).
- A request body over MAX_CONTENT_LENGTH (MAX_UPLOAD_BYTES): 413 naming the limit in MB, in the
  reader's language (Vietnamese by default), as the API's JSON error shape or as a page.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app, g, has_request_context, render_template, request, session
from flask_babel import force_locale, gettext as _
from sqlalchemy import event, exc as sa_exc
from sqlalchemy.orm import Session

from coordinator.extensions import db
from coordinator.web.errors import error_body

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
               sa_exc.TimeoutError)  # TimeoutError: the pool had no free connection in time
# SQLite raises OperationalError for mistakes in the program too; those stay 500s (a bug, not an outage).
_SQLITE_BUGS = ("no such table", "no such column", "syntax error", "has no column named", "no such function")


def is_unavailable(error: BaseException) -> bool:
    if not isinstance(error, UNAVAILABLE):
        return False
    text = str(getattr(error, "orig", None) or error).lower()
    return not any(marker in text for marker in _SQLITE_BUGS)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _locale() -> str:
    """The reader's language without the database: the switch kept in the (cookie) session, then
    Accept-Language, then the default. The account's saved preference needs the user row."""
    languages = current_app.config["LANGUAGES"]
    try:
        chosen = session.get("lang")
    except Exception:  # a session store that needs what just failed
        chosen = None
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def _render_bare(template: str, **context) -> str:
    """A page rendered without the context processors (they load the signed-in user)."""
    return current_app.jinja_env.get_template(template).render(request=request, **context)


# "Your change was saved" means: a transaction of this request that recorded an audit entry was
# committed (every change a person makes is audited, in the same transaction). Housekeeping
# commits (a sign-in session's last-seen time) record none and do not count. The audit entry's
# model is registered (`count_as_saved`, by `coordinator.history.handlers`): web knows no domain.
_SAVED_MARKS: list[type] = []


def count_as_saved(model: type) -> None:
    """Rows of `model` added in a committed transaction mean the request saved a change."""
    if model not in _SAVED_MARKS:
        _SAVED_MARKS.append(model)


def _note_audited(session_: Session, flush_context) -> None:
    marks = tuple(_SAVED_MARKS)
    if marks and any(isinstance(obj, marks) for obj in session_.new):
        session_.info["_audited"] = True


def _mark_commit(session_: Session) -> None:
    if session_.info.pop("_audited", False) and has_request_context():
        g._db_committed = True


def _forget_audited(session_: Session, previous_transaction=None) -> None:
    session_.info.pop("_audited", None)


def database_unavailable(error: Exception):
    if not is_unavailable(error):
        raise error
    try:
        db.session.rollback()
    except Exception:  # the connection is gone: the server has rolled back already
        log.debug("rollback after a database failure failed too", exc_info=True)
    saved = bool(g.get("_db_committed"))
    log.warning("database unavailable during %s %s (%s): answered 503%s", request.method, request.path,
                type(getattr(error, "orig", None) or error).__name__, ", after a commit" if saved else "")
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    with force_locale(_locale()):
        if saved:
            message = _("The database stopped answering after your change was saved, so this page could not be "
                        "shown. Reload the page to check, and do not enter the change again.")
        else:
            message = _("The database is not answering at the moment. Nothing was saved: please try again in "
                        "a minute.")
        if _wants_json():
            return error_body(503, message, {"saved": saved, "retry_after_seconds": RETRY_AFTER_SECONDS},
                              code="unavailable"), 503, headers
        body = _render_bare("errors/unavailable.html", message=message, code=503, current_locale=_locale())
    return body, 503, headers


def _megabytes(size: int) -> str:
    mb = size / (1024 * 1024)
    return f"{mb:.0f}" if mb >= 10 or mb == int(mb) else f"{mb:.1f}"


def too_large(error):
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    message = _("The file is larger than the %(mb)s MB limit. Nothing was saved: choose a smaller file "
                "(or split it) and send it again.", mb=_megabytes(limit))
    if _wants_json():
        return error_body(413, message, {"max_bytes": limit}, code="too_large"), 413
    return render_template("errors/error.html", code=413, message=message), 413


def init_faults(app: Flask) -> None:
    # Per code: found before flask-smorest's handler of every HTTPException (English descriptions).
    app.register_error_handler(413, too_large)
    for error_class in UNAVAILABLE:
        app.register_error_handler(error_class, database_unavailable)
    for name, listener in (("after_flush", _note_audited), ("after_commit", _mark_commit),
                           ("after_rollback", _forget_audited)):
        if not event.contains(Session, name, listener):  # one listener each, however many apps
            event.listen(Session, name, listener)
