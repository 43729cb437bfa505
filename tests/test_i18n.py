"""Vietnamese by default, English on request: the catalog is complete and compiled, and the
pages follow the browser's language and the language switch."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from factories import ROOT, csrf_from, login

TRANSLATIONS = ROOT / "coordinator" / "translations"
VI_PO = TRANSLATIONS / "vi" / "LC_MESSAGES" / "messages.po"
VI_MO = TRANSLATIONS / "vi" / "LC_MESSAGES" / "messages.mo"
POT = TRANSLATIONS / "messages.pot"
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def _read_po(path):
    with open(path, "rb") as fh:
        return read_po(fh)


def _translations(catalog) -> dict:
    # A plural's id (and string) comes back as a list from a compiled catalog: compare as tuples.
    def frozen(value):
        return tuple(value) if isinstance(value, list) else value

    return {frozen(message.id): frozen(message.string) for message in catalog if message.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Every msgid in the code and templates, extracted as babel.cfg says to."""
    out = tmp_path_factory.mktemp("i18n") / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-k", "_l", "-k", "lazy_gettext", "-k", "N_", "--omit-header", "-o", str(out), "."],
        cwd=ROOT, check=True, capture_output=True,
    )
    catalog = _read_po(out)
    ids = {message.id for message in catalog if message.id}
    assert len(ids) > 50, f"extraction found only {len(ids)} strings: is babel.cfg right?"
    return ids


def test_every_string_has_a_vietnamese_translation(extracted):
    catalog = _read_po(VI_PO)
    missing = sorted(i for i in extracted if i not in catalog or not catalog[i].string)
    fuzzy = sorted(i for i in extracted if i in catalog and catalog[i].fuzzy)
    assert not missing, "no Vietnamese translation in vi/messages.po for:\n" + "\n".join(missing)
    assert not fuzzy, "fuzzy (unreviewed) translations in vi/messages.po:\n" + "\n".join(fuzzy)
    problems = [f"{message.id!r}: {error}" for message, errors in catalog.check() for error in errors]
    assert not problems, "broken placeholders:\n" + "\n".join(problems)


def test_committed_template_is_current(extracted):
    stale = _translations(_read_po(POT)).keys() ^ extracted
    assert not stale, f"messages.pot is out of date (run the extract step in babel.cfg): {sorted(stale)}"


def test_compiled_catalog_matches_po():
    compiled = io.BytesIO()
    write_mo(compiled, _read_po(VI_PO))
    compiled.seek(0)
    with open(VI_MO, "rb") as fh:
        committed = read_mo(fh)
    assert _translations(committed) == _translations(read_mo(compiled)), (
        "vi/messages.mo is out of date: run `pybabel compile -d coordinator/translations`")


def test_confirmations_are_autoescaped_attributes_not_inline_handlers():
    # A question before deleting or closing is a data-confirm attribute (static/app.js asks it):
    # an inline onsubmit="return confirm(...)" would be blocked by the Content-Security-Policy,
    # and the form would be sent without asking. The attribute is autoescaped by Jinja, so a
    # translation with a quote cannot end it early.
    import re

    found, handlers = [], []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        found += [(path.name, arg) for arg in re.findall(r'data-confirm="(\{\{.*?\}\})"', text, re.S)]
        handlers += [path.name for _ in re.findall(r'\son[a-z]+="', text)]
    assert found, "no data-confirm left to check: the test looks in the wrong place"
    assert not handlers, handlers
    unsafe = [(name, arg) for name, arg in found if "|safe" in arg or "|tojson" in arg]
    assert not unsafe, unsafe


def test_card_labels_do_not_end_with_their_own_colon():
    # On a phone a table.cards cell shows its data-label followed by ": " (style.css): a label
    # written "Đơn vị:" read "Đơn vị:: " on the copy and accounts pages.
    import re

    labels = [(path.name, label) for path in (ROOT / "templates").rglob("*.html")
              for label in re.findall(r'data-label="([^"]*)"', path.read_text(encoding="utf-8"))]
    assert labels, "no data-label left to check: the test looks in the wrong place"
    assert not [(name, label) for name, label in labels if label.rstrip().endswith(":")]


def _page(client, path, **kwargs) -> str:
    response = client.get(path, **kwargs)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _switch(client, code: str, page: str, **kwargs):
    response = client.post(f"/lang/{code}", data={"csrf_token": csrf_from(page), "next": "/login"}, **kwargs)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")


def test_login_page_is_vietnamese_by_default(client):
    html = _page(client, "/login")
    assert '<html lang="vi">' in html
    assert "Đăng nhập" in html and "Mật khẩu" in html and "Ghi nhớ đăng nhập" in html
    assert "Sign in" not in html
    assert ">English</button>" in html  # the switch offers the other language


def test_login_page_follows_an_english_browser(client):
    html = _page(client, "/login", headers=ENGLISH)
    assert '<html lang="en">' in html
    assert "Sign in" in html and "Password" in html
    assert "Đăng nhập" not in html
    assert ">Tiếng Việt</button>" in html


def test_language_switch_overrides_the_browser(client):
    _switch(client, "en", _page(client, "/login"))
    html = _page(client, "/login")
    assert '<html lang="en">' in html and "Sign in" in html and "Đăng nhập" not in html

    _switch(client, "vi", html, headers=ENGLISH)
    html = _page(client, "/login", headers=ENGLISH)
    assert '<html lang="vi">' in html and "Đăng nhập" in html and "Sign in" not in html


def test_unknown_language_is_ignored(client):
    _switch(client, "fr", _page(client, "/login"))
    assert '<html lang="vi">' in _page(client, "/login")


def test_chosen_language_survives_signing_in(client, make_user):
    make_user("organizer@example.gov.vn", "organizer")
    _switch(client, "en", _page(client, "/login"))
    login(client, "organizer@example.gov.vn")
    html = _page(client, "/events/")
    assert '<html lang="en">' in html and "New event" in html and "Sign out" in html


def test_event_form_in_vietnamese(organizer_client):
    html = _page(organizer_client, "/events/new")
    assert '<html lang="vi">' in html
    for label in [
        "Tạo hội nghị",
        # tiers
        "Trung ương", "Cấp tỉnh", "Cấp huyện", "Cấp xã", "Chủ trì", "Thành phần tham dự",
        "Đơn vị chưa có điểm cầu tham dự tại điểm cầu cấp trên",
        # sessions
        "Kiểm tra đường truyền kỹ thuật", "Tổng duyệt", "Hội nghị chính thức",
        # deadlines and general fields
        "Đăng ký cán bộ đầu mối", "Thời hạn", "Căn cứ pháp lý", "Múi giờ", "Đơn vị tổ chức",
        "Đơn vị đầu mối liên hệ", "Lưu",
    ]:
        assert label in html, f"{label!r} not on the Vietnamese event form"
    for english in ["Connectivity test", "Commune", "Main session", "Attendees", "Time zone"]:
        assert english not in html, f"untranslated {english!r} on the Vietnamese event form"


def test_event_form_in_english(organizer_client):
    html = _page(organizer_client, "/events/new", headers=ENGLISH)
    assert '<html lang="en">' in html
    for label in ["New event", "Connectivity test", "Commune", "Main session", "Attendees"]:
        assert label in html
    assert "Kiểm tra đường truyền kỹ thuật" not in html
