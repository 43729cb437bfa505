"""Document requests (seed 000): districts upload signed scans and a Word report with a focal
contact's phone; the organizer downloads one ZIP with a folder per unit and an index."""
from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from factories import ROOT, csrf_from, login

EN = {"Accept-Language": "en"}
SLUG = "khanh-hoa-2024-ho-so"
KH, NHA_TRANG, CAM_RANH, HA_NOI, BA_DINH = "56", "568", "569", "01", "001"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"
WORD_NAME = "Báo cáo thành tích Nha Trang.docx"


def docx(text: str = "Báo cáo thành tích") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("[Content_Types].xml", (2024, 5, 1, 8, 0, 0)), '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                                         'package/2006/content-types"/>')
        z.writestr(zipfile.ZipInfo("word/document.xml", (2024, 5, 1, 8, 0, 0)), f'<?xml version="1.0"?><w:document><w:body><w:p><w:r><w:t>{text}'
                                        '</w:t></w:r></w:p></w:body></w:document>')
    return out.getvalue()


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture()
def uploads(app, tmp_path, monkeypatch) -> Path:
    """Uploaded bytes go to a temporary instance folder, not the repository's instance/."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    return tmp_path / "uploads"


@pytest.fixture()
def request_id(app, uploads, make_user) -> int:
    """The Khánh Hòa plan, with its due time moved 10 days ahead (the request is open)."""
    from coordinator.events.plans import read_plan_file
    from coordinator.events.services import apply_plan

    with app.app_context():
        event = apply_plan(read_plan_file(ROOT / "schedules" / f"{SLUG}.toml")).event
        deadline_id = event.deadlines[0].id
    set_due(app, deadline_id, days=10)
    make_user("kh@example.gov.vn", "coordinator", KH)
    make_user("hn@example.gov.vn", "coordinator", HA_NOI)
    make_user("nt@example.gov.vn", "coordinator", NHA_TRANG)
    make_user("org@example.gov.vn", "organizer")
    return deadline_id


def set_due(app, deadline_id: int, *, days: float) -> None:
    from coordinator.events.models import Deadline
    from coordinator.extensions import db
    from coordinator.timeutil import utcnow

    with app.app_context():
        db.session.get(Deadline, deadline_id).due_at = utcnow() + timedelta(days=days)
        db.session.commit()


def files_on_disk(uploads: Path) -> list[Path]:
    return sorted(p for p in uploads.rglob("*") if p.is_file()) if uploads.exists() else []


def rows(app, deadline_id: int):
    from coordinator.documents.models import DocumentFile
    from coordinator.extensions import db

    with app.app_context():
        return [(f.unit.code, f.slot, f.filename, f.size, f.sha256, f.storage_key) for f in db.session.scalars(
            select(DocumentFile).where(DocumentFile.deadline_id == deadline_id).order_by(DocumentFile.id))]


def fulfilment(app, deadline_id: int, code: str):
    from coordinator.deadlines.services import fulfilment_map
    from coordinator.events.models import Deadline
    from coordinator.extensions import db
    from coordinator.units.services import get_unit

    with app.app_context():
        row = fulfilment_map(db.session.get(Deadline, deadline_id)).get(get_unit("2024", code).id)
        return None if row is None else {"fulfilled": row.fulfilled_at is not None, "late": row.late,
                                         "name": row.contact_name, "phone": row.contact_phone}


def unit_url(deadline_id: int, code: str) -> str:
    return f"/events/{SLUG}/documents/{deadline_id}/units/{code}"


def post_upload(client, deadline_id, code, slot, name, data, *, replaces=None, headers=None, csrf_page=None):
    page = client.get(csrf_page or f"/events/{SLUG}/documents/{deadline_id}", headers=headers)
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "slot": str(slot), "view": "unit",
            "file": (io.BytesIO(data), name)}
    if replaces is not None:
        form["replaces"] = str(replaces)
    return client.post(f"{unit_url(deadline_id, code)}/upload", data=form, content_type="multipart/form-data",
                       headers=headers)


def post_contact(client, deadline_id, code, name, phone, headers=None):
    page = client.get(f"/events/{SLUG}/documents/{deadline_id}", headers=headers)
    return client.post(f"{unit_url(deadline_id, code)}/contact", headers=headers, data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "contact_name": name, "contact_phone": phone,
        "view": "unit"})


def as_user(client, email):
    login(client, email)
    return client


# --- the plan ------------------------------------------------------------------------------------

def test_the_plan_file_is_valid(cli):
    result = cli("schedules", "check", str(ROOT / "schedules" / f"{SLUG}.toml"))
    assert result.exit_code == 0 and "tiers province, district" in result.output


# --- uploading -----------------------------------------------------------------------------------

def test_upload_scan_and_word_report_complete_only_with_a_phone(app, client, request_id, uploads):
    as_user(client, "kh@example.gov.vn")
    page = client.get(f"/events/{SLUG}/documents/{request_id}").get_data(as_text=True)
    assert "<h1>Gửi hồ sơ đề nghị biểu dương, tôn vinh tập thể, cá nhân năm 2024</h1>" in page
    assert "15/05/2024" not in page  # the fixture moved the due time
    # The province coordinator sees its districts, each with a slot per file asked for.
    assert "Thành phố Nha Trang" in page and "Huyện Trường Sa" in page and "Quận Ba Đình" not in page
    assert "Bản scan hồ sơ đã ký, đóng dấu" in page and "Báo cáo thành tích (bản Word)" in page

    assert post_upload(client, request_id, NHA_TRANG, 0, "Hồ sơ đã ký.pdf", PDF).status_code == 302
    response = post_upload(client, request_id, NHA_TRANG, 1, WORD_NAME, docx())
    assert response.status_code == 302
    assert response.headers["Location"].endswith(unit_url(request_id, NHA_TRANG))

    stored = rows(app, request_id)
    assert [(code, slot, name) for code, slot, name, *_ in stored] == [
        (NHA_TRANG, 0, "Hồ sơ đã ký.pdf"), (NHA_TRANG, 1, WORD_NAME)]
    for _, _, _, size, sha, key in stored:
        data = (uploads / key[:2] / key).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha
    assert WORD_NAME in client.get(unit_url(request_id, NHA_TRANG)).get_data(as_text=True)

    # Both files are there, but the focal contact's phone is missing: not complete yet.
    assert not (fulfilment(app, request_id, NHA_TRANG) or {}).get("fulfilled")
    assert post_contact(client, request_id, NHA_TRANG, "Trần Thị Bích", "0913 123 456").status_code == 302
    assert fulfilment(app, request_id, NHA_TRANG) == {"fulfilled": True, "late": False, "name": "Trần Thị Bích",
                                                     "phone": "+84913123456"}
    page = client.get(unit_url(request_id, NHA_TRANG), headers=EN).get_data(as_text=True)
    assert "0913 123 456" in page and "Complete" in page


def test_a_bad_phone_is_shown_next_to_the_field(app, client, request_id, uploads):
    as_user(client, "kh@example.gov.vn")
    response = post_contact(client, request_id, NHA_TRANG, "Trần Thị Bích", "058.3563535", headers=EN)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    field = html[html.index('id="contact-phone-568"'):]
    assert "area code from before 2017" in field[:field.index("</ul>")]
    assert 'value="058.3563535"' in html  # what was typed stays
    assert fulfilment(app, request_id, NHA_TRANG) is None


@pytest.mark.parametrize("slot,name,data,reason", [
    (0, "setup.exe", b"MZ\x90\x00" + b"\x00" * 100, "is a .exe file; allowed for 'Bản scan hồ sơ đã ký, đóng dấu': pdf, jpg, jpeg, png"),
    (0, "Hồ sơ.pdf", b"just some text, not a PDF", "is not a real PDF file"),
    (0, "scan.jpg", PDF, "is not a real JPG file"),
    (1, "Báo cáo.docx", b"PK\x03\x04 not really a zip", "is not a real DOCX file"),
    (1, "Báo cáo.pdf", PDF, "is a .pdf file; allowed for 'Báo cáo thành tích (bản Word)': doc, docx"),
    (1, "Báo cáo", PDF, "has no extension"),
    (0, "rỗng.pdf", b"", "is empty"),
])
def test_a_wrong_file_is_refused_with_the_reason_and_nothing_stored(app, client, request_id, uploads,
                                                                    slot, name, data, reason):
    as_user(client, "kh@example.gov.vn")
    response = post_upload(client, request_id, NHA_TRANG, slot, name, data, headers=EN)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    errors = html[html.index(f'id="errors-{NHA_TRANG}-{slot}"'):]
    assert reason in errors[:errors.index("</ul>")].replace("&#39;", "'")
    assert rows(app, request_id) == [] and files_on_disk(uploads) == []


def test_a_docx_must_really_be_a_word_document(app, client, request_id, uploads):
    as_user(client, "kh@example.gov.vn")
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")  # an Excel file renamed .docx
    response = post_upload(client, request_id, NHA_TRANG, 1, "Báo cáo.docx", plain_zip.getvalue(), headers=EN)
    assert response.status_code == 400 and "is not a real DOCX file" in response.get_data(as_text=True)
    assert rows(app, request_id) == [] and files_on_disk(uploads) == []


def test_a_file_over_the_limit_is_refused(app, client, request_id, uploads, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_DOCUMENT_BYTES", 1024 * 1024)
    as_user(client, "kh@example.gov.vn")
    big = PDF + b"0" * (1024 * 1024)
    response = post_upload(client, request_id, NHA_TRANG, 0, "Hồ sơ.pdf", big, headers=EN)
    assert response.status_code == 400
    assert "is larger than the limit of 1 MB" in response.get_data(as_text=True)
    assert rows(app, request_id) == [] and files_on_disk(uploads) == []
    assert post_upload(client, request_id, NHA_TRANG, 0, "Hồ sơ.pdf", big[:1024 * 1024]).status_code == 302


def test_the_same_name_replaces_and_the_old_bytes_go(app, client, request_id, uploads):
    as_user(client, "kh@example.gov.vn")
    post_upload(client, request_id, NHA_TRANG, 0, "Hồ sơ.pdf", PDF)
    (_, _, _, _, _, first_key), = rows(app, request_id)
    second = PDF + b"% second version\n"
    assert post_upload(client, request_id, NHA_TRANG, 0, "Hồ sơ.pdf", second).status_code == 302
    (_, _, name, size, _, key), = rows(app, request_id)
    assert key != first_key and size == len(second)
    assert files_on_disk(uploads) == [uploads / key[:2] / key]
    assert (uploads / key[:2] / key).read_bytes() == second

    # The "Replace" button: a new file under another name takes the old one's place.
    file_id = file_ids(app, request_id)[0]
    assert post_upload(client, request_id, NHA_TRANG, 0, "Hồ sơ (bản ký lại).jpg", JPEG,
                       replaces=file_id).status_code == 302
    (_, slot, name, _, _, third_key), = rows(app, request_id)
    assert name == "Hồ sơ (bản ký lại).jpg" and slot == 0
    assert files_on_disk(uploads) == [uploads / third_key[:2] / third_key]


def file_ids(app, deadline_id) -> list[int]:
    from coordinator.documents.models import DocumentFile
    from coordinator.extensions import db

    with app.app_context():
        return list(db.session.scalars(select(DocumentFile.id).where(DocumentFile.deadline_id == deadline_id)
                                       .order_by(DocumentFile.id)))


def test_delete_removes_row_and_bytes_and_completion(app, client, request_id, uploads):
    as_user(client, "kh@example.gov.vn")
    post_upload(client, request_id, NHA_TRANG, 0, "Hồ sơ.pdf", PDF)
    post_upload(client, request_id, NHA_TRANG, 1, WORD_NAME, docx())
    post_contact(client, request_id, NHA_TRANG, "Trần Thị Bích", "0913 123 456")
    assert fulfilment(app, request_id, NHA_TRANG)["fulfilled"]
    first = file_ids(app, request_id)[0]
    page = client.get(unit_url(request_id, NHA_TRANG)).get_data(as_text=True)
    response = client.post(f"/events/{SLUG}/documents/file/{first}/delete", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert [r[2] for r in rows(app, request_id)] == [WORD_NAME] and len(files_on_disk(uploads)) == 1
    assert not fulfilment(app, request_id, NHA_TRANG)["fulfilled"]


def test_after_the_due_time_uploads_are_accepted_and_marked_late(app, client, request_id, uploads):
    set_due(app, request_id, days=-1)
    as_user(client, "kh@example.gov.vn")
    page = client.get(unit_url(request_id, NHA_TRANG), headers=EN).get_data(as_text=True)
    assert "has passed: files are still accepted but marked late" in page
    post_upload(client, request_id, NHA_TRANG, 0, "Hồ sơ.pdf", PDF)
    post_upload(client, request_id, NHA_TRANG, 1, WORD_NAME, docx())
    post_contact(client, request_id, NHA_TRANG, "Trần Thị Bích", "0913123456")
    assert fulfilment(app, request_id, NHA_TRANG)["late"] is True
    assert "Complete, late" in client.get(unit_url(request_id, NHA_TRANG), headers=EN).get_data(as_text=True)


def test_a_closed_request_refuses_everything(app, client, request_id, uploads):
    from coordinator.deadlines.services import set_closed
    from coordinator.events.models import Deadline
    from coordinator.extensions import db

    as_user(client, "kh@example.gov.vn")
    post_upload(client, request_id, NHA_TRANG, 0, "Hồ sơ.pdf", PDF)
    with app.app_context():
        set_closed(db.session.get(Deadline, request_id), True)
    page = client.get(unit_url(request_id, NHA_TRANG), headers=EN).get_data(as_text=True)
    assert "The organizer closed this request" in page and 'type="file"' not in page
    response = post_upload(client, request_id, NHA_TRANG, 1, WORD_NAME, docx(), headers=EN)
    assert response.status_code == 400 and "closed this request" in response.get_data(as_text=True)
    assert post_contact(client, request_id, NHA_TRANG, "Trần B", "0913123456").status_code == 400
    file_id = file_ids(app, request_id)[0]
    assert client.post(f"/events/{SLUG}/documents/file/{file_id}/delete",
                       data={"csrf_token": csrf_from(page)}).status_code == 400
    assert len(rows(app, request_id)) == 1 and len(files_on_disk(uploads)) == 1


def test_a_cancelled_event_refuses_uploads(app, client, request_id, uploads):
    from coordinator.events.services import cancel, get_event

    with app.app_context():
        cancel(get_event(SLUG), reason="Hoãn theo chỉ đạo của Lãnh đạo Bộ")
    as_user(client, "kh@example.gov.vn")
    response = post_upload(client, request_id, NHA_TRANG, 0, "Hồ sơ.pdf", PDF, headers=EN)
    assert response.status_code == 400 and "this event is Cancelled" in response.get_data(as_text=True)
    assert files_on_disk(uploads) == []


def test_a_failed_commit_loses_nothing(app, request_id, uploads, monkeypatch):
    from coordinator.auth.services import get_user_by_email
    from coordinator.documents import services
    from coordinator.events.models import Deadline
    from coordinator.extensions import db
    from coordinator.units.services import get_unit

    with app.app_context():
        actor = get_user_by_email("kh@example.gov.vn")
        deadline, unit = db.session.get(Deadline, request_id), get_unit("2024", NHA_TRANG)
        services.upload(deadline, unit, 0, "Hồ sơ.pdf", io.BytesIO(PDF), actor)
    before, on_disk = rows(app, request_id), files_on_disk(uploads)

    def broken_commit():
        raise RuntimeError("database went away")

    with app.app_context():
        actor = get_user_by_email("kh@example.gov.vn")
        deadline, unit = db.session.get(Deadline, request_id), get_unit("2024", NHA_TRANG)
        monkeypatch.setattr(db.session, "commit", broken_commit)
        with pytest.raises(RuntimeError):
            services.upload(deadline, unit, 0, "Hồ sơ.pdf", io.BytesIO(PDF + b"% v2\n"), actor)
        monkeypatch.undo()
        db.session.rollback()
    assert rows(app, request_id) == before and files_on_disk(uploads) == on_disk
    key = before[0][5]
    assert (uploads / key[:2] / key).read_bytes() == PDF


# --- scope ---------------------------------------------------------------------------------------

def test_khanh_hoa_cannot_see_or_touch_ha_noi(app, client, request_id, uploads):
    hn = app.test_client()
    as_user(hn, "hn@example.gov.vn")
    assert post_upload(hn, request_id, BA_DINH, 0, "Hồ sơ Ba Đình.pdf", PDF).status_code == 302
    hn_file = file_ids(app, request_id)[0]

    kh = as_user(client, "kh@example.gov.vn")
    base = f"/events/{SLUG}/documents"
    assert "Quận Ba Đình" not in kh.get(f"{base}/{request_id}").get_data(as_text=True)
    assert kh.get(unit_url(request_id, BA_DINH)).status_code == 404
    assert kh.get(unit_url(request_id, HA_NOI)).status_code == 404
    assert kh.get(f"{base}/file/{hn_file}").status_code == 404
    assert kh.get(f"{base}/{request_id}/archive.zip").status_code == 403
    assert kh.get(f"{base}/{request_id}/archive.zip?within={HA_NOI}").status_code == 403
    assert post_upload(kh, request_id, BA_DINH, 0, "x.pdf", PDF).status_code == 404
    assert post_upload(kh, request_id, NHA_TRANG, 0, "x.pdf", PDF, replaces=hn_file).status_code == 404
    assert post_contact(kh, request_id, BA_DINH, "Kẻ lạ", "0913123456").status_code == 404
    token = csrf_from(kh.get(f"{base}/{request_id}").get_data(as_text=True))
    assert kh.post(f"{base}/file/{hn_file}/delete", data={"csrf_token": token}).status_code == 404
    assert [r[2] for r in rows(app, request_id)] == ["Hồ sơ Ba Đình.pdf"] and len(files_on_disk(uploads)) == 1
    assert fulfilment(app, request_id, BA_DINH) is None

    # A district coordinator sees its own district only, and Hà Nội its own file.
    nt = as_user(app.test_client(), "nt@example.gov.vn")
    page = nt.get(f"{base}/{request_id}").get_data(as_text=True)
    assert "Thành phố Nha Trang" in page and "Thành phố Cam Ranh" not in page
    assert nt.get(unit_url(request_id, CAM_RANH)).status_code == 404
    assert hn.get(f"{base}/file/{hn_file}").status_code == 200


def test_service_scope_error(app, request_id, uploads):
    from coordinator.auth.services import get_user_by_email
    from coordinator.documents import services
    from coordinator.events.models import Deadline
    from coordinator.extensions import db
    from coordinator.problems import Invalid
    from coordinator.units.services import get_unit

    with app.app_context():
        kh = get_user_by_email("kh@example.gov.vn")
        deadline = db.session.get(Deadline, request_id)
        with pytest.raises(services.ScopeError):
            services.upload(deadline, get_unit("2024", BA_DINH), 0, "a.pdf", io.BytesIO(PDF), kh)
        with pytest.raises(services.ScopeError):
            services.set_contact(deadline, get_unit("2024", BA_DINH), "A", "0913123456", kh)
        # A unit of another tier is not addressed by the request.
        with pytest.raises(Invalid):
            services.upload(deadline, get_unit("2024", KH), 0, "a.pdf", io.BytesIO(PDF), kh)
        assert [u.code for u in services.units_for(deadline, kh)] == [str(c) for c in range(568, 577)]
        assert services.list_for(deadline, kh) == []
    assert files_on_disk(uploads) == []


# --- downloads and the organizer's archive -------------------------------------------------------

def test_a_download_keeps_the_vietnamese_name(app, client, request_id, uploads):
    as_user(client, "kh@example.gov.vn")
    word = docx()
    post_upload(client, request_id, NHA_TRANG, 1, WORD_NAME, word)
    response = client.get(f"/events/{SLUG}/documents/file/{file_ids(app, request_id)[0]}")
    assert response.status_code == 200 and response.data == word
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and f"filename*=UTF-8''{quote(WORD_NAME)}" in disposition
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_the_organizer_downloads_one_zip_with_a_folder_per_unit(app, client, request_id, uploads):
    kh = as_user(app.test_client(), "kh@example.gov.vn")
    word = docx("Thành tích năm 2024")
    post_upload(kh, request_id, NHA_TRANG, 0, "Hồ sơ đã ký.pdf", PDF)
    post_upload(kh, request_id, NHA_TRANG, 1, WORD_NAME, word)
    post_contact(kh, request_id, NHA_TRANG, "Trần Thị Bích", "0258.3563535")
    post_upload(kh, request_id, CAM_RANH, 0, "Bản scan.jpg", JPEG)
    hn = as_user(app.test_client(), "hn@example.gov.vn")
    post_upload(hn, request_id, BA_DINH, 0, "Hồ sơ Ba Đình.pdf", PDF)

    org = as_user(client, "org@example.gov.vn")
    listing = org.get(f"/events/{SLUG}/documents/", headers=EN).get_data(as_text=True)
    assert f"/events/{SLUG}/documents/{request_id}" in listing and "Gửi hồ sơ đề nghị biểu dương" in listing
    page = org.get(f"/events/{SLUG}/documents/{request_id}?within={KH}", headers=EN).get_data(as_text=True)
    assert "Download ZIP" in page and "Thành phố Nha Trang" in page and "Quận Ba Đình" not in page
    assert "Huyện Trường Sa" in page and "Nothing sent" in page and "0258 3563 535" in page

    response = org.get(f"/events/{SLUG}/documents/{request_id}/archive.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "filename*=UTF-8''" + quote(f"Gửi hồ sơ đề nghị biểu dương, tôn vinh tập thể, cá nhân năm 2024 - {SLUG}.zip") \
        in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert "568 - Thành phố Nha Trang/" + WORD_NAME in names
    assert "568 - Thành phố Nha Trang/Hồ sơ đã ký.pdf" in names
    assert "569 - Thành phố Cam Ranh/Bản scan.jpg" in names and "001 - Quận Ba Đình/Hồ sơ Ba Đình.pdf" in names
    for info in archive.infolist():
        if not info.filename.isascii():
            assert info.flag_bits & 0x800, info.filename  # the UTF-8 flag: names read right everywhere
    assert archive.read("568 - Thành phố Nha Trang/" + WORD_NAME) == word
    assert archive.read("569 - Thành phố Cam Ranh/Bản scan.jpg") == JPEG

    sheet = load_workbook(io.BytesIO(archive.read("danh-sach.xlsx"))).active
    table = [[c.value for c in row] for row in sheet.iter_rows()]
    assert table[0][:4] == ["Mã đơn vị", "Tên đơn vị", "Hồ sơ", "Tên tệp"]
    by_file = {r[3]: r for r in table[1:] if r[3]}
    word_row = by_file[WORD_NAME]
    assert word_row[:3] == ["568", "Thành phố Nha Trang", "Báo cáo thành tích (bản Word)"]
    assert word_row[4] == len(word) and word_row[5] == hashlib.sha256(word).hexdigest()
    assert len(word_row[6]) == 16 and word_row[6][2] == "/" and word_row[7] == "Không"
    assert word_row[8:] == ["Trần Thị Bích", "0258 3563 535", "Đủ hồ sơ"]
    missing = {r[0]: r for r in table[1:] if not r[3]}
    assert "576" in missing and missing["576"][10] == "Chưa nộp"  # Huyện Trường Sa sent nothing
    assert len(missing) == 705 - 3  # every district of the tier that sent nothing is listed

    # Only Khánh Hòa's districts, for the department's own use.
    only_kh = zipfile.ZipFile(io.BytesIO(org.get(f"/events/{SLUG}/documents/{request_id}/archive.zip?within={KH}").data))
    assert not any(n.startswith("001 - ") for n in only_kh.namelist())
    kh_sheet = load_workbook(io.BytesIO(only_kh.read("danh-sach.xlsx"))).active
    assert {r[0].value for r in kh_sheet.iter_rows(min_row=2)} == {str(c) for c in range(568, 577)}


def test_the_index_is_formula_safe_and_marks_late_files(app, request_id, uploads):
    from coordinator.auth.services import get_user_by_email
    from coordinator.documents import services
    from coordinator.documents.archive import zip_for
    from coordinator.events.models import Deadline
    from coordinator.extensions import db
    from coordinator.units.services import get_unit

    set_due(app, request_id, days=-1)
    with app.app_context():
        kh = get_user_by_email("kh@example.gov.vn")
        deadline, unit = db.session.get(Deadline, request_id), get_unit("2024", NHA_TRANG)
        services.upload(deadline, unit, 0, "=HYPERLINK(1).pdf", io.BytesIO(PDF), kh)
        data = zip_for(deadline, within=get_unit("2024", KH)).read()
    sheet = load_workbook(io.BytesIO(zipfile.ZipFile(io.BytesIO(data)).read("danh-sach.xlsx"))).active
    row = next(r for r in sheet.iter_rows(min_row=2) if r[3].value)
    assert row[3].value == "=HYPERLINK(1).pdf" and row[3].data_type == "s" and row[7].value == "Có"


# --- file names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,clean", [
    ("Báo cáo thành tích Nha Trang.docx", "Báo cáo thành tích Nha Trang.docx"),
    ("Ba\u0301o ca\u0301o.docx", "Báo cáo.docx"),  # decomposed (macOS) → composed
    ("C:\\Users\\Bich\\Desktop\\Hồ sơ.pdf", "Hồ sơ.pdf"),
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ('Hồ sơ: "bản 2" <mới>?.pdf', "Hồ sơ bản 2 mới.pdf"),
    ("Hồ   sơ\t\n\x00đã ký\u202e.pdf", "Hồ sơ đã ký.pdf"),
    ("???.pdf", "tep-tai-len.pdf"),
    (".pdf", "tep-tai-len.pdf"),
    ("CON.pdf", "CON_.pdf"),
    ("Hồ sơ. .pdf", "Hồ sơ.pdf"),
    ("a" * 300 + ".docx", "a" * 195 + ".docx"),
])
def test_clean_filename(raw, clean):
    from coordinator.documents.files import clean_filename

    assert clean_filename(raw) == clean
    assert len(clean_filename(raw)) <= 200
