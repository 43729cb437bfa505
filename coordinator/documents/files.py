"""The files of document requests: what an upload may be (extension, content matching it, size),
its bytes stored under `<instance>/uploads/<key[:2]>/<key>` (written to a temporary file and moved
into place atomically, hashed on the way), file and folder names cleaned (diacritics kept, what
Windows or a ZIP cannot hold removed), and the refusal that says which rule failed (`refuse`:
a `coordinator.problems.Invalid` whose problem's field is "file", "slot", "contact_name",
"contact_phone", or "" for the request as a whole).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from coordinator.messages import N_, Message
from coordinator.problems import Invalid, Problem
from coordinator.text import nfc

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
CHUNK = 1024 * 1024
MAX_NAME = 200
FALLBACK_STEM = "tep-tai-len"  # "uploaded file", for a name that is empty once cleaned

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "zip": "application/zip",
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97-2003 / Excel 97-2003 compound file
_MAGIC = {
    "jpg": (b"\xff\xd8\xff",), "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "doc": (_OLE,), "xls": (_OLE,),
    "docx": (b"PK\x03\x04",), "xlsx": (b"PK\x03\x04",), "odt": (b"PK\x03\x04",),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),  # the second: an empty archive
}
# Office Open XML and OpenDocument files are ZIP archives; what is inside tells them apart.
_ZIP_MEMBER = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "odt": "mimetype"}
_ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"
COMPRESSED = {CONTENT_TYPES[t] for t in ("jpg", "png", "docx", "xlsx", "odt", "zip")}
# Acrobat accepts a PDF whose header is anywhere in the first 1024 bytes (some scanners write a
# preamble); accepting the same keeps genuine scans from being refused.
_PDF_HEADER_WINDOW = 1024

_WINDOWS_ILLEGAL = re.compile(r'[\\/:*?"<>|]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def refuse(field_name: str, template: str, **params) -> Invalid:
    """The refusal to raise: nothing was saved, the problem says which rule failed."""
    return Invalid(Problem(field_name, Message(template, params)))


# --- storage ---------------------------------------------------------------------------------------

def _uploads_root() -> Path:
    # Read at call time: tests and deployments may point the instance folder elsewhere.
    return Path(current_app.instance_path) / "uploads"


def file_path(storage_key: str) -> Path:
    return _uploads_root() / storage_key[:2] / storage_key


def remove_bytes(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # the row is gone either way; a stray file only costs disk space
            log.warning("could not remove %s", path, exc_info=True)


def max_bytes() -> int:
    return int(current_app.config.get("MAX_DOCUMENT_BYTES", DEFAULT_MAX_BYTES))


@dataclass
class Stored:
    key: str
    path: Path
    size: int
    sha256: str


def store(stream: BinaryIO, display_name: str, ext: str) -> Stored:
    """Copy `stream` to its final place, checking size and type on the way; raises
    Invalid with nothing left on disk."""
    key = uuid.uuid4().hex
    final = file_path(key)
    final.parent.mkdir(parents=True, exist_ok=True)
    limit = max_bytes()
    digest, size = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".upload-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            head = b""
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise refuse("file", N_("'%(name)s' is larger than the limit of %(limit)s MB"),
                                  name=display_name, limit=megabytes(limit))
                if len(head) < _PDF_HEADER_WINDOW:
                    head += chunk[:_PDF_HEADER_WINDOW - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise refuse("file", N_("'%(name)s' is empty"), name=display_name)
        if not _content_matches(ext, head, tmp):
            raise refuse("file", N_("'%(name)s' is not a real %(type)s file: its content does not match its "
                                     "extension"), name=display_name, type=ext.upper())
        os.replace(tmp, final)
    except BaseException:
        remove_bytes([tmp])
        raise
    return Stored(key, final, size, digest.hexdigest())


def _content_matches(ext: str, head: bytes, path: Path) -> bool:
    if ext == "pdf":
        return b"%PDF-" in head[:_PDF_HEADER_WINDOW]
    if not head.startswith(_MAGIC.get(ext, (b"\x00\x00unknown",))):
        return False
    if ext in _ZIP_MEMBER:
        try:
            with zipfile.ZipFile(path) as archive:
                if _ZIP_MEMBER[ext] not in archive.namelist():
                    return False
                # An OpenDocument spreadsheet has content.xml too; its mimetype member says which it is.
                return ext != "odt" or archive.read("mimetype").strip() == _ODT_MIMETYPE
        except (zipfile.BadZipFile, OSError, KeyError, RuntimeError):
            return False
    return True


def megabytes(n: int) -> str:
    value = n / (1024 * 1024)
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


# --- file names ------------------------------------------------------------------------------------

def split_name(name: str) -> tuple[str, str]:
    """("Báo cáo.docx") -> ("Báo cáo", "docx"); a name without a dot has no extension."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return name, ""
    return stem, ext


def _clean_part(text: str) -> str:
    text = nfc(text)
    # Tabs and line breaks separate words; other control and format characters go (including
    # right-to-left overrides, which can disguise an extension).
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or not unicodedata.category(ch).startswith("C"))
    text = _WINDOWS_ILLEGAL.sub(" ", text)
    return " ".join(text.split())


def clean_filename(raw: str) -> str:
    """The name a file keeps: Vietnamese diacritics kept (NFC), no directory part, nothing
    Windows refuses when the organizer unzips the archive, at most 200 characters with the
    extension kept; an empty name becomes "tep-tai-len.<ext>"."""
    name = nfc(raw or "")
    name = re.split(r"[\\/]", name)[-1]  # browsers on Windows may send "C:\Users\...\a.pdf"
    stem, ext = split_name(name)
    stem, ext = _clean_part(stem), _clean_part(ext).replace(" ", "")
    stem = stem.rstrip(". ")  # Windows drops trailing dots and spaces
    if stem.upper() in _WINDOWS_RESERVED:
        stem = f"{stem}_"
    if not ext:
        return (stem or FALLBACK_STEM)[:MAX_NAME]
    stem = stem[:max(1, MAX_NAME - len(ext) - 1)].rstrip(". ") or FALLBACK_STEM
    return f"{stem}.{ext}"


def clean_folder_name(raw: str) -> str:
    return _clean_part(raw).rstrip(". ")[:MAX_NAME] or FALLBACK_STEM
