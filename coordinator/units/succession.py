"""The official succession of units between structures (2024 -> 2025): loading the bundled table,
and following it (a 2024 province's 2025 successor, a 2025 unit's predecessors). The central root
TW succeeds itself."""
from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import delete, insert, select

from coordinator.extensions import db
from coordinator.units.models import ROOT_CODE, Unit, UnitSuccession

DATA_DIR = Path(__file__).resolve().parent / "data"
FILES = {("2024", "2025"): "succession-2024-2025.csv"}
WHOLE, MAIN, PART = "whole", "main", "part"


def load_successions() -> int:
    """Replace the succession rows with the bundled files' (a few thousand rows: one statement
    each way). Returns the rows loaded."""
    rows = []
    for (old, new), name in FILES.items():
        with (DATA_DIR / name).open(encoding="utf-8", newline="") as fh:
            rows += [{"from_structure": old, "from_code": r["from_code"], "to_structure": new, "to_code": r["to_code"],
                      "tier": r["tier"], "share": r["share"]} for r in csv.DictReader(fh)]
        rows.append({"from_structure": old, "from_code": ROOT_CODE, "to_structure": new, "to_code": ROOT_CODE,
                     "tier": "central", "share": WHOLE})
    db.session.execute(delete(UnitSuccession))
    db.session.execute(insert(UnitSuccession), rows)
    return len(rows)


def successors(unit: Unit, structure: str) -> list[tuple[Unit, str]]:
    """The units of `structure` that `unit` became, with the share (whole / main / part): the main
    or whole one first."""
    if unit.structure == structure:
        return [(unit, WHOLE)]
    rows = db.session.execute(
        select(Unit, UnitSuccession.share).join(UnitSuccession, (UnitSuccession.to_code == Unit.code)
                                                & (UnitSuccession.to_structure == Unit.structure))
        .where(UnitSuccession.from_structure == unit.structure, UnitSuccession.from_code == unit.code,
               Unit.structure == structure)).all()
    return sorted(((u, share) for u, share in rows), key=lambda r: (r[1] == PART, r[0].code))


def predecessors(unit: Unit, structure: str) -> list[tuple[Unit, str]]:
    """The units of `structure` that became `unit` (e.g. 2025 Khánh Hòa: 2024 Khánh Hòa and Ninh Thuận)."""
    if unit.structure == structure:
        return [(unit, WHOLE)]
    rows = db.session.execute(
        select(Unit, UnitSuccession.share).join(UnitSuccession, (UnitSuccession.from_code == Unit.code)
                                                & (UnitSuccession.from_structure == Unit.structure))
        .where(UnitSuccession.to_structure == unit.structure, UnitSuccession.to_code == unit.code,
               Unit.structure == structure)).all()
    return sorted(rows, key=lambda r: r[0].code)


def equivalent(unit: Unit, structure: str) -> Unit | None:
    """The one unit of `structure` that holds all of `unit` (its successor when it went whole into
    one), for scopes: 2024 Ninh Thuận -> 2025 Khánh Hòa. None when it was divided or has none (a
    2024 district: there are no districts in 2025)."""
    found = successors(unit, structure)
    if len(found) == 1 and found[0][1] == WHOLE:
        return found[0][0]
    return None


def mapping(from_structure: str, to_structure: str, tiers: tuple[str, ...]) -> dict[str, list[tuple[str, str]]]:
    """from code -> [(to code, share)] for the tiers: the whole table in one query."""
    out: dict[str, list[tuple[str, str]]] = {}
    for f, t, share in db.session.execute(select(UnitSuccession.from_code, UnitSuccession.to_code, UnitSuccession.share)
                                          .where(UnitSuccession.from_structure == from_structure,
                                                 UnitSuccession.to_structure == to_structure,
                                                 UnitSuccession.tier.in_(tiers))):
        out.setdefault(f, []).append((t, share))
    for targets in out.values():
        targets.sort(key=lambda r: (r[1] == PART, r[0]))
    return out
