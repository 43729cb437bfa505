"""The Vietnamese of the audit log's new strings, proposed until the catalog has them.

`T` is in the shape `tools/translate.py` reads:

    .venv/bin/python tools/translate.py tests/history/test_audit_translations.py

The audit tests render Vietnamese with the catalog, falling back on `T` for msgids the catalog
does not have yet (`with_proposed_vietnamese`), so they pass before and after the catalog is
filled. The tests here keep `T` complete and its placeholders right.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from factories import ROOT

T = {
    # who acted, when no user did
    "the command line on the server": "dòng lệnh trên máy chủ",
    "the scheduler": "bộ lập lịch",
    "the automatic probes": "hệ thống kiểm tra tự động",
    "an operator": "cán bộ trực kỹ thuật",
    "the incident escalation": "hệ thống báo sự cố",
    "the web service": "hệ thống",
    "a contact (by the link in a reminder)": "người liên hệ (qua đường liên kết trong lời nhắc)",
    "a contact (by SMS)": "người liên hệ (qua SMS)",
    "the SMS provider": "nhà mạng",
    "an organizer": "đơn vị tổ chức",
    # roles
    "administrator": "quản trị viên",
    "coordinator": "cán bộ điều phối",
    "operator": "cán bộ trực kỹ thuật",
    # events
    "%(who)s created the event %(event)s": "%(who)s đã tạo hội nghị %(event)s",
    "%(who)s changed the event %(event)s": "%(who)s đã sửa hội nghị %(event)s",
    "%(who)s changed the event %(event)s: %(changes)s": "%(who)s đã sửa hội nghị %(event)s: %(changes)s",
    "%(who)s published the event %(event)s": "%(who)s đã công bố hội nghị %(event)s",
    "invitations queued: %(n)s": "thư mời chờ gửi: %(n)s",
    "%(who)s cancelled the event %(event)s — reason: %(reason)s": "%(who)s đã hủy hội nghị %(event)s — lý do: %(reason)s",
    "%(who)s cancelled the event %(event)s (no reason given)": "%(who)s đã hủy hội nghị %(event)s (không nêu lý do)",
    "calendar cancellations: %(n)s": "thư hủy lịch: %(n)s",
    "contacts told by SMS: %(n)s": "SMS báo hủy: %(n)s",
    "%(who)s marked the event %(event)s as finished": "%(who)s đã ghi nhận hội nghị %(event)s kết thúc",
    "%(who)s moved %(session)s of the event %(event)s: %(changes)s":
        "%(who)s đã dời %(session)s của hội nghị %(event)s: %(changes)s",
    "%(who)s confirmed %(endpoints)s ready for %(session)s of the event %(event)s":
        "%(who)s đã xác nhận %(endpoints)s sẵn sàng cho %(session)s của hội nghị %(event)s",
    "title": "tiêu đề",
    "short title": "tên rút gọn",
    "legal reference": "căn cứ pháp lý",
    "description": "mô tả",
    "time zone": "múi giờ",
    "administrative structure": "cơ cấu đơn vị hành chính",
    "organizer's name": "tên đơn vị tổ chức",
    "organizer's office": "cơ quan tổ chức",
    "organizer's email": "thư điện tử đơn vị tổ chức",
    "organizer's phone": "điện thoại đơn vị tổ chức",
    "tier %(tier)s": "%(tier)s",
    "tier %(tier)s removed": "bỏ %(tier)s",
    "session %(session)s": "phiên %(session)s",
    "session %(session)s added": "thêm phiên %(session)s",
    "session %(session)s removed": "bỏ phiên %(session)s",
    "deadline %(deadline)s": "thời hạn %(deadline)s",
    "deadline %(deadline)s removed": "bỏ thời hạn %(deadline)s",
    "reminder for %(anchor)s": "lời nhắc cho %(anchor)s",
    "reminder for %(anchor)s added": "thêm lời nhắc cho %(anchor)s",
    "reminder for %(anchor)s removed": "bỏ lời nhắc cho %(anchor)s",
    "%(n)s more": "%(n)s mục khác",
    "start": "bắt đầu",
    "end": "kết thúc",
    "place": "địa điểm",
    "%(field)s: %(before)s → %(after)s": "%(field)s: %(before)s → %(after)s",
    # endpoints
    "the endpoint %(name)s": "điểm cầu %(name)s",
    "the endpoint %(name)s of %(unit)s": "điểm cầu %(name)s của %(unit)s",
    "the endpoint of %(unit)s": "điểm cầu của %(unit)s",
    "endpoint #%(id)s": "điểm cầu #%(id)s",
    "their endpoints": "các điểm cầu của mình",
    "%(names)s and %(n)s more": "%(names)s và %(n)s điểm cầu khác",
    "%(who)s registered %(endpoint)s for the event %(event)s": "%(who)s đã đăng ký %(endpoint)s cho hội nghị %(event)s",
    "%(who)s updated %(endpoint)s for the event %(event)s": "%(who)s đã cập nhật %(endpoint)s của hội nghị %(event)s",
    "%(who)s updated %(endpoint)s for the event %(event)s: %(changes)s":
        "%(who)s đã cập nhật %(endpoint)s của hội nghị %(event)s: %(changes)s",
    "%(who)s removed %(endpoint)s from the event %(event)s": "%(who)s đã xóa %(endpoint)s khỏi hội nghị %(event)s",
    "contacts removed: %(n)s": "người liên hệ bị xóa: %(n)s",
    "%(who)s imported %(file)s into the event %(event)s: endpoints %(e_created)s created, %(e_updated)s updated, "
    "%(e_unchanged)s unchanged; contacts %(c_created)s created, %(c_updated)s updated, %(c_unchanged)s unchanged":
        "%(who)s đã nhập %(file)s vào hội nghị %(event)s: điểm cầu thêm %(e_created)s, sửa %(e_updated)s, "
        "giữ nguyên %(e_unchanged)s; người liên hệ thêm %(c_created)s, sửa %(c_updated)s, giữ nguyên %(c_unchanged)s",
    "a spreadsheet": "một bảng tính",
    "name": "tên",
    "address": "địa chỉ",
    "protocol": "giao thức",
    "dial address": "địa chỉ kết nối",
    "upstream bridge": "thiết bị MCU cấp trên",
    "provider": "nhà cung cấp",
    "expected attendance": "số người dự kiến",
    "contacts": "người liên hệ",
    "units attending here": "đơn vị dự tại đây",
    # incidents
    "%(who)s reported %(endpoint)s failed during %(session)s: incident #%(incident)s opened":
        "%(who)s báo %(endpoint)s mất kết nối trong %(session)s: mở sự cố #%(incident)s",
    "technical contacts texted: %(n)s": "SMS báo cán bộ kỹ thuật: %(n)s",
    "%(who)s sent the incident digest of %(place)s for %(session)s of the event %(event)s: %(incidents)s "
    "incidents, %(recipients)s recipients":
        "%(who)s đã gửi tin tổng hợp sự cố của %(place)s trong %(session)s của hội nghị %(event)s: "
        "%(incidents)s sự cố, %(recipients)s người nhận",
    # reminders
    "%(channel)s to %(audience)s, %(offset)s %(anchor)s": "%(channel)s tới %(audience)s, %(offset)s %(anchor)s",
    "reminder #%(id)s": "lời nhắc #%(id)s",
    "%(who)s added the reminder %(rule)s to the event %(event)s": "%(who)s đã thêm lời nhắc %(rule)s cho hội nghị %(event)s",
    "%(who)s changed the reminder %(rule)s of the event %(event)s: %(changes)s":
        "%(who)s đã sửa lời nhắc %(rule)s của hội nghị %(event)s: %(changes)s",
    "%(who)s deleted the reminder %(rule)s of the event %(event)s": "%(who)s đã xóa lời nhắc %(rule)s của hội nghị %(event)s",
    "%(who)s skipped the reminder %(rule)s of the event %(event)s: %(reason)s":
        "%(who)s đã bỏ qua lời nhắc %(rule)s của hội nghị %(event)s: %(reason)s",
    "%(who)s sent the reminder %(rule)s of the event %(event)s: %(n)s messages queued":
        "%(who)s đã gửi lời nhắc %(rule)s của hội nghị %(event)s: %(n)s tin chờ gửi",
    "its session or deadline had already begun": "phiên hoặc thời hạn của lời nhắc đã bắt đầu",
    "a later reminder to the same people went out instead": "một lời nhắc sau đó tới cùng người nhận đã được gửi thay",
    "unreachable: %(n)s": "không liên lạc được: %(n)s",
    "text: %(text)s": "nội dung: %(text)s",
    "paused": "tạm dừng",
    "anchor": "mốc",
    "when": "thời điểm",
    "channel": "kênh",
    "recipients": "người nhận",
    "text": "nội dung",
    "without diacritics": "gửi không dấu",
    "active": "đang áp dụng",
    # deadlines and documents
    "deadline #%(id)s": "thời hạn #%(id)s",
    "%(who)s closed registration for %(deadline)s of the event %(event)s":
        "%(who)s đã khóa đăng ký %(deadline)s của hội nghị %(event)s",
    "%(who)s reopened registration for %(deadline)s of the event %(event)s":
        "%(who)s đã mở lại đăng ký %(deadline)s của hội nghị %(event)s",
    "%(who)s uploaded %(file)s for %(unit)s (%(deadline)s, event %(event)s)":
        "%(who)s đã tải lên %(file)s cho %(unit)s (%(deadline)s, hội nghị %(event)s)",
    "%(who)s replaced a file of %(unit)s with %(file)s (%(deadline)s, event %(event)s)":
        "%(who)s đã thay một tệp của %(unit)s bằng %(file)s (%(deadline)s, hội nghị %(event)s)",
    "%(who)s deleted %(file)s of %(unit)s (%(deadline)s, event %(event)s)":
        "%(who)s đã xóa %(file)s của %(unit)s (%(deadline)s, hội nghị %(event)s)",
    "%(who)s named %(name)s (%(phone)s) focal contact of %(unit)s for %(deadline)s (event %(event)s)":
        "%(who)s đã cử %(name)s (%(phone)s) làm cán bộ đầu mối của %(unit)s cho %(deadline)s (hội nghị %(event)s)",
    # accounts, SMS, units
    "%(who)s created the account %(user)s: %(role)s": "%(who)s đã tạo tài khoản %(user)s: %(role)s",
    "%(who)s created the account %(user)s: %(role)s of %(unit)s": "%(who)s đã tạo tài khoản %(user)s: %(role)s của %(unit)s",
    "%(who)s signed in": "%(who)s đã đăng nhập",
    "disabled": "đang bị khóa",
    "role": "vai trò",
    "unit": "đơn vị",
    "%(who)s changed the account %(user)s: %(changes)s": "%(who)s đã sửa tài khoản %(user)s: %(changes)s",
    "%(who)s disabled the account %(user)s": "%(who)s đã khóa tài khoản %(user)s",
    "API tokens revoked: %(n)s": "mã truy cập API bị thu hồi: %(n)s",
    "signed out everywhere": "đã đăng xuất khỏi mọi thiết bị",
    "%(who)s enabled the account %(user)s": "%(who)s đã mở lại tài khoản %(user)s",
    "%(who)s imported accounts from %(file)s: %(created)s created, %(updated)s updated, %(unchanged)s unchanged":
        "%(who)s đã nhập tài khoản từ %(file)s: thêm %(created)s, sửa %(updated)s, giữ nguyên %(unchanged)s",
    "%(who)s issued %(user)s a link to reset the password": "%(who)s đã cấp cho %(user)s đường liên kết để đặt lại mật khẩu",
    "%(who)s issued %(user)s a link to choose a password": "%(who)s đã cấp cho %(user)s đường liên kết để đặt mật khẩu",
    "sent by email": "đã gửi qua thư điện tử",
    "not mailed": "không gửi thư",
    "valid until %(time)s": "hiệu lực đến %(time)s",
    "%(who)s set their own password": "%(who)s đã tự đặt mật khẩu",
    "%(who)s set the password of %(user)s": "%(who)s đã đặt mật khẩu cho %(user)s",
    "by the emailed link": "qua đường liên kết trong thư",
    "%(who)s signed out on every device": "%(who)s đã đăng xuất khỏi mọi thiết bị",
    "%(who)s ended every session of %(user)s": "%(who)s đã kết thúc mọi phiên đăng nhập của %(user)s",
    "sessions ended: %(n)s": "số phiên đăng nhập đã kết thúc: %(n)s",
    "%(who)s issued the API token %(name)s for %(user)s": "%(who)s đã cấp mã truy cập API %(name)s cho %(user)s",
    "%(phone)s replied STOP: no more SMS to this number": "%(phone)s đã nhắn STOP: ngừng gửi SMS tới số này",
    "%(who)s stopped SMS to %(phone)s (%(source)s)": "%(who)s đã ngừng gửi SMS tới %(phone)s (%(source)s)",
    "note: %(note)s": "ghi chú: %(note)s",
    "%(phone)s replied START: SMS allowed again": "%(phone)s đã nhắn START: nhận SMS trở lại",
    "%(who)s allowed SMS to %(phone)s again": "%(who)s đã cho %(phone)s nhận SMS trở lại",
    "%(who)s loaded the administrative units of %(structure)s: %(inserted)s added, %(updated)s updated":
        "%(who)s đã nạp danh mục đơn vị hành chính %(structure)s: thêm %(inserted)s, cập nhật %(updated)s",
    "%(who)s: %(action)s on %(object)s": "%(who)s: %(action)s trên %(object)s",
    # the actions, for the filter
    "Event created": "Tạo hội nghị",
    "Event changed": "Sửa hội nghị",
    "Event published": "Công bố hội nghị",
    "Event cancelled": "Hủy hội nghị",
    "Event finished": "Hội nghị kết thúc",
    "Session moved": "Dời phiên",
    "Readiness confirmed by a contact": "Người liên hệ xác nhận sẵn sàng",
    "Endpoint registered": "Đăng ký điểm cầu",
    "Endpoint updated": "Cập nhật điểm cầu",
    "Endpoint removed": "Xóa điểm cầu",
    "Spreadsheet imported": "Nhập bảng tính",
    "Incident opened": "Mở sự cố",
    "Incident digest sent": "Gửi tin tổng hợp sự cố",
    "Reminder added": "Thêm lời nhắc",
    "Reminder changed": "Sửa lời nhắc",
    "Reminder deleted": "Xóa lời nhắc",
    "Reminder sent": "Gửi lời nhắc",
    "Reminder skipped": "Bỏ qua lời nhắc",
    "Registration closed": "Khóa đăng ký",
    "Registration reopened": "Mở lại đăng ký",
    "Document uploaded": "Tải lên tài liệu",
    "Document replaced": "Thay tài liệu",
    "Document deleted": "Xóa tài liệu",
    "Dossier focal contact named": "Cử cán bộ đầu mối hồ sơ",
    "Accounts": "Tài khoản",
    "Account created": "Tạo tài khoản",
    "Account changed": "Sửa tài khoản",
    "Account disabled": "Khóa tài khoản",
    "Account enabled": "Mở lại tài khoản",
    "Accounts imported": "Nhập danh sách tài khoản",
    "Password link issued": "Cấp đường liên kết đặt mật khẩu",
    "Password set": "Đặt mật khẩu",
    "Signed in": "Đăng nhập",
    "Sessions ended": "Kết thúc phiên đăng nhập",
    "API token issued": "Cấp mã truy cập API",
    "SMS stopped for a number": "Ngừng gửi SMS tới một số",
    "SMS allowed again": "Cho nhận SMS trở lại",
    "Administrative units loaded": "Nạp danh mục đơn vị hành chính",
    # the page and the history
    "code or name": "mã hoặc tên",
    "name, email or phone": "tên, thư điện tử hoặc số điện thoại",
    "From (dd/mm/yyyy)": "Từ ngày (dd/mm/yyyy)",
    "Until (dd/mm/yyyy)": "Đến ngày (dd/mm/yyyy)",
    "Clear filters": "Bỏ lọc",
    "Newest": "Mới nhất",
    "No entry matches these filters.": "Không có thao tác nào khớp với bộ lọc.",
    "Units matched:": "Các đơn vị khớp:",
    "History of endpoint #%(id)s.": "Lịch sử của điểm cầu #%(id)s.",
    "There is no event '%(slug)s'.": "Không có hội nghị '%(slug)s'.",
    "No unit has the code or name '%(text)s'.": "Không có đơn vị nào có mã hoặc tên '%(text)s'.",
    "'%(text)s' names more than %(n)s units: only the first %(n)s are searched; type a code to be exact.":
        "'%(text)s' khớp với hơn %(n)s đơn vị: chỉ tìm trong %(n)s đơn vị đầu; hãy nhập mã để tìm chính xác.",
    "'%(text)s' is not an action.": "'%(text)s' không phải là một thao tác.",
    "'%(text)s' is not a date: write it as dd/mm/yyyy.": "'%(text)s' không phải là ngày: hãy viết theo dạng dd/mm/yyyy.",
    "The first day is after the last day.": "Ngày bắt đầu sau ngày kết thúc.",
    "History": "Lịch sử thay đổi",
    "Nothing recorded for this endpoint yet.": "Chưa có thao tác nào với điểm cầu này.",
    "All of it in the audit log": "Xem đầy đủ trong nhật ký thao tác",
    # the dashboards' alert for new incidents (issue 16)
    "Dashboard alert turned on or off": "Bật hoặc tắt âm báo trên bảng theo dõi",
    "%(who)s turned on the sound and title-bar count for new incidents":
        "%(who)s đã bật âm báo và số đếm trên thanh tiêu đề khi có sự cố mới",
    "%(who)s turned off the sound and title-bar count for new incidents":
        "%(who)s đã tắt âm báo và số đếm trên thanh tiêu đề khi có sự cố mới",
}

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.fixture(scope="module")
def audit_msgids(tmp_path_factory) -> set[str]:
    """The msgids of coordinator/audit/ and coordinator/history/ (recording the log, and reading it
    back as sentences) and templates/audit/, extracted as babel.cfg does."""
    cfg = tmp_path_factory.mktemp("audit-i18n") / "babel.cfg"
    cfg.write_text("[python: coordinator/audit/**.py]\n[python: coordinator/history/**.py]\n"
                   "[jinja2: templates/audit/**.html]\nextensions = jinja2.ext.i18n\n")
    out = cfg.parent / "audit.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(cfg), "-k", "_l",
                    "-k", "lazy_gettext", "-k", "N_", "--omit-header", "-o", str(out), "."],
                   cwd=ROOT, check=True, capture_output=True)
    from babel.messages.pofile import read_po

    with open(out, "rb") as fh:
        return {m.id for m in read_po(fh) if m.id}


def test_every_new_audit_string_has_a_proposed_translation(audit_msgids):
    from babel.messages.pofile import read_po

    with open(ROOT / "coordinator" / "translations" / "vi" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = {m.id: m.string for m in read_po(fh) if m.id}
    missing = sorted(i for i in audit_msgids if not catalog.get(i) and i not in T)
    assert not missing, "no Vietnamese for:\n" + "\n".join(missing)
    unused = sorted(i for i in T if i not in audit_msgids)
    assert not unused, "translations of strings the audit code no longer has:\n" + "\n".join(unused)


def test_proposed_translations_keep_their_placeholders():
    wrong = {msgid: text for msgid, text in T.items()
             if sorted(set(PLACEHOLDER.findall(msgid))) != sorted(set(PLACEHOLDER.findall(text)))}
    assert not wrong, wrong
