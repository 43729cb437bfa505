"""Test fixtures: a real database (SQLite file, or PostgreSQL when TEST_DATABASE_URL is set),
built by the real Alembic migrations, with both bundled unit structures loaded once."""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from liveserver import live_server

os.environ.setdefault("SECRET_KEY", "test-secret-key")

from coordinator import create_app  # noqa: E402
from coordinator.config import normalise_database_url  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Everything but the units and their succession (loaded once per run and never changed by a test),
# children before parents: every table of the models, so a new one is never forgotten.
KEPT_TABLES = {"units", "unit_successions"}


def _per_test_tables() -> list[str]:
    from coordinator.extensions import db

    return [t.name for t in reversed(db.metadata.sorted_tables) if t.name not in KEPT_TABLES]


def _pg_url_with_schema(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


class Database:
    """A private database for one test run: an SQLite file, or a fresh schema on PostgreSQL."""

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


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    db = Database(tmp_path_factory.mktemp("db"))
    yield db
    db.drop()


@pytest.fixture(scope="session")
def app(database):
    from flask_migrate import upgrade

    from coordinator.units.services import load_structure

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database.url,
                      # The file mail backend (the default) writes here, not under the repository's instance/.
                      "MAIL_FILE_DIR": str(database.tmp_path / "mail")})
    with app.app_context():
        upgrade()
        load_structure("2024")
        load_structure("2025")
    return app


@pytest.fixture(autouse=True)
def _clean_tables(request):
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from coordinator.extensions import limiter

    with app.app_context():
        limiter.reset()  # sign-in attempts counted by one test do not carry into the next
    from coordinator.extensions import db

    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in _per_test_tables():
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture()
def app_ctx(app):
    """For service-level tests. Don't combine with `client`: requests would share this context's `g`."""
    with app.app_context():
        yield app
        from coordinator.extensions import db

        db.session.remove()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=list(args), catch_exceptions=False)

    return invoke


PASSWORD = "correct-horse-9"


@pytest.fixture()
def make_user(app):
    from coordinator.auth.services import create_user

    def make(email: str, role: str, unit: str | None = None, structure: str = "2024"):
        with app.app_context():
            user = create_user(email, PASSWORD, role, unit_code=unit, structure=structure)
            return user.id

    return make


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


@pytest.fixture()
def organizer_client(client, make_user):
    make_user("organizer@example.gov.vn", "organizer")
    login(client, "organizer@example.gov.vn")
    return client


@pytest.fixture()
def token_for(app):
    from coordinator.auth.services import get_user_by_email, issue_token

    def issue(email: str) -> dict[str, str]:
        with app.app_context():
            return {"Authorization": f"Bearer {issue_token(get_user_by_email(email))}"}

    return issue


@pytest.fixture()
def nd49(app):
    """The founding conference, loaded from its plan file as it stands in the repository."""
    from coordinator.events.plans import read_plan_file
    from coordinator.events.services import apply_plan

    with app.app_context():
        apply_plan(read_plan_file(ROOT / "schedules" / "nd49-2024.toml"))
    return "nd49-2024"


def form_values(html: str, action_contains: str = "") -> dict[str, str]:
    """What a browser would submit for the first <form> whose action contains `action_contains`
    (or that has no action): inputs, checked boxes, selected options and textareas."""
    from html.parser import HTMLParser

    class Parser(HTMLParser):
        def __init__(self):
            super().__init__()
            self.values: dict[str, str] = {}
            self.in_form = self.done = False
            self.select = self.textarea = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "form" and not self.done:
                action = a.get("action") or ""
                self.in_form = (action_contains in action) if action_contains else not action
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

    parser = Parser()
    parser.feed(html)
    values = parser.values
    for name, value in values.items():  # a browser drops the newline right after <textarea>
        if value.startswith("\n"):
            values[name] = value[1:]
    return values


# --- browser tests: Debian's Chromium driven by Playwright against a live server -----------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TIMEOUT_MS = 5_000  # a local server answers in milliseconds; fail fast rather than hang

NOT_VIETNAMESE = ("the page is not in Vietnamese: is the catalogue compiled "
                  "(coordinator/translations/vi/LC_MESSAGES/messages.mo)?")


def vi(app, message: str) -> str:
    """`message` as the Vietnamese UI shows it, from the compiled catalogue (so the test follows
    the translators' wording); fails if the catalogue has no translation for it."""
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale("vi"):
        text = gettext(message)
    assert text != message, f"no Vietnamese translation for {message!r}: {NOT_VIETNAMESE}"
    return text


def sign_in(page, email: str) -> None:
    """Sign in through the login page, as a person would."""
    page.goto("/login")
    page.locator("[name=email]").fill(email)
    page.locator("[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def base_url(app):
    with live_server(app) as url:
        yield url


@pytest.fixture()
def context(browser, base_url):
    # vi-VN: Chromium then sends `Accept-Language: vi-VN`, as a Vietnamese office PC would.
    context = browser.new_context(locale="vi-VN", base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture()
def page(context):
    return context.new_page()


