"""The operations room's own pages: the search of every dashboard page (`/events/<slug>/status/search`:
one endpoint found is a jump to its page, several are listed), and a person's choice of the sound
and title-bar count for new incidents (`POST /status/alert`, what the dashboards' script sends when
the bell is pressed; read back by every dashboard page). Thin: `status.search` and
`auth.services.set_alert_sound` do the work."""
from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from coordinator.auth import services as auth
from coordinator.auth.permissions import require, scope_path
from coordinator.events.lookup import event_or_404
from coordinator.status import services as status
from coordinator.status import views as status_views
from coordinator.status.labels import MATCH_LABELS
from coordinator.status.views import session_or_404
from coordinator.web.views import safe_next

bp = Blueprint("status_ops", __name__)
bp.context_processor(status_views._labels)  # the status pages' words, for the shared macros


@bp.context_processor
def _words():
    return {"MATCH_LABELS": MATCH_LABELS}


@bp.get("/events/<slug>/status/search")
@require("status.view")
def search(slug: str):
    """Endpoints found by `q` (a unit's name or code, a room, a dial address, a contact's name or
    phone); exactly one found: its page."""
    event = event_or_404(slug)
    session = session_or_404(event, request.args.get("session"))
    q = (request.args.get("q") or "").strip()[:status.SEARCH_MAX_Q]
    results = status.find_endpoints(event, q, session=session, scope=scope_path(current_user, event.unit_structure),
                                    limit=status.SEARCH_MAX_LIMIT)
    if len(results.items) == 1 and not results.more:
        return redirect(url_for("status.endpoint", slug=slug, endpoint_id=results.items[0].id, session=session.kind))
    return render_template("status/search.html", event=event, session=session, q=q, results=results)


@bp.post("/status/alert")
@require("status.view")
def alert():
    """Turn the sound and title-bar count for new incidents on (`alert_sound=1`) or off: the
    script asks for JSON; without it, back to the page (`next`)."""
    on = auth.set_alert_sound(current_user, request.form.get("alert_sound") in ("1", "true", "on"))
    if request.accept_mimetypes.best == "application/json" or request.headers.get("X-Requested-With"):
        return jsonify(alert_sound=on)
    return redirect(safe_next(request.form.get("next")) or url_for("events.list_events"))
