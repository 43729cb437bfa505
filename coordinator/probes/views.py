""""Probe now" on an endpoint's status page (the page itself is `coordinator.status.views`: the
status package shows what the probes found, and knows nothing of how they probe)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _

from coordinator.auth.permissions import require
from coordinator.events.lookup import event_or_404
from coordinator.probes import services as probes
from coordinator.status import services as status
from coordinator.status.labels import LAYER_LABELS, REACHABILITY_LABELS
from coordinator.status.views import endpoint_or_404, session_or_404

bp = Blueprint("probes", __name__)


@bp.post("/events/<slug>/status/endpoints/<int:endpoint_id>/probe")
@require("probes.run")
def probe(slug: str, endpoint_id: int):
    """Probe this endpoint now (a few seconds at most: PROBE_TIMEOUT_SECONDS)."""
    event = event_or_404(slug)
    endpoint_ = endpoint_or_404(event, endpoint_id, "probes.run")
    session = session_or_404(event, request.form.get("session"))
    summary = probes.sweep(event, session=session, endpoint_ids=[endpoint_.id], origin="endpoint")
    current = status.status_of(endpoint_.id, session.id)
    if summary.probed == 0 or current is None or current.probed_at is None:
        flash(_("Nothing to probe: the endpoint has no dial address that can be probed."), "warning")
    else:
        parts = [str(REACHABILITY_LABELS.get(status.reachability(current.probe_state), current.probe_state)),
                 str(LAYER_LABELS.get(current.probe_layer, current.probe_layer))]
        if current.probe_code:
            parts.append(str(current.probe_code))
        if current.probe_rtt_ms is not None:
            parts.append(f"{current.probe_rtt_ms:.0f} ms")
        flash(_("Probe result: %(result)s.", result=", ".join(parts)),
              "success" if current.probe_state == "connected" else "warning")
    return redirect(url_for("status.endpoint", slug=slug, endpoint_id=endpoint_id, session=session.kind))
