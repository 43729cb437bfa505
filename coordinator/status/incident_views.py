"""The incident list page and its downloads: filters and pages in SQL (no cap, no "and 2,255 more"),
the same filters as GET /api/v1/events/<slug>/incidents."""
from __future__ import annotations

from datetime import datetime

from flask import Response, abort, render_template, request
from flask_login import current_user
from sqlalchemy import select

from coordinator.auth.permissions import scope_path
from coordinator.events.labels import TIER_LABELS
from coordinator.extensions import db
from coordinator.spreadsheets.safe import write_csv, write_xlsx
from coordinator.status import services as status
from coordinator.status.labels import CAUSE_LABELS, LAYER_LABELS, label
from coordinator.timeutil import format_local, utcnow
from coordinator.units.models import Unit
from coordinator.web.downloads import named
from coordinator.events.lookup import event_or_404

PER_PAGE = 50
EXPORT_LIMIT = 100_000
TIERS = ("central", "province", "district", "commune")


def filters_from(args) -> dict:
    """The list's filters from a query string; unknown values are ignored."""
    open_ = {"true": True, "1": True, "false": False, "0": False, "all": None}.get((args.get("open") or "true").lower(),
                                                                                   True)
    tier = args.get("tier") if args.get("tier") in TIERS else None
    cause = args.get("cause") if args.get("cause") in CAUSE_LABELS else None
    province = (args.get("province") or "").strip() or None
    return {"province": province, "tier": tier, "cause": cause, "open_": open_}


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def _session(event):
    kind = request.args.get("session")
    session = event.session(kind) if kind else status.current_session(event)
    if session is None:
        abort(404)
    return session


def _provinces(event) -> list[tuple[str, str]]:
    scope = scope_path(current_user, event.unit_structure)
    rows = db.session.execute(select(Unit.code, Unit.name, Unit.path).where(
        Unit.structure == event.unit_structure, Unit.tier == "province").order_by(Unit.code)).all()
    return [(c, n) for c, n, p in rows if scope is None or p.startswith(scope) or scope.startswith(p)]


def page(slug: str):
    event = event_or_404(slug)
    session = _session(event)
    filters = filters_from(request.args)
    number = _page_number()
    items, total = status.list_incidents(event, session, scope=scope_path(current_user, event.unit_structure), page=number,
                                         per_page=PER_PAGE, **filters)
    pages = max(1, -(-total // PER_PAGE))
    return render_template("status/incidents.html", event=event, session=session, items=items, total=total,
                           page=number, pages=pages, filters=filters, provinces=_provinces(event), tiers=TIERS,
                           now=utcnow(), args={k: v for k, v in request.args.items() if k != "page"})


HEADERS = ("STT", "Mã tỉnh", "Tỉnh, thành phố", "Mã đơn vị", "Đơn vị", "Cấp", "Điểm cầu", "Nguyên nhân", "Lớp lỗi",
           "Mã lỗi", "Mở lúc", "Đóng lúc", "Thời gian (phút)", "SMS đã gửi")
WIDTHS = (6, 8, 24, 10, 28, 11, 32, 18, 22, 8, 17, 17, 12, 10)


def export(slug: str, fmt: str):
    if fmt not in ("xlsx", "csv"):
        abort(404)
    event = event_or_404(slug)
    session = _session(event)
    items, _ = status.list_incidents(event, session, scope=scope_path(current_user, event.unit_structure), page=1,
                                     per_page=EXPORT_LIMIT, **filters_from(request.args))
    now = utcnow()
    tz = event.timezone
    rows = [[i, it["province_code"], it["province"], it["unit_code"], it["unit"],
             label(TIER_LABELS, it["tier"]), it["endpoint"], label(CAUSE_LABELS, it["cause"]),
             label(LAYER_LABELS, it["layer"]), it["code"], format_local(it["opened_at"], tz),
             format_local(it["resolved_at"], tz) if it["resolved_at"] else "",
             round(_minutes(it["opened_at"], it["resolved_at"] or now), 1), it["notified"]]
            for i, it in enumerate(items, start=1)]
    name = f"Sự cố - {session.kind} - {event.slug}.{fmt}"
    if fmt == "csv":
        body, mimetype = write_csv(HEADERS, rows), "text/csv; charset=utf-8"
    else:
        body = write_xlsx(HEADERS, rows, sheet_title="Sự cố", widths=WIDTHS)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return named(Response(body, mimetype=mimetype), name)


def _minutes(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60
