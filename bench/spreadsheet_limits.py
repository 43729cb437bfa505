"""Benchmark (issue 14, point 5): how fast a hostile spreadsheet is refused, and what a legitimate
national-size file costs to check, read and import.

    .venv/bin/python bench/spreadsheet_limits.py [--pg URL] [--only sqlite|pg] [--skip-unguarded]

Hostile files, refused by `endpoints_io.read_rows` (no database needed):
  (1) the issue's file: a valid template whose data row holds five million empty cells (20 MB of
      XML packed into ~20 KB); also timed without the size check (what a worker spent before:
      openpyxl parses every cell; --skip-unguarded leaves this out);
  (1b) a row of 4.1 million cells holding varied numbers, which packs like real data (below the
      ratio limit): refused by the count of cells;
  (2) a CSV line with a million separators;
  (3) a sheet whose last row is numbered 1,048,576 (a million empty rows in between) with a value.
Legitimate files:
  (4) a list of 100,000 data rows (MAX_ROWS) as our export writes it: the size check and reading;
  (5) the national list (11,368 endpoints, ~22,700 rows, .xlsx): size check, read and the first
      import, on a fresh SQLite file and a fresh PostgreSQL schema.
Prints figures; asserts nothing about time.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import DEFAULT_PG, on_each_database  # noqa: E402
from import_national import national_rows  # noqa: E402

from coordinator import create_app  # noqa: E402


def timed(fn):
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:  # the refusal is the result
        result = exc
    return result, time.perf_counter() - started


def line(label: str, seconds: float, outcome: str) -> None:
    shown = f"{seconds * 1000:9.1f} ms" if seconds < 1 else f"{seconds:9.2f} s "
    print(f"  {label:<58} {shown}  {outcome}")


def outcome(result) -> str:
    from coordinator.problems import Invalid

    if isinstance(result, Invalid):
        return "refused: " + result.problems[0].message[:90] + "…"
    if isinstance(result, Exception):
        return f"error {type(result).__name__}: {result}"[:100]
    return f"read, {len(result):,} rows"


def hostile_xlsx(extra_in_row: str = "", rows_xml: str = "") -> bytes:
    """A template with one data row, built as XML straight into a ZIP (openpyxl would write the
    five million cells much more slowly)."""
    from coordinator.imports import endpoints_io

    def cell(text):
        return f'<c t="inlineStr"><is><t>{text}</t></is></c>'

    header = "".join(cell(h) for h in endpoints_io.HEADERS)
    data = "".join(cell(v) for v in ("56", "Hội trường Sở", "Số 1 Trần Phú", "sip", "kh@10.56.0.10",
                                     "Nguyễn Văn A", "Giám đốc", "0913 123 456", "", "Chủ trì"))
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             f'<row r="1">{header}</row><row r="2">{data}{extra_in_row}</row>{rows_xml}</sheetData></worksheet>')
    ns = "http://schemas.openxmlformats.org"
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{ns}/package/2006/content-types"><Default Extension="rels" '
                               f'ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default '
                               f'Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
                               f'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                               f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
                               f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" '
                       f'Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                       f'</Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{ns}/spreadsheetml/2006/main" xmlns:r="{ns}/officeDocument/2006/'
                           f'relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{ns}/package/2006/relationships"><Relationship '
                                      f'Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" '
                                      f'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


def unpacked(data: bytes) -> int:
    return sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())


def hostile(skip_unguarded: bool) -> None:
    from coordinator.spreadsheets import limits
    from coordinator.imports import endpoints_io

    print("\n== hostile files (refused before anything is saved) ==")
    data = hostile_xlsx(extra_in_row="<c/>" * 5_000_000)
    print(f"  (1) five million empty cells in one row: {len(data) / 1024:.0f} KB, "
          f"unpacks to {unpacked(data) / 1e6:.0f} MB")
    result, seconds = timed(lambda: endpoints_io.read_rows("hostile.xlsx", data))
    line("(1) refused by the size check", seconds, outcome(result))
    if not skip_unguarded:
        check = limits.check_xlsx
        limits.check_xlsx = lambda data: None
        try:
            result, seconds = timed(lambda: endpoints_io.read_rows("hostile.xlsx", data))
        finally:
            limits.check_xlsx = check
        line("(1) the same without the size check (max_col still on)", seconds, outcome(result))

    cells = limits.MAX_CELLS + 100_000
    varied = "".join(f"<c><v>{(i * 7919) % 1000003}</v></c>" for i in range(cells))
    data = hostile_xlsx(extra_in_row=varied)
    print(f"  (1b) {cells:,} cells of varied numbers: {len(data) / 1e6:.1f} MB, unpacks to "
          f"{unpacked(data) / 1e6:.0f} MB ({unpacked(data) / len(data):.0f} : 1, under the ratio limit)")
    result, seconds = timed(lambda: endpoints_io.read_rows("hostile.xlsx", data))
    line("(1b) refused by the cell count", seconds, outcome(result))

    text = ";".join(endpoints_io.HEADERS) + "\r\n56;Hội trường" + ";" * 1_000_000 + "\r\n"
    csv_data = ("\ufeff" + text).encode()
    result, seconds = timed(lambda: endpoints_io.read_rows("hostile.csv", csv_data))
    line(f"(2) a CSV line with a million separators ({len(csv_data) / 1e6:.1f} MB)", seconds, outcome(result))

    far = hostile_xlsx(rows_xml='<row r="1048576"><c t="inlineStr"><is><t>56</t></is></c>'
                                '<c t="inlineStr"><is><t>Phòng</t></is></c></row>')
    result, seconds = timed(lambda: endpoints_io.read_rows("far.xlsx", far))
    line("(3) a value in row 1,048,576 (a million empty rows before)", seconds, outcome(result))


def legitimate_max() -> None:
    from coordinator.spreadsheets import limits
    from coordinator.imports import endpoints_io
    from coordinator.spreadsheets.safe import write_xlsx

    print(f"\n== a legitimate list of {limits.MAX_ROWS:,} data rows (the limit), as our export writes it ==")
    rows = [[f"{i:05d}", f"Ủy ban nhân dân xã Số {i}", f"Phòng họp trực tuyến Ủy ban nhân dân xã Số {i}",
             f"Trụ sở UBND xã {i}, huyện X, tỉnh Y", "sip", f"sip:dc{i}@10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
             30, f"Nguyễn Văn {i}", "Lãnh đạo", f"0912 {i // 1000 % 1000:03d} {i % 1000:03d}",
             f"kythuat{i}@example.gov.vn", "Chủ trì", "Có"] for i in range(limits.MAX_ROWS)]
    data, seconds = timed(lambda: write_xlsx(endpoints_io.TEMPLATE_HEADERS, rows, sheet_title=endpoints_io.SHEET_TITLE))
    size = unpacked(data)
    print(f"  {len(data) / 1e6:.1f} MB, unpacks to {size / 1e6:.0f} MB "
          f"({size / (limits.MAX_UNPACKED_BYTES):.0%} of the limit); written in {seconds:.1f} s")
    result, seconds = timed(lambda: limits.check_xlsx(data))
    line("(4) the size check", seconds, "passed" if result is None else outcome(result))
    result, seconds = timed(lambda: endpoints_io.read_rows("max.xlsx", data))
    line("(4) read (check + parse + rows)", seconds, outcome(result))


def national(label: str, url: str) -> None:
    from datetime import date, timedelta

    from flask_migrate import upgrade
    from sqlalchemy import select

    from coordinator.auth.services import create_user
    from coordinator.events.plans import read_plan_file, shift_plan
    from coordinator.events.services import apply_plan, get_event
    from coordinator.extensions import db
    from coordinator.spreadsheets import limits
    from coordinator.imports import endpoints_io
    from coordinator.spreadsheets.safe import write_xlsx
    from coordinator.units.models import Unit
    from coordinator.units.services import load_structure

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    print(f"\n== the national list, {label} ==")
    with app.app_context():
        upgrade()
        load_structure("2024")
        plan = shift_plan(read_plan_file(ROOT / "schedules" / "nd49-2024.toml"), date.today() + timedelta(days=60))
        apply_plan(plan)
        organizer = create_user("organizer@example.gov.vn", "bench-password", "organizer")
        event = get_event(plan.slug)
        units = list(db.session.scalars(select(Unit).where(Unit.structure == "2024").order_by(Unit.path)))
        rows = national_rows(units)
        db.session.commit()
        data = write_xlsx(endpoints_io.HEADERS, rows, sheet_title=endpoints_io.SHEET_TITLE)
        print(f"  {len(units):,} endpoints, {len(rows):,} rows, {len(data) / 1e6:.1f} MB "
              f"(unpacks to {unpacked(data) / 1e6:.0f} MB)")
        result, seconds = timed(lambda: limits.check_xlsx(data))
        line("(5) the size check", seconds, "passed" if result is None else outcome(result))
        read, seconds = timed(lambda: endpoints_io.read_rows("national.xlsx", data))
        line("(5) read the .xlsx", seconds, outcome(read))
        result, seconds = timed(lambda: endpoints_io.import_endpoints(event, organizer, read, filename="national.xlsx"))
        line("(5) first import (validate + save)", seconds,
             f"endpoints {result.endpoints.as_dict()}" if hasattr(result, "endpoints") else outcome(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--only", choices=("sqlite", "pg"))
    parser.add_argument("--skip-unguarded", action="store_true",
                        help="do not time the hostile file without the size check (it takes seconds)")
    args = parser.parse_args()
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        hostile(args.skip_unguarded)
        legitimate_max()
    on_each_database(national, args.pg, args.only)


if __name__ == "__main__":
    main()
