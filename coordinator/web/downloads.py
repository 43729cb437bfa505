"""Downloads named in Vietnamese: `Content-Disposition` with the UTF-8 name (RFC 6266/5987) and an
ASCII fallback for old clients that keeps the words (Werkzeug's own fallback drops letters such as
đ, so "Danh sách cán bộ đầu mối" would become "Danh sach can bo au moi")."""
from __future__ import annotations

from urllib.parse import quote

from flask import Response

from coordinator.text import strip_diacritics


def ascii_name(filename: str) -> str:
    plain = strip_diacritics(filename).encode("ascii", "ignore").decode()
    return "".join(ch if ch.isalnum() or ch in " .-_()" else "_" for ch in plain).strip() or "download"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    return f'{disposition}; filename="{ascii_name(filename)}"; filename*=UTF-8\'\'{quote(filename, safe="")}'


def named(response: Response, filename: str, disposition: str = "attachment") -> Response:
    response.headers["Content-Disposition"] = content_disposition(filename, disposition)
    return response
