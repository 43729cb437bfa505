"""In headless Chromium: the long lists stay usable (issue 13, points 7 and 8).

Hà Nội in the 2024 structure is 610 units. Its coordinator opens the registration page at 1366 px:
one page of rows (not 610) with a pager, a server-side search without diacritics ("ba dinh" finds
"Quận Ba Đình", "my duc" finds a district several pages further on). On a 390 px phone the same
rows are cards, nothing scrolls sideways, and the header keeps who is signed in on one line
however long the name. The organizer's progress page fits a 1366 px screen, is cards at 390 px,
and its search keeps one province.

The assertions use ids, data attributes, codes and unit names from the data, not the wording of
the interface (its catalogue is translated separately)."""
from __future__ import annotations

import re

import pytest

from factories import ARTIFACTS, PASSWORD, TIMEOUT_MS, sign_in

SLUG = "nd49-2024"
HN_COORDINATOR = "hanoi@example.gov.vn"
ORGANIZER = "organizer@example.gov.vn"
# A long name on the header: with the unit's name it is ~45 characters, far more than a phone's header has.
LONG_NAME = "Nguyễn Thị Phương Thảo Chuyên viên Sở"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
MAX_PAGE_BYTES = 150_000


@pytest.fixture()
def hanoi(app, nd49):
    """Hà Nội's registration half done, as in the middle of a campaign: Quận Ba Đình registered
    through the services (two contacts), then bulk rows: every other district with an endpoint,
    and of their communes three in five with an endpoint of their own and one in five attending
    at the district's; two contacts on every endpoint. A coordinator of Hà Nội with a long name,
    and an organizer."""
    from sqlalchemy import insert, select

    from coordinator.auth.permissions import SystemActor
    from coordinator.auth.services import create_user
    from coordinator.endpoints import services as endpoints
    from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.units.models import Unit
    from coordinator.units.services import get_unit

    with app.app_context():
        event = get_event(nd49)
        values = endpoints.clean_endpoint({
            "name": "Hội trường UBND Quận Ba Đình", "address": "Số 25 phố Liễu Giai", "protocol": "sip",
            "dial": "sip:badinh@10.1.0.1",
            "contacts": [{"name": "Trần Văn Chủ Trì", "phone": "0912 001 001", "role": "chair"},
                         {"name": "Lê Thị Kỹ Thuật", "phone": "0983 001 001", "role": "technical"}]})
        endpoints.save_endpoint(event, get_unit("2024", "001"), values, actor=SystemActor())

        hn = get_unit("2024", "01")
        units = db.session.execute(select(Unit.id, Unit.code, Unit.name, Unit.tier, Unit.parent_id)
                                   .where(Unit.structure == "2024", Unit.path.startswith(hn.path),
                                          Unit.code != "001").order_by(Unit.path)).all()
        districts = {u.id for u in units if u.tier == "district"}
        districts = set(sorted(districts)[::2])  # every other district
        own, hosted = [], []
        for i, u in enumerate(units):
            if u.id in districts:
                own.append(u)
            elif u.tier == "commune" and u.parent_id in districts:
                if i % 5 == 0:
                    hosted.append(u)
                elif i % 5 != 4:  # the fifth one: nothing yet
                    own.append(u)
        db.session.execute(insert(Endpoint), [
            {"event_id": event.id, "unit_id": u.id, "name": f"Phòng họp trực tuyến {u.name}",
             "address": f"Trụ sở UBND {u.name}", "protocol": "sip", "dial": f"sip:{u.code}@10.1.0.2",
             "upstream_bridge": "", "provider": "VNPT"} for u in own])
        endpoint_of = dict(db.session.execute(select(Endpoint.unit_id, Endpoint.id)
                                              .where(Endpoint.event_id == event.id)).all())
        db.session.execute(insert(HostedUnit), [
            {"event_id": event.id, "endpoint_id": endpoint_of[u.parent_id], "unit_id": u.id} for u in hosted])
        db.session.execute(insert(Contact), [
            {"endpoint_id": endpoint_of[u.id], "role": role, "name": f"{who} {u.code}", "position": "Chuyên viên",
             "phone": f"+84{prefix}{n:06d}", "phone_type": "mobile", "email": ""}
            for n, u in enumerate(own)
            for role, who, prefix in (("chair", "Nguyễn Văn", "912"), ("technical", "Phạm Thị", "983"))])
        db.session.commit()
        create_user(HN_COORDINATOR, PASSWORD, "coordinator", unit_code="01", structure="2024",
                    display_name=LONG_NAME)
        create_user(ORGANIZER, PASSWORD, "organizer")
        return {"units": len(units) + 1}


@pytest.fixture()
def phone(browser, base_url):
    """A phone: 390 × 844 CSS pixels, touch, and a mobile viewport (the page's own
    `<meta name=viewport>` decides its layout width, as on a real phone)."""
    context = browser.new_context(locale="vi-VN", base_url=base_url, viewport=PHONE, is_mobile=True,
                                  has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def _scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def _too_wide(page, width: int) -> list:
    """For the failure message: the innermost elements that reach beyond `width`, with their
    classes and text (what to fix)."""
    return page.evaluate("""w => [...document.querySelectorAll('body *')].filter(e => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.right > w + 0.5 && ![...e.children].some(c => c.getBoundingClientRect().right > w + 0.5);
      }).slice(0, 8).map(e => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px): `
                               + e.textContent.trim().slice(0, 60))""", width)


def _fits_phone(page) -> None:
    """The page is laid out at the phone's width: a phone browser zooms out a page wider than the
    screen (window.innerWidth grows), and nothing scrolls sideways."""
    assert page.evaluate("window.innerWidth") == PHONE["width"], _too_wide(page, PHONE["width"])
    assert _scroll_width(page) <= PHONE["width"], _too_wide(page, PHONE["width"])


def _display(page, selector: str) -> str:
    return page.evaluate("s => getComputedStyle(document.querySelector(s)).display", selector)


def _boxes_outside(page, selector: str, width: int) -> list:
    """The elements of `selector` that reach beyond [0, width] horizontally."""
    return page.evaluate("""([s, w]) => [...document.querySelectorAll(s)].map(e => {
                              const r = e.getBoundingClientRect();
                              return {id: e.id || e.className, left: r.left, right: r.right};
                            }).filter(b => b.left < -0.5 || b.right > w + 0.5)""", [selector, width])


def _screenshot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def test_registration_list_is_paged_and_searched_without_diacritics(app, page, hanoi):
    from playwright.sync_api import expect

    page.set_viewport_size(DESKTOP)
    sign_in(page, HN_COORDINATOR)
    response = page.goto(f"/events/{SLUG}/registration")
    assert response.ok
    assert len(response.body()) < MAX_PAGE_BYTES, f"{len(response.body()):,} bytes"
    expect(page.locator("main h1")).to_contain_text("Thành phố Hà Nội")
    rows = page.locator("table.units tbody tr")
    # One page, not the 610 units of Hà Nội.
    count = rows.count()
    assert 0 < count <= 50 < hanoi["units"], count
    expect(page.locator("#u-01")).to_be_visible()  # the province itself leads
    expect(page.locator("#u-001")).to_contain_text("Hội trường UBND Quận Ba Đình")
    expect(page.locator("#u-00001")).to_contain_text("Phường Phúc Xá")
    expect(page.locator("#u-282")).to_have_count(0)  # Huyện Mỹ Đức, the last district: pages away
    pager = page.locator("nav.pager")
    expect(pager).to_have_count(1)
    expect(pager.locator("a[rel=prev]")).to_have_count(0)
    expect(pager.locator("a[rel=next]")).to_have_count(1)
    # A table on a desktop screen: rows are rows, and nothing scrolls sideways.
    assert _display(page, "table.cards tbody tr") == "table-row"
    assert _scroll_width(page) <= DESKTOP["width"], _too_wide(page, DESKTOP["width"])
    _screenshot(page, "registration-1366.png")

    # The next page: other units, and a way back.
    first = rows.first.get_attribute("id")
    pager.locator("a[rel=next]").click()
    page.wait_for_url(re.compile(r"[?&]page=2\b"))
    assert 0 < rows.count() <= 50
    assert rows.first.get_attribute("id") != first
    expect(page.locator("#u-01")).to_have_count(0)
    expect(page.locator("nav.pager a[rel=prev]")).to_have_count(1)

    # Typed as on a keyboard without Vietnamese input: only Ba Đình remains.
    page.locator("#f-q").fill("ba dinh")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"[?&]q=ba(\+|%20)dinh"))
    expect(page.locator("#f-q")).to_have_value("ba dinh")
    expect(page.locator("#u-001")).to_be_visible()
    texts = rows.all_inner_texts()
    assert 1 <= len(texts) <= 3, texts
    assert all("Ba Đình" in t for t in texts), texts
    expect(page.locator("#u-00001")).to_have_count(0)  # Phúc Xá, a commune of Ba Đình: its name does not match
    expect(page.locator("#u-01")).to_have_count(0)
    expect(page.locator("nav.pager")).to_have_count(0)  # one page of results
    _screenshot(page, "registration-1366-search.png")

    # The search covers every page, not only the one shown: Huyện Mỹ Đức is far down the list.
    page.locator("#f-q").fill("my duc")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"[?&]q=my(\+|%20)duc"))
    expect(page.locator("#u-282")).to_contain_text("Huyện Mỹ Đức")
    assert all("Mỹ Đức" in t for t in rows.all_inner_texts())

    # A contact's phone number, typed as people write it, finds their endpoint.
    page.locator("#f-q").fill("0983 001 001")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"[?&]q=0983"))
    expect(rows).to_have_count(1)
    expect(page.locator("#u-001")).to_be_visible()


def test_registration_list_on_a_phone_is_cards_with_a_one_line_header(app, phone, hanoi):
    from playwright.sync_api import expect

    page = phone
    sign_in(page, HN_COORDINATOR)
    page.goto(f"/events/{SLUG}/registration")
    expect(page.locator("main h1")).to_contain_text("Thành phố Hà Nội")
    _screenshot(page, "registration-390.png")  # first: it shows what is wrong when a check below fails
    _fits_phone(page)
    rows = page.locator("table.units tbody tr")
    assert 0 < rows.count() <= 50
    # Cards: each row a block within the screen, the column headers hidden, each cell labelled.
    assert _display(page, "table.cards tbody tr") == "block"
    assert _display(page, "table.cards tbody td") == "block"
    assert _boxes_outside(page, "table.cards tbody tr", PHONE["width"]) == []
    assert _boxes_outside(page, "table.cards tbody td .button, table.cards tbody td button",
                          PHONE["width"]) == []
    head = page.locator("table.cards thead").bounding_box()
    assert head is None or head["height"] <= 1
    label = page.evaluate("""() => {
        const td = document.querySelector('#u-001 td[data-label]');
        return [td.dataset.label, getComputedStyle(td, '::before').content];
    }""")
    assert label[0] and label[0] in label[1], label
    # The search and filters fit the screen.
    assert _boxes_outside(page, "form.filters input, form.filters select, form.filters button",
                          PHONE["width"]) == []

    # The header says who is signed in on one line, cut short, the whole of it in the tooltip.
    who = page.locator(".topbar .who")
    expect(who).to_be_visible()
    expect(who).to_have_attribute("title", re.compile(f"{LONG_NAME}.*Thành phố Hà Nội"))
    box = who.bounding_box()
    line_height = page.evaluate("""() => {
        const s = getComputedStyle(document.querySelector('.topbar .who'));
        return s.lineHeight === 'normal' ? parseFloat(s.fontSize) * 1.2 : parseFloat(s.lineHeight);
    }""")
    assert box["height"] < 1.5 * line_height, (box, line_height)  # one line, not two
    assert box["height"] < 48
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert page.evaluate("(e => e.scrollWidth > e.clientWidth)(document.querySelector('.topbar .who'))"), \
        "the name should be cut short at 390 px (is the test's name long enough?)"
    header = page.locator(".topbar").bounding_box()
    assert header["height"] < 140, header  # brand, name and sign-out, the menu: three short lines at most

    # The search works from the phone too.
    page.locator("#f-q").fill("ba dinh")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"[?&]q=ba(\+|%20)dinh"))
    expect(page.locator("#u-001")).to_be_visible()
    assert all("Ba Đình" in t for t in rows.all_inner_texts())
    _fits_phone(page)


def test_progress_fits_a_desktop_and_is_cards_on_a_phone(app, page, phone, hanoi):
    from playwright.sync_api import expect

    page.set_viewport_size(DESKTOP)
    sign_in(page, ORGANIZER)
    response = page.goto(f"/events/{SLUG}/progress")
    assert response.ok
    assert len(response.body()) < MAX_PAGE_BYTES, f"{len(response.body()):,} bytes"
    table = page.locator("table.progress")
    lines = table.locator("tbody tr")
    expect(lines).to_have_count(64)  # the centre and 63 provinces
    hn = lines.filter(has_text="Thành phố Hà Nội")
    expect(hn).to_have_count(1)
    # Hà Nội's line has the widest cells: "n/N", who attends at the district, how many are missing.
    expect(hn.locator("td.tier-count small")).not_to_have_count(0)
    assert _display(page, "table.progress tbody tr") == "table-row"
    # The table fits: no scroll bar of its own, nothing beyond the screen.
    fits = page.evaluate("""() => {
        const t = document.querySelector('table.progress'), w = t.parentElement;
        return {table: t.scrollWidth, right: t.getBoundingClientRect().right,
                box: w.scrollWidth, boxClient: w.clientWidth, doc: document.documentElement.scrollWidth};
    }""")
    assert fits["table"] <= DESKTOP["width"] and fits["right"] <= DESKTOP["width"], fits
    assert fits["box"] <= fits["boxClient"], fits  # .table-scroll does not scroll
    assert fits["doc"] <= DESKTOP["width"], _too_wide(page, DESKTOP["width"])
    _screenshot(page, "progress-1366.png")

    # The search, without diacritics: Đà Nẵng alone remains; the national totals stay.
    page.locator("#f-q").fill("da nang")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"[?&]q=da(\+|%20)nang"))
    expect(page.locator("#f-q")).to_have_value("da nang")
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text("Thành phố Đà Nẵng")
    expect(lines.first.locator("th .code")).to_have_text("48")
    expect(table.locator("tfoot tr")).to_have_count(1)
    page.locator("#f-q").fill("ha noi")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"[?&]q=ha(\+|%20)noi"))
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text("Thành phố Hà Nội")

    # On a phone: cards, within the screen, nothing scrolls sideways.
    sign_in(phone, ORGANIZER)
    phone.goto(f"/events/{SLUG}/progress")
    expect(phone.locator("table.progress tbody tr")).to_have_count(64)
    assert _display(phone, "table.progress tbody tr") == "block"
    assert _display(phone, "table.progress tbody td") == "block"
    assert _boxes_outside(phone, "table.progress tbody tr, table.progress tfoot tr", PHONE["width"]) == []
    _fits_phone(phone)
    label = phone.evaluate("""() => {
        const td = document.querySelector('table.progress tbody td[data-label]');
        return [td.dataset.label, getComputedStyle(td, '::before').content];
    }""")
    assert label[0] and label[0] in label[1], label
    _screenshot(phone, "progress-390.png")
    phone.locator("#f-q").fill("da nang")
    phone.locator("form.filters button[type=submit]").click()
    phone.wait_for_url(re.compile(r"[?&]q=da(\+|%20)nang"))
    expect(phone.locator("table.progress tbody tr")).to_have_count(1)
    _fits_phone(phone)
