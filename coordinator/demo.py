"""The demo data of a fresh installation (`make run`): demo accounts, demo endpoints with their
contacts for one province of an event, and a rehearsal whose connectivity test is under way with
a few incidents open (so the operations room has something to work on). Idempotent, callable
without a CLI (`flask users demo`, `flask events demo-registrations` and `flask events demo-live`
print what these return)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from coordinator.auth.permissions import SystemActor
from coordinator.auth.services import create_user, get_user_by_email
from coordinator.config import PROJECT_ROOT
from coordinator.endpoints import services as endpoints
from coordinator.events.models import Event
from coordinator.events.plans import parse_plan
from coordinator.events.services import apply_plan, get_event, publish
from coordinator.extensions import db
from coordinator.status import services as status
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit
from coordinator.units.services import get_unit

DEMO_PASSWORD = "demo-2024"
# Accounts of the 2024 units, as a ministry's existing ones are: the succession of units scopes
# them in 2025 events too (2024 Khánh Hòa -> 2025 Khánh Hòa).
DEMO_UNIT_STRUCTURE = "2024"


@dataclass(frozen=True)
class DemoUser:
    email: str
    role: str
    unit: str | None  # unit code in DEMO_UNIT_STRUCTURE: a coordinator's scope
    name: str
    password: str = DEMO_PASSWORD


DEMO_USERS = (
    DemoUser("admin@demo.gov.vn", "admin", None, "Quản trị hệ thống"),
    DemoUser("organizer@demo.gov.vn", "organizer", None, "Cục Thông tin cơ sở"),
    DemoUser("khanhhoa@demo.gov.vn", "coordinator", "56", "Sở TT&TT Khánh Hòa"),
    DemoUser("hanoi@demo.gov.vn", "coordinator", "01", "Sở TT&TT Hà Nội"),
    DemoUser("operator@demo.gov.vn", "operator", None, "Kỹ thuật viên trực"),
)


def ensure_demo_user(demo: DemoUser) -> bool:
    """Create the demo account `demo` unless its email exists (committed); True when created."""
    if get_user_by_email(demo.email) is not None:
        return False
    create_user(demo.email, demo.password, demo.role, unit_code=demo.unit,
                structure=DEMO_UNIT_STRUCTURE if demo.unit else None, display_name=demo.name)
    return True


def create_demo_users() -> tuple[DemoUser, ...]:
    """Every demo account, created where missing; returns their logins."""
    for demo in DEMO_USERS:
        ensure_demo_user(demo)
    return DEMO_USERS


class UnknownProvince(LookupError):
    def __init__(self, code: str):
        super().__init__(f"no province {code}")
        self.code = code


@dataclass
class DemoRegistrations:
    province: Unit
    districts: int  # the province's child units (registered now or before)


def _demo_endpoint(unit: Unit, province: str, i: int) -> dict:
    suffix = f"{i:02d}"
    return {
        "name": f"Hội trường {unit.name}", "address": unit.name, "protocol": "sip",
        "dial": f"sip:diemcau-{unit.code}@10.{int(province)}.{i}.1", "provider": "VNPT",
        "contacts": [
            {"name": f"Lãnh đạo {unit.name}", "position": "Lãnh đạo", "phone": f"0913 100 1{suffix}",
             "email": f"lanhdao.{unit.code}@example.gov.vn", "role": "chair"},
            {"name": f"Cán bộ kỹ thuật {unit.name}", "position": "Chuyên viên", "phone": f"0905 200 2{suffix}",
             "email": f"kythuat.{unit.code}@example.gov.vn", "role": "technical"},
        ],
    }


def register_demo_endpoints(event: Event, province: str = "56") -> DemoRegistrations:
    """Register demo endpoints and contacts for `province` of `event` and for each of its districts
    (two of a district's communes attending at the district's endpoint), so that a fresh demo has
    something to look at. Units already registered are left as they are. Raises UnknownProvince."""
    actor = SystemActor()
    root = get_unit(event.unit_structure, province)
    if root is None:
        raise UnknownProvince(province)
    children = db.session.scalars(select(Unit).where(Unit.parent_id == root.id).order_by(Unit.code)).all()
    for i, unit in enumerate([root] + children):
        if endpoints.endpoint_of_unit(event, unit) is not None:
            continue
        endpoints.save_endpoint(event, unit, endpoints.clean_endpoint(_demo_endpoint(unit, province, i)), actor=actor)
        if unit.tier != "province":
            for commune in endpoints.may_host(event, unit)[:2]:
                endpoints.attend_at_parent(event, commune, actor=actor)
    return DemoRegistrations(province=root, districts=len(children))


LIVE_SLUG = "dien-tap-nd49"
LIVE_PLAN = PROJECT_ROOT / "schedules" / "nd49-2024.toml"


@dataclass
class DemoLive:
    event: Event
    created: bool
    failed: list[str]  # the units whose endpoint an operator's check marked failed (incidents opened)


def create_demo_live_event(now: datetime | None = None, province: str = "56") -> DemoLive:
    """A rehearsal of nd49 whose connectivity test is under way now (started 30 minutes ago, for
    three hours), published, with the demo endpoints of `province` registered and an operator's
    check marking three district endpoints failed: the operations room has incidents to work from
    the first minute of a demo. Idempotent: an existing rehearsal is left as it is."""
    now = now or utcnow()
    existing = get_event(LIVE_SLUG)
    if existing is not None:
        return DemoLive(existing, False, [])
    data = tomllib.loads(LIVE_PLAN.read_text(encoding="utf-8"))
    zone = ZoneInfo(data["timezone"])
    start = (now - timedelta(minutes=30)).astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
    data["slug"] = LIVE_SLUG
    data["title"] = "Diễn tập: " + data["title"]
    data["short_title"] = "Diễn tập " + data.get("short_title", "")
    for session in data["sessions"]:
        if session["kind"] == "connectivity_test":
            session["starts_at"], session["ends_at"] = start, start + timedelta(hours=3)
        else:
            session["starts_at"] = start + timedelta(days=1)
            session["ends_at"] = start + timedelta(days=1, hours=3)
    data["deadlines"] = []
    data["reminders"] = []
    actor = SystemActor()
    event = apply_plan(parse_plan(data), actor=actor).event
    register_demo_endpoints(event, province)
    publish(event, actor=actor)
    session = next(s for s in event.sessions if s.kind == "connectivity_test")
    failed = []
    root = get_unit(event.unit_structure, province)
    for unit in db.session.scalars(select(Unit).where(Unit.parent_id == root.id).order_by(Unit.code).limit(3)):
        endpoint = endpoints.endpoint_of_unit(event, unit)
        if endpoint is not None:
            status.record(endpoint, session, "operator", "failed", note="Mất tín hiệu hình (dữ liệu demo)",
                          actor_label="demo")
            failed.append(unit.name)
    return DemoLive(event, True, failed)
