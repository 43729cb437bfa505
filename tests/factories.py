"""What tests import: plain functions and constants, no pytest fixtures (those are in conftest.py,
built on these). `from factories import login, csrf_from` works from any directory under tests/:
pytest's default import mode (prepend) puts tests/ on sys.path when it loads tests/conftest.py.

- the private database of a test run (`Database`),
- data a test starts from: a user (`new_user`), an API token (`bearer`), the founding conference
  (`load_nd49`),
- a client signing in and submitting forms as a browser would (`login`, `csrf_from`, `form_values`),
- the Vietnamese UI's wording (`vi`) and the browser tests' sign-in and limits (`sign_in`, `TIMEOUT_MS`,
  `ARTIFACTS`).
"""
from __future__ import annotations

import os
import re
import uuid
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

from flask_babel import force_locale, gettext
from sqlalchemy import create_engine, text

from coordinator.auth.services import create_user, get_user_by_email, issue_token
from coordinator.config import normalise_database_url
from coordinator.events.plans import read_plan_file
from coordinator.events.services import apply_plan

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-9"  # every test user's password
ARTIFACTS = ROOT / "test-artifacts"  # screenshots and logs the browser tests leave behind
TIMEOUT_MS = 5_000  # a local server answers in milliseconds; fail fast rather than hang
NOT_VIETNAMESE = ("the page is not in Vietnamese: is the catalogue compiled "
                  "(coordinator/translations/vi/LC_MESSAGES/messages.mo)?")


# --- the test database -------------------------------------------------------------------------

def _pg_url_with_schema(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


class Database:
    """A private database for one test run: an SQLite file, or a fresh schema on PostgreSQL
    when TEST_DATABASE_URL is set."""

    def __init__(self, tmp_path: Path):
        base = os.environ.get("TEST_DATABASE_URL")
        self.schemas: list[str] = []
        if base:
            self.base = normalise_database_url(base)
            self.url = self.new_postgres_schema()
        else:
            self.base = None
            self.url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
        self.tmp_path = tmp_path

    @property
    def is_postgres(self) -> bool:
        return self.base is not None

    def new_postgres_schema(self) -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        engine = create_engine(self.base)
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        self.schemas.append(schema)
        return _pg_url_with_schema(self.base, schema)

    def new_empty_url(self) -> str:
        """Another empty database of the same kind (for migration tests)."""
        if self.is_postgres:
            return self.new_postgres_schema()
        return f"sqlite:///{self.tmp_path / f'empty-{uuid.uuid4().hex[:8]}.sqlite3'}"

    def drop(self) -> None:
        if not self.schemas:
            return
        engine = create_engine(self.base)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


# --- data a test starts from -------------------------------------------------------------------

def new_user(app, email: str, role: str, unit: str | None = None, structure: str = "2024") -> int:
    """An account with PASSWORD (scoped to `unit` of `structure` when given); returns its id."""
    with app.app_context():
        return create_user(email, PASSWORD, role, unit_code=unit, structure=structure).id


def bearer(app, email: str) -> dict[str, str]:
    """Request headers carrying a fresh API token of the account `email`."""
    with app.app_context():
        return {"Authorization": f"Bearer {issue_token(get_user_by_email(email))}"}


ND49 = "nd49-2024"


def load_nd49(app) -> str:
    """The founding conference, loaded from its plan file as it stands in the repository; returns its slug."""
    with app.app_context():
        apply_plan(read_plan_file(ROOT / "schedules" / f"{ND49}.toml"))
    return ND49


# --- signing in and submitting forms as a browser would ---------------------------------------

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client, email: str, password: str = PASSWORD):
    page = client.get("/login")
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


class _FormParser(HTMLParser):
    def __init__(self, action_contains: str):
        super().__init__()
        self.action_contains = action_contains
        self.values: dict[str, str] = {}
        self.in_form = self.done = False
        self.select = self.textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and not self.done:
            action = a.get("action") or ""
            self.in_form = (self.action_contains in action) if self.action_contains else not action
        if not self.in_form:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.values[name] = a.get("value", "")
        elif tag == "select":
            self.select = name
            self.values.setdefault(name, "")
        elif tag == "option" and self.select and "selected" in a:
            self.values[self.select] = a.get("value", "")
        elif tag == "textarea":
            self.textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "form" and self.in_form:
            self.in_form, self.done = False, True
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data):
        if self.textarea:
            self.values[self.textarea] += data


def form_values(html: str, action_contains: str = "") -> dict[str, str]:
    """What a browser would submit for the first <form> whose action contains `action_contains`
    (or that has no action): inputs, checked boxes, selected options and textareas."""
    parser = _FormParser(action_contains)
    parser.feed(html)
    values = parser.values
    for name, value in values.items():  # a browser drops the newline right after <textarea>
        if value.startswith("\n"):
            values[name] = value[1:]
    return values


# --- the Vietnamese UI, and the browser tests ---------------------------------------------------

def vi(app, message: str) -> str:
    """`message` as the Vietnamese UI shows it, from the compiled catalogue (so the test follows
    the translators' wording); fails if the catalogue has no translation for it."""
    with app.test_request_context(), force_locale("vi"):
        translated = gettext(message)
    assert translated != message, f"no Vietnamese translation for {message!r}: {NOT_VIETNAMESE}"
    return translated


def sign_in(page, email: str) -> None:
    """Sign in through the login page of a Playwright `page`, as a person would."""
    page.goto("/login")
    page.locator("[name=email]").fill(email)
    page.locator("[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


# --- the organizer's event form (tests/events, tests/test_field_cleaning.py) ----------------------------

EN = {"Accept-Language": "en"}


def new_event_form(**overrides) -> dict:
    data = {
        "title": "Hội nghị trực tuyến tập huấn Nghị định 49 tại Khánh Hòa",
        "slug": "tap-huan-kh",
        "legal_reference": "Nghị định số 49/2024/NĐ-CP",
        "timezone": "Asia/Ho_Chi_Minh",
        "unit_structure": "2024",
        "organizer_name": "Sở Thông tin và Truyền thông Khánh Hòa",
        "organizer_office": "Phòng Thông tin - Báo chí - Xuất bản",
        "organizer_email": "ttbcxb.stttt.kh@example.gov.vn",
        "organizer_phone": "0258.3563535",
        "tiers-0-tier": "central", "tiers-0-chair": "Lãnh đạo Bộ chủ trì.",
        "tiers-1-tier": "province", "tiers-1-chair": "Lãnh đạo Sở chủ trì.",
        "tiers-2-tier": "district", "tiers-2-chair": "Lãnh đạo Phòng Văn hóa - Thông tin chủ trì.",
        "tiers-3-tier": "commune", "tiers-3-may_attend_at_parent": "y",
        "sessions-0-kind": "connectivity_test", "sessions-0-starts_at": "27/06/2024 14:00",
        "sessions-0-ends_at": "27/06/2024 17:00",
        "sessions-1-kind": "main", "sessions-1-starts_at": "28/06/2024 08:30", "sessions-1-ends_at": "28/06/2024 11:30",
        "sessions-1-location": "Hội trường UBND tỉnh Khánh Hòa",
        "deadlines-0-kind": "focal_contacts", "deadlines-0-tier": "district", "deadlines-0-due_at": "20/06/2024 00:00",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_new(client, data, headers=None):
    page = client.get("/events/new", headers=headers).get_data(as_text=True)
    return client.post("/events/new", data={**data, "csrf_token": csrf_from(page)}, headers=headers)


def field_block(html: str, name: str) -> str:
    """The `.field` container that holds the input called `name`, HTML entities decoded."""
    blocks = re.split(r'(?=<div class="field)', unescape(html))
    return next(b for b in blocks if f'name="{name}"' in b)


# --- registering through the API and publishing (tests/invitations, tests/outbox) ------------------------

PROVINCE_CONTACTS = [
    {"name": "Đỗ Thị Hồng Ánh", "position": "Chuyên viên", "phone": "0905 111 222",
     "email": "Hong.Anh@KhanhHoa.example.gov.vn", "role": "technical"},
    {"name": "Nguyễn Văn Đức", "position": "Phó Giám đốc Sở", "phone": "0913 123 456",
     "email": "duc.nv@khanhhoa.example.gov.vn", "role": "chair"},
    {"name": "Lê Văn Không Thư", "phone": "0983 000 111", "role": "attendee"},  # no email: no invitation
]


def register(client, headers, unit_code, contacts, **fields):
    body = {"unit_code": unit_code, "name": f"Phòng họp trực tuyến {unit_code}", "address": "Số 1 Trần Phú, Nha Trang",
            "protocol": "sip", "dial": f"diemcau-{unit_code}@10.56.0.10", "contacts": contacts, **fields}
    response = client.post("/api/v1/events/nd49-2024/endpoints", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def publish(client, headers):
    response = client.post("/api/v1/events/nd49-2024/publish", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()
