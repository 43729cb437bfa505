"""The incident list: a session's incidents newest first with their endpoint, unit, province,
state, owner and notes; filters and pages in SQL (the incident page, its downloads, the API, the
dashboards' box of the newest open ones). Three queries a page: the incidents, their notes, the
provinces' names."""
from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from coordinator.auth.models import User
from coordinator.endpoints.models import Endpoint
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.status.models import Incident, IncidentNote
from coordinator.units.models import Unit

CHUNK = 500


def user_label(display_name: str | None, email: str | None) -> str:
    """How a person is named on the pages and in the API: their name, else their email."""
    return display_name or email or ""


def _person(uid, name, email) -> dict | None:
    return None if uid is None else {"id": uid, "name": user_label(name, email), "email": email}


def notes_of(incident_ids: list[int]) -> dict[int, list[dict]]:
    """Each incident's notes, oldest first: {incident id: [{id, at, by, author_id, text}]}."""
    out: dict[int, list[dict]] = {}
    ids = sorted(set(incident_ids))
    for i in range(0, len(ids), CHUNK):
        for note in db.session.scalars(select(IncidentNote).where(IncidentNote.incident_id.in_(ids[i:i + CHUNK]))
                                       .order_by(IncidentNote.incident_id, IncidentNote.id)):
            out.setdefault(note.incident_id, []).append({"id": note.id, "at": note.created_at, "by": note.author_label,
                                                          "author_id": note.author_id, "text": note.text})
    return out


def list_incidents(event: Event, session: EventSession, *, scope: str | None = None, province: str | None = None,
                   tier: str | None = None, cause: str | None = None, open_: bool | None = True,
                   state: str | None = None, page: int = 1, per_page: int = 50, ids: list[int] | None = None,
                   with_notes: bool = True) -> tuple[list[dict], int]:
    """Incidents newest first with their endpoint, unit, province, owner and notes; filters and
    pages in SQL. `scope`: a coordinator's subtree path. `open_`: True not resolved (open or
    acknowledged), False resolved, None either; `state`: one IncidentState; `ids`: these only."""
    where = [Incident.session_id == session.id]
    if province:
        where.append(Incident.province_code == province)
    if tier:
        where.append(Incident.tier == tier)
    if cause:
        where.append(Incident.cause == cause)
    if state:
        where.append(Incident.state == state)
    if ids is not None:
        where.append(Incident.id.in_(ids))
    if open_ is True:
        where.append(Incident.resolved_at.is_(None))
    elif open_ is False:
        where.append(Incident.resolved_at.is_not(None))
    owner, resolver = aliased(User), aliased(User)
    base = (select(Incident, Endpoint.name, Unit.code, Unit.name, Unit.path, owner.id, owner.display_name, owner.email,
                   resolver.id, resolver.display_name, resolver.email)
            .join(Endpoint, Incident.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id)
            .outerjoin(owner, owner.id == Incident.owner_id).outerjoin(resolver, resolver.id == Incident.resolved_by_id)
            .where(*where))
    counted = select(func.count()).select_from(Incident).where(*where)
    if scope is not None:
        base = base.where(Unit.path.startswith(scope))
        counted = (select(func.count()).select_from(Incident).join(Endpoint, Incident.endpoint_id == Endpoint.id)
                   .join(Unit, Endpoint.unit_id == Unit.id).where(*where, Unit.path.startswith(scope)))
    total = db.session.scalar(counted)
    page = max(1, page)
    found = db.session.execute(base.order_by(Incident.opened_at.desc(), Incident.id.desc())
                               .limit(per_page).offset((page - 1) * per_page)).all()
    names = dict(db.session.execute(select(Unit.code, Unit.name).where(
        Unit.structure == event.unit_structure, Unit.tier.in_(("central", "province")))).all())
    notes = notes_of([row[0].id for row in found]) if with_notes and found else {}
    items = [{"incident": i, "id": i.id, "endpoint_id": i.endpoint_id, "endpoint": name, "unit_code": code,
              "unit": unit_name, "unit_path": path, "province_code": i.province_code,
              "province": names.get(i.province_code, ""), "tier": i.tier, "cause": i.cause, "layer": i.layer,
              "code": i.code, "detail": i.detail, "opened_at": i.opened_at, "resolved_at": i.resolved_at,
              "notified": i.notified, "digest_id": i.digest_id, "state": i.state,
              "owner": _person(oid, oname, oemail), "acknowledged_at": i.acknowledged_at,
              "resolution": i.resolution, "resolution_reason": i.resolution_reason,
              "resolved_by": _person(rid, rname, remail), "escalated_at": i.escalated_at, "escalation": i.escalation,
              "escalated": i.escalated, "notes": notes.get(i.id, [])}
             for i, name, code, unit_name, path, oid, oname, oemail, rid, rname, remail in found]
    return items, total


def open_incidents(event: Event, session: EventSession, province: str | None = None, limit: int = 10) -> list[dict]:
    """The newest open incidents (the dashboards' box): `limit` of them, in SQL."""
    items, _ = list_incidents(event, session, province=province, open_=True, per_page=limit, with_notes=False)
    return items


def incident_item(event: Event, session: EventSession, incident_id: int) -> dict | None:
    """One incident as the list gives it (with its notes), or None."""
    items, _ = list_incidents(event, session, ids=[incident_id], open_=None, per_page=1)
    return items[0] if items else None


def item_of(incident_id: int) -> tuple[Event, dict] | None:
    """One incident as the list gives it, with its event (for the API); None when there is none."""
    session = db.session.scalar(select(EventSession).join(Incident, Incident.session_id == EventSession.id)
                                .where(Incident.id == incident_id))
    if session is None:
        return None
    item = incident_item(session.event, session, incident_id)
    return (session.event, item) if item else None


def endpoint_notes(endpoint_id: int, session_id: int) -> list[SimpleNamespace]:
    """The notes on an endpoint's incidents in a session, as lines of its timeline (source "note")."""
    rows = db.session.execute(select(IncidentNote, Incident.id).join(Incident, IncidentNote.incident_id == Incident.id)
                              .where(Incident.endpoint_id == endpoint_id, Incident.session_id == session_id)
                              .order_by(IncidentNote.id.desc()).limit(200)).all()
    return [SimpleNamespace(source="note", state="", created_at=n.created_at, note=n.text, actor_label=n.author_label,
                            incident_id=incident_id, layer="", code=None, rtt_ms=None, target="", audio=None,
                            video=None, content=None) for n, incident_id in rows]
