from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from sqlalchemy import select

from coordinator.audit.actions import ACTION_LABELS, FAMILIES
from coordinator.auth.permissions import require
from coordinator.events.models import Event
from coordinator.extensions import db
from coordinator.history import services

bp = Blueprint("audit", __name__, url_prefix="/audit")
PAGE_SIZE = services.PAGE_SIZE


@bp.get("/")
@require("audit.view")
def index():
    filters = services.Filters.from_args(request.args)
    size = request.args.get("n", type=int) or PAGE_SIZE
    result = services.page(filters, before=request.args.get("before", type=int),
                           after=request.args.get("after", type=int), size=size)
    events = db.session.execute(select(Event.slug, Event.title, Event.short_title)
                                .order_by(Event.created_at.desc(), Event.id.desc())).all()
    keep = filters.args() | ({"n": result.size} if result.size != PAGE_SIZE else {})
    # A name typed for the unit that several units bear: each of them, to narrow down to one.
    matched = {u.code: u.name for u in result.resolved.units}
    unit_choices = [(code, name, url_for("audit.index", **{**keep, "unit": code}))
                    for code, name in matched.items()] if len(matched) > 1 or filters.unit not in matched else []
    return render_template("audit/index.html", page=result, filters=filters, keep=keep, events=events,
                           unit_choices=unit_choices, FAMILIES=FAMILIES, ACTION_LABELS=ACTION_LABELS)
