"""Administrative units: bulk loading of the bundled structures, and queries."""
from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import func, insert, select, update

from coordinator.audit import services as audit
from coordinator.extensions import db
from coordinator.text import fold, nfc
from coordinator.units.models import PATH_SEPARATOR, ROOT_CODE, STRUCTURES, TIERS, Unit
from coordinator.units.succession import load_successions

DATA_DIR = Path(__file__).resolve().parent / "data"
ROOT_NAME = "Trung ương"


class UnitDataError(ValueError):
    pass


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    tier: str
    parent_code: str | None


@dataclass
class LoadResult:
    structure: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    per_tier: dict[str, int] = field(default_factory=dict)
    successions: int = 0  # rows of the succession table between structures

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated)


def data_file(structure: str) -> Path:
    if structure not in STRUCTURES:
        raise UnitDataError(f"unknown structure {structure!r}; known: {', '.join(STRUCTURES)}")
    return DATA_DIR / f"units-{structure}.csv"


def read_rows(path: Path) -> list[UnitRow]:
    """Read a units CSV (code,name,tier,parent_code), parents before children, with the central root first."""
    rows = [UnitRow(ROOT_CODE, ROOT_NAME, "central", None)]
    seen = {ROOT_CODE}
    with path.open(encoding="utf-8", newline="") as fh:
        for line_no, rec in enumerate(csv.DictReader(fh), start=2):
            code, tier = rec["code"].strip(), rec["tier"].strip()
            parent = rec["parent_code"].strip() or ROOT_CODE
            if tier not in TIERS[1:]:
                raise UnitDataError(f"{path.name}:{line_no}: unknown tier {tier!r}")
            if code in seen:
                raise UnitDataError(f"{path.name}:{line_no}: duplicate code {code}")
            if parent not in seen:
                raise UnitDataError(f"{path.name}:{line_no}: parent {parent} must come before {code}")
            seen.add(code)
            rows.append(UnitRow(code, nfc(rec["name"].strip()), tier, parent))
    return rows


def load_structure(
    structure: str,
    *,
    rows: list[UnitRow] | None = None,
    progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """Insert or update every unit of `structure` in a few bulk statements, in one transaction.

    Idempotent: a second load of the same file changes nothing. Units that disappeared from
    the file are kept (endpoints and users may still point at them).
    """
    rows = rows if rows is not None else read_rows(data_file(structure))
    result = LoadResult(structure)
    existing = {
        u.code: u
        for u in db.session.execute(
            select(Unit.id, Unit.code, Unit.name, Unit.tier, Unit.path, Unit.parent_id).where(Unit.structure == structure)
        )
    }
    ids = {code: u.id for code, u in existing.items()}
    paths: dict[str, str] = {}
    for tier in TIERS:
        tier_rows = [r for r in rows if r.tier == tier]
        inserts, updates = [], []
        for r in tier_rows:
            path = (paths[r.parent_code] if r.parent_code else PATH_SEPARATOR) + r.code + PATH_SEPARATOR
            paths[r.code] = path
            values = {
                "name": r.name,
                "search_name": fold(r.name),
                "tier": r.tier,
                "path": path,
                "parent_id": ids[r.parent_code] if r.parent_code else None,
            }
            old = existing.get(r.code)
            if old is None:
                inserts.append({"structure": structure, "code": r.code, **values})
            elif (old.name, old.tier, old.path, old.parent_id) != (r.name, r.tier, path, values["parent_id"]):
                updates.append({"id": old.id, **values})
            else:
                result.unchanged += 1
        if inserts:
            new = db.session.execute(insert(Unit).returning(Unit.id, Unit.code), inserts)
            ids.update({code: id_ for id_, code in new})
            result.inserted += len(inserts)
        if updates:
            db.session.execute(update(Unit), updates)
            result.updated += len(updates)
        result.per_tier[tier] = len(tier_rows)
        if progress:
            progress(len(tier_rows))
    if result.changed:
        audit.record("units.load", "unit_structure", structure, inserted=result.inserted, updated=result.updated)
    # The succession between the structures is refreshed with either: it is by codes, and a
    # table of a few thousand rows.
    result.successions = load_successions()
    db.session.commit()
    return result


def loaded_structures() -> list[str]:
    return sorted(db.session.scalars(select(Unit.structure).distinct()))


def default_structure() -> str:
    """The structure used when a request names none: the configured default if it is loaded,
    else the only one loaded."""
    preferred = current_app.config["DEFAULT_UNIT_STRUCTURE"]
    loaded = loaded_structures()
    if preferred in loaded or len(loaded) != 1:
        return preferred
    return loaded[0]


def get_unit(structure: str, code: str) -> Unit | None:
    return db.session.scalar(select(Unit).where(Unit.structure == structure, Unit.code == code))


def root(structure: str) -> Unit | None:
    return get_unit(structure, ROOT_CODE)


def search_units(
    structure: str,
    *,
    tier: str | None = None,
    parent_code: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Unit], int]:
    """Units matching all given filters, ordered by code, one page at a time, with the total."""
    stmt = select(Unit).where(Unit.structure == structure)
    if tier:
        stmt = stmt.where(Unit.tier == tier)
    if parent_code:
        parent = get_unit(structure, parent_code)
        if parent is None:
            return [], 0
        stmt = stmt.where(Unit.parent_id == parent.id)
    if q:
        needle = fold(q)
        stmt = stmt.where((Unit.search_name.contains(needle, autoescape=True)) | (Unit.code == q.strip()))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = list(db.session.scalars(stmt.order_by(Unit.code).offset((page - 1) * per_page).limit(per_page)))
    return items, total

