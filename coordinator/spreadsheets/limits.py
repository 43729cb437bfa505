"""What an uploaded spreadsheet may cost to read, checked before it is parsed.

An .xlsx is a ZIP of XML parts. A part of a few kilobytes can unpack to hundreds of megabytes (a
row of five million empty cells is 20 MB of `<c/>` that deflate packs into 20 KB), and openpyxl
parses every cell of a row, even in read-only mode and even the cells past the columns it is asked
for: 131 KB held a worker for 21 s. So the archive's own directory (the sizes each part declares;
Python's zipfile never unpacks more than that, and a part that lies fails its CRC check) is read
first, and a file whose parts unpack to more than a legitimate file ever does, or that packs
tighter than real data does, is refused before any XML is parsed; then the cells of its
worksheets are counted on the unpacked bytes as they stream (a fraction of a second for the
largest legitimate file), and a workbook with more cells than a legitimate one has is refused too
(that bounds what is parsed even when the XML is made not to pack well). Then only the first
`MAX_COLUMNS` columns of each row are taken (openpyxl's `max_col`).

The figures: the template's 13 columns of a 100,000-row file (MAX_ROWS, four national lists)
written by openpyxl unpack to 88 MB, at 12.6 : 1, with 1.3 million cells (their cells counted in
0.4 s); Excel's files are smaller (shared strings).
"""
from __future__ import annotations

import io
import zipfile

from coordinator.messages import N_, Message

MAX_ROWS = 100_000  # data rows below the header: ~4x the national list (~23,000 rows)
MAX_COLUMNS = 50  # columns A to AX are read; the template has 13
MAX_UNPACKED_BYTES = 160 * 1024 * 1024  # every part together, once unpacked (100,000 rows: 88 MB)
MAX_RATIO = 100  # unpacked : packed, for a part larger than RATIO_FROM_BYTES (real sheets: 5-20)
RATIO_FROM_BYTES = 1024 * 1024
MAX_PARTS = 10_000  # a workbook has tens of parts (one per sheet, image, style, …)
# Cells in the worksheets: what openpyxl's parsing costs (about half a million a second here). The
# template's 13 columns of MAX_ROWS rows are 1.3 million; a sheet formatted (borders) over 26
# columns of them, 2.6 million.
MAX_CELLS = 4_000_000
TEMPLATE_COLUMNS = 13  # the endpoint template's (endpoints_io.COLUMNS): for the message only
_CELL_TAGS = (b"<c ", b"<c>", b"<c/")
MAX_CSV_SEPARATORS = 16_384  # per line: Excel's own column limit


class TooLarge(Exception):
    def __init__(self, msg: Message):
        self.msg = msg
        super().__init__(msg.text)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f}" if n >= 10 * 1024 * 1024 else f"{n / (1024 * 1024):.1f}"


def check_xlsx(data: bytes) -> None:
    """Raise TooLarge when the workbook would unpack to more than a real one does. A file that is
    no ZIP at all passes: openpyxl says what is wrong with it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    with archive:
        parts = archive.infolist()
        if len(parts) > MAX_PARTS:
            raise TooLarge(Message(N_("the workbook has %(count)s parts; a spreadsheet has a few dozen (at most "
                                      "%(max)s are read): save it again from Excel as .xlsx, or upload a .csv"),
                                   {"count": len(parts), "max": MAX_PARTS}))
        total = sum(p.file_size for p in parts)
        if total > MAX_UNPACKED_BYTES:
            raise TooLarge(Message(N_(
                "the workbook unpacks to %(size)s MB, more than the limit of %(limit)s MB (a list of %(rows)s rows "
                "is about 90 MB): delete the empty rows and columns after the data (or whole unused sheets), or "
                "split the list into several files"),
                {"size": _mb(total), "limit": _mb(MAX_UNPACKED_BYTES), "rows": MAX_ROWS}))
        for part in parts:
            if part.file_size > RATIO_FROM_BYTES and part.file_size > MAX_RATIO * max(part.compress_size, 1):
                raise TooLarge(Message(N_(
                    "part %(part)s of the workbook unpacks to %(ratio)s times its packed size (%(size)s MB), which "
                    "real data never does (at most %(max)s times is read): the sheet is full of empty cells or was "
                    "made to overload the server; copy the data alone into a new workbook, or upload a .csv"),
                    {"part": part.filename, "ratio": part.file_size // max(part.compress_size, 1),
                     "size": _mb(part.file_size), "max": MAX_RATIO}))
        cells = 0
        for part in parts:
            if part.filename.startswith("xl/worksheets/") and part.filename.endswith(".xml"):
                cells += count_cells(archive, part, MAX_CELLS - cells)
                if cells > MAX_CELLS:
                    raise TooLarge(Message(N_(
                        "the workbook has more than %(max)s cells (a list of %(rows)s rows in the template's "
                        "columns has about %(usual)s): delete the empty rows and columns after the data, or "
                        "split the list into several files"),
                        {"max": MAX_CELLS, "rows": MAX_ROWS, "usual": TEMPLATE_COLUMNS * MAX_ROWS}))


def count_cells(archive: zipfile.ZipFile, part: zipfile.ZipInfo, stop_after: int) -> int:
    """The `<c>` elements of a worksheet part, counted on the unpacked bytes as they stream (no
    XML parsed; a file with prefixed tags, `<x:c>`, counts none and is bounded by its size alone);
    stops counting past `stop_after`."""
    found, carry = 0, b""
    with archive.open(part) as stream:
        while chunk := stream.read(1024 * 1024):
            chunk = carry + chunk
            found += sum(chunk.count(tag) for tag in _CELL_TAGS)
            if found > stop_after:
                return found
            carry = chunk[-2:]  # a tag cut by the chunk's end is counted with the next one
    return found


def check_csv(text: str) -> None:
    """Raise TooLarge when a line holds more separators than Excel has columns (csv would build
    one list of millions of empty cells)."""
    for number, line in enumerate(text.split("\n"), start=1):
        if max(line.count(","), line.count(";"), line.count("\t")) > MAX_CSV_SEPARATORS:
            raise TooLarge(Message(N_(
                "line %(line)s of the CSV file has more than %(max)s columns, which no spreadsheet has: delete the "
                "empty columns after the data and save it again"), {"line": number, "max": MAX_CSV_SEPARATORS}))
