"""The demo data of a fresh installation (`make run`): demo accounts, and demo endpoints with their
contacts for one province of an event. Idempotent, callable without a CLI (the commands
`flask users demo` and `flask events demo-registrations` print what these return)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from coordinator.auth.permissions import SystemActor
from coordinator.auth.services import create_user, get_user_by_email
from coordinator.endpoints import services as endpoints
from coordinator.events.models import Event
from coordinator.extensions import db
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
