from __future__ import annotations

from flask import Blueprint, render_template, request

from coordinator.audit import services
from coordinator.auth.permissions import require

bp = Blueprint("audit", __name__, url_prefix="/audit")
PAGE_SIZE = 100


@bp.get("/")
@require("audit.view")
def index():
    entries = services.recent(PAGE_SIZE, before_id=request.args.get("before", type=int))
    older = entries[-1].id if len(entries) == PAGE_SIZE else None
    return render_template("audit/index.html", entries=entries, older=older)
