"""End to end in headless Chromium: an organizer on a Vietnamese office PC signs in and creates
an event through the form; a wrong submission shows its error next to the field concerned.

Needs Debian's Chromium at /usr/bin/chromium (Playwright's own browsers are never downloaded).
Without it the tests are skipped, unless REQUIRE_BROWSER=1 (as in CI), where they fail.
"""
from __future__ import annotations

import re


from factories import ARTIFACTS, NOT_VIETNAMESE, PASSWORD, vi  # tests/ is on sys.path (rootdir conftest, no package)

ORGANIZER = "organizer@example.gov.vn"
TITLE = "Hội nghị trực tuyến thử nghiệm Khánh Hòa"
ORGANIZER_NAME = "Sở Thông tin và Truyền thông Khánh Hòa"
CENTRAL_CHAIR = "Bộ trưởng Bộ Thông tin và Truyền thông"
PROVINCE_CHAIR = "Chủ tịch UBND tỉnh Khánh Hòa"


def sign_in_as_organizer(page, make_user) -> None:
    from playwright.sync_api import expect

    make_user(ORGANIZER, "organizer")
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator("main h1"), NOT_VIETNAMESE).to_have_text("Đăng nhập")
    expect(page.locator("main form button[type=submit]"), NOT_VIETNAMESE).to_have_text("Đăng nhập")
    page.locator("[name=email]").fill(ORGANIZER)
    page.locator("[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/events/$"))


def open_new_event_form(page, app) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name=vi(app, "New event"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/events/new$"))
    expect(page.locator("main h1")).to_have_text(vi(app, "New event"))
    # The form starts with the top tier chosen and the event in Viet Nam's zone.
    expect(page.locator("[name=tiers-0-tier]")).to_have_value("central")
    expect(page.locator("[name=timezone]")).to_have_value("Asia/Ho_Chi_Minh")


def fill_event(page, *, slug: str, main_ends: str) -> None:
    page.locator("[name=title]").fill(TITLE)
    page.locator("[name=slug]").fill(slug)
    page.locator("[name=organizer_name]").fill(ORGANIZER_NAME)
    page.locator("[name=tiers-0-chair]").fill(CENTRAL_CHAIR)
    page.locator("[name=tiers-1-tier]").select_option("province")
    page.locator("[name=tiers-1-chair]").fill(PROVINCE_CHAIR)
    page.locator("[name=sessions-0-kind]").select_option("connectivity_test")
    page.locator("[name=sessions-0-starts_at]").fill("27/06/2024 14:00")
    page.locator("[name=sessions-0-ends_at]").fill("27/06/2024 17:00")
    page.locator("[name=sessions-1-kind]").select_option("main")
    page.locator("[name=sessions-1-starts_at]").fill("28/06/2024 08:30")
    page.locator("[name=sessions-1-ends_at]").fill(main_ends)


def submit_event_form(page, app) -> None:
    page.locator("form.event-form").get_by_role("button", name=vi(app, "Save"), exact=True).click()


def test_organizer_creates_an_event_in_the_vietnamese_ui(app, page, context, make_user):
    from playwright.sync_api import expect

    sign_in_as_organizer(page, make_user)
    open_new_event_form(page, app)
    fill_event(page, slug="thu-nghiem-kh", main_ends="28/06/2024 11:30")
    submit_event_form(page, app)

    expect(page).to_have_url(re.compile(r"/events/thu-nghiem-kh$"))
    expect(page.locator(".flash-success")).to_have_text(vi(app, "Event created."))
    expect(page.locator("main h1")).to_have_text(TITLE)
    expect(page).to_have_title(TITLE)
    expect(page.locator("dl.facts")).to_contain_text(ORGANIZER_NAME)
    expect(page.locator("dl.facts")).to_contain_text("Asia/Ho_Chi_Minh")
    # Sessions, in order of start, as dd/mm/yyyy HH:MM in the event's zone.
    sessions = page.locator("table.list").first.locator("tbody tr")
    expect(sessions).to_have_count(2)
    expect(sessions.nth(0).locator("td").nth(1)).to_have_text("27/06/2024 14:00")
    expect(sessions.nth(0).locator("td").nth(2)).to_have_text("27/06/2024 17:00")
    expect(sessions.nth(1).locator("td").nth(1)).to_have_text("28/06/2024 08:30")
    expect(sessions.nth(1).locator("td").nth(2)).to_have_text("28/06/2024 11:30")
    expect(page.locator("main")).to_contain_text(CENTRAL_CHAIR)
    expect(page.locator("main")).to_contain_text(PROVINCE_CHAIR)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "event-created.png"), full_page=True)

    # What was stored, through the API, with the browser's own session cookie.
    response = context.request.get("/api/v1/events/thu-nghiem-kh")
    assert response.status == 200, response.text()
    event = response.json()
    assert event["title"] == TITLE
    assert event["organizer"]["name"] == ORGANIZER_NAME
    assert event["timezone"] == "Asia/Ho_Chi_Minh"
    assert event["status"] == "draft"
    assert event["tiers"] == ["central", "province"]
    assert [(r["tier"], r["chair"]) for r in event["tier_roles"]] == [
        ("central", CENTRAL_CHAIR), ("province", PROVINCE_CHAIR)]
    times = {s["kind"]: (s["starts_at"], s["ends_at"]) for s in event["sessions"]}
    assert times == {
        "connectivity_test": ("2024-06-27T14:00:00+07:00", "2024-06-27T17:00:00+07:00"),
        "main": ("2024-06-28T08:30:00+07:00", "2024-06-28T11:30:00+07:00"),
    }


def submit_main_session_ending_before_it_starts(page, app, make_user) -> None:
    sign_in_as_organizer(page, make_user)
    open_new_event_form(page, app)
    fill_event(page, slug="thu-nghiem-loi", main_ends="28/06/2024 08:00")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/events/new")) as posted:
        submit_event_form(page, app)
    assert posted.value.status == 400


def test_a_session_ending_before_it_starts_is_flagged_next_to_its_field(app, page, context, make_user):
    from playwright.sync_api import expect

    submit_main_session_ending_before_it_starts(page, app, make_user)

    expect(page).to_have_url(re.compile(r"/events/new$"))
    # The error sits in the same .field as the end-time input, and only there.
    ends_field = page.locator(".field", has=page.locator("[name=sessions-1-ends_at]"))
    expect(ends_field).to_have_class(re.compile(r"\bhas-error\b"))
    expect(ends_field.locator("ul.errors li")).to_have_count(1)
    expect(ends_field.locator("ul.errors li")).to_have_text(re.compile(r"\S"))
    expect(page.locator("[name=sessions-1-ends_at]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field.has-error")).to_have_count(1)

    # Nothing was created.
    assert context.request.get("/api/v1/events/thu-nghiem-loi").status == 404

    # What the organizer typed is all still there, to be corrected rather than retyped.
    expected_values = {
        "title": TITLE, "slug": "thu-nghiem-loi", "organizer_name": ORGANIZER_NAME,
        "timezone": "Asia/Ho_Chi_Minh",
        "tiers-0-tier": "central", "tiers-0-chair": CENTRAL_CHAIR,
        "tiers-1-tier": "province", "tiers-1-chair": PROVINCE_CHAIR,
        "sessions-0-kind": "connectivity_test",
        "sessions-0-starts_at": "27/06/2024 14:00", "sessions-0-ends_at": "27/06/2024 17:00",
        "sessions-1-kind": "main",
        "sessions-1-starts_at": "28/06/2024 08:30", "sessions-1-ends_at": "28/06/2024 08:00",
    }
    for name, value in expected_values.items():
        expect(page.locator(f"[name={name}]")).to_have_value(value)


def test_a_session_error_is_also_announced_at_the_top_of_the_form(app, page, make_user):
    from playwright.sync_api import expect

    submit_main_session_ending_before_it_starts(page, app, make_user)
    expect(page.locator(".field.has-error")).to_have_count(1)
    expect(page.locator("main [role=alert]").first).to_have_text(vi(app, "Please correct the marked fields."))
    # The message beside the field is in Vietnamese too.
    expect(page.locator(".field.has-error ul.errors")).to_have_text(vi(app, "the end must be after the start"))
