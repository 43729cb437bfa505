"""pytest fixtures, built on factories.py (which holds the plain helpers and data builders tests import):
a real database (SQLite file, or PostgreSQL when TEST_DATABASE_URL is set) built by the real Alembic
migrations with both bundled unit structures loaded once, clients, users, the founding conference,
and Chromium driven by Playwright for the browser tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

os.environ.setdefault("SECRET_KEY", "test-secret-key")  # before the app's modules are imported

from flask_migrate import upgrade  # noqa: E402

from coordinator import create_app  # noqa: E402
from coordinator.extensions import db, limiter  # noqa: E402
from coordinator.units.services import load_structure  # noqa: E402
from factories import TIMEOUT_MS, Database, bearer, load_nd49, login, new_user  # noqa: E402
from liveserver import live_server  # noqa: E402

# Everything but the units and their succession (loaded once per run and never changed by a test),
# children before parents: every table of the models, so a new one is never forgotten.
KEPT_TABLES = {"units", "unit_successions"}


def _per_test_tables() -> list[str]:
    return [t.name for t in reversed(db.metadata.sorted_tables) if t.name not in KEPT_TABLES]


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    private = Database(tmp_path_factory.mktemp("db"))
    yield private
    private.drop()


@pytest.fixture(scope="session")
def app(database):
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
    with app.app_context():
        limiter.reset()  # sign-in attempts counted by one test do not carry into the next
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


@pytest.fixture()
def make_user(app):
    """`make_user(email, role, unit=None, structure="2024")` -> the new account's id (factories.new_user)."""
    def make(email: str, role: str, unit: str | None = None, structure: str = "2024"):
        return new_user(app, email, role, unit, structure)

    return make


@pytest.fixture()
def organizer_client(client, make_user):
    make_user("organizer@example.gov.vn", "organizer")
    login(client, "organizer@example.gov.vn")
    return client


@pytest.fixture()
def token_for(app):
    """`token_for(email)` -> headers with a fresh API token of that account (factories.bearer)."""
    def issue(email: str) -> dict[str, str]:
        return bearer(app, email)

    return issue


@pytest.fixture()
def nd49(app):
    """The founding conference, loaded from its plan file as it stands in the repository."""
    return load_nd49(app)


# --- browser tests: Debian's Chromium driven by Playwright against a live server -----------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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
    # Here, not at the top: a run without browser tests does not load Playwright.
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
