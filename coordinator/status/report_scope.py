"""What the status reports (readiness.py, attendance.py) share: their vocabulary, the session a
report is about, and the lines of a report, one per province (and the central unit), within what
the user may see.

Each report is a few queries grouped by province in SQL: the province code is cut out of the unit's
path, as in `coordinator.reports.services`. A coordinator sees its subtree only (`scope_path`).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, literal_column, select

from coordinator.auth.permissions import scope_path
from coordinator.endpoints.models import Endpoint
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.status.models import STATES, EndpointStatus
from coordinator.units.models import PATH_SEPARATOR, ROOT_CODE, Unit, province_code

CONNECTED, DEGRADED, FAILED, UNKNOWN = STATES
TO_FIX = (FAILED, DEGRADED, UNKNOWN)
CENTRAL, PROVINCE, TOTAL = "central", "province", "total"
TECHNICAL = "technical"
READINESS_SESSION, ATTENDANCE_SESSION = "connectivity_test", "main"

STATE_LABELS = {
    CONNECTED: _l("Connected"),
    DEGRADED: _l("Degraded"),
    FAILED: _l("Failed"),
    UNKNOWN: _l("Unknown"),
}


# --- lines: one per province (and the central unit), keyed in SQL -----------------------------------

class Scope:
    """The provinces a user may see and the SQL expression that tells a unit's province.

    The expression cuts the path just after the root ("/TW/") as wide as the longest province
    code plus one: "56/" for "/TW/56/568/22333/", "" for the root. What comes before its first "/"
    is the province code (see `coordinator.reports.services._Lines`)."""

    def __init__(self, event: Event, user):
        self.path = scope_path(user, event.unit_structure) if user is not None else None
        self.provinces: dict[str, str] = {}
        self.central_name = ROOT_CODE
        width = 1
        for code, name, tier, path in db.session.execute(
                select(Unit.code, Unit.name, Unit.tier, Unit.path)
                .where(Unit.structure == event.unit_structure, Unit.tier.in_((CENTRAL, PROVINCE)))
                .order_by(Unit.code)):
            if tier == PROVINCE:
                width = max(width, len(code))
                if self.sees(path):
                    self.provinces[code] = name
            elif code == ROOT_CODE:
                self.central_name = name
        root = PATH_SEPARATOR + ROOT_CODE + PATH_SEPARATOR
        self.shows_central = self.path is None or self.path == root
        # Literal integers (ours), so that PostgreSQL sees the SELECT's and GROUP BY's expressions as one.
        self.key = func.substr(Unit.path, literal_column(str(len(root) + 1)), literal_column(str(width + 1)))

    def sees(self, province_path: str) -> bool:
        """A province's line is shown when it lies in the user's subtree or contains it."""
        return self.path is None or province_path.startswith(self.path) or self.path.startswith(province_path)

    def where(self, stmt, column=Unit.path):
        return stmt if self.path is None else stmt.where(column.startswith(self.path))

    @staticmethod
    def code(key: str | None) -> str:
        return (key or "").split(PATH_SEPARATOR, 1)[0] or ROOT_CODE

    def province_name(self, code: str) -> str:
        """The name of the province (or the central unit) of that code, as the lines show it."""
        return self.central_name if code == ROOT_CODE else self.provinces.get(code, code)


province_of = province_code  # the reports' name for it


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def session_for(event: Event, kind: str | None, default: str) -> EventSession | None:
    """The event's session of `kind`; without a kind, the `default` kind, else the first session
    (readiness) or the last (attendance)."""
    if kind:
        return event.session(kind)
    found = event.session(default)
    if found is None and event.sessions:
        found = event.sessions[0] if default == READINESS_SESSION else event.sessions[-1]
    return found


def status_join(stmt, session: EventSession):
    """`stmt` (over endpoints) with each endpoint's status in `session`, None where none is recorded."""
    return stmt.outerjoin(EndpointStatus, and_(EndpointStatus.endpoint_id == Endpoint.id,
                                               EndpointStatus.session_id == session.id))
