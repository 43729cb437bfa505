from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.extensions import db


class Tier(StrEnum):
    """The tiers of administrative units, highest first (2025 has no districts)."""

    CENTRAL = "central"
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"


class Share(StrEnum):
    """What part of a unit went into its successor (`UnitSuccession.share`)."""

    WHOLE = "whole"  # entirely into the new unit
    MAIN = "main"  # a divided unit: its main part
    PART = "part"  # a divided unit: another part


TIERS = tuple(Tier)
# The bundled structures: names of data sets (units/data/), not a state, so the database does not
# restrict them (a new structure is a data release, not a migration).
STRUCTURES = ("2024", "2025")
ROOT_CODE = "TW"  # "Trung ương": the central root above the provinces, in every structure
PATH_SEPARATOR = "/"


def province_code(path: str) -> str:
    """The code of the province a unit's path lies in: "/TW/56/568/22333/" -> "56"; the central
    root "/TW/" -> ROOT_CODE."""
    parts = path.strip(PATH_SEPARATOR).split(PATH_SEPARATOR)
    return parts[1] if len(parts) > 1 else ROOT_CODE


class Unit(db.Model):
    """An administrative unit of one structure (2024: province/district/commune; 2025: province/commune).

    `path` is a materialised path of codes ("/TW/56/568/22333/") so that a subtree is one
    indexed prefix query, cheap enough for a coordinator scope check on every request.
    """

    __tablename__ = "units"
    __table_args__ = (
        UniqueConstraint("structure", "code"),
        Index("ix_units_structure_path", "structure", "path"),
        Index("ix_units_structure_tier", "structure", "tier"),
        CheckConstraint(column("tier", String).in_(TIERS), name="tier"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Which structure the unit belongs to (one of STRUCTURES: "2024", "2025").
    structure: Mapped[str] = mapped_column(String(8))
    #: The unit's official code, unique within its structure; ROOT_CODE for the central root.
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    #: Lower-case, without diacritics: lets "khanh hoa" find "Tỉnh Khánh Hòa".
    search_name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    #: The codes from the root down to this unit, "/TW/56/568/22333/": a subtree is a prefix.
    path: Mapped[str] = mapped_column(String(128))

    parent: Mapped[Unit | None] = relationship(remote_side=[id])

    @property
    def parent_code(self) -> str | None:
        parts = self.path.strip(PATH_SEPARATOR).split(PATH_SEPARATOR)
        return parts[-2] if len(parts) > 1 else None

    def contains(self, other: Unit) -> bool:
        """True when `other` is this unit or lies below it."""
        return other.structure == self.structure and other.path.startswith(self.path)

    def __repr__(self) -> str:
        return f"<Unit {self.structure}:{self.code} {self.name}>"


class UnitSuccession(db.Model):
    """What a unit of one structure became in the next (2024 -> 2025: Nghị quyết 202/2025/QH15 for
    the provinces, the commune mergers), by codes: loaded with the units, from the bundled
    `succession-2024-2025.csv`. `share`: whole (entirely into the new unit), main (a divided unit:
    its main part), part (another part)."""

    __tablename__ = "unit_successions"
    __table_args__ = (UniqueConstraint("from_structure", "from_code", "to_structure", "to_code"),
                      Index("ix_unit_successions_to", "to_structure", "to_code"),
                      CheckConstraint(column("tier", String).in_(TIERS), name="tier"),
                      CheckConstraint(column("share", String).in_(tuple(Share)), name="share"))

    id: Mapped[int] = mapped_column(primary_key=True)
    from_structure: Mapped[str] = mapped_column(String(8))
    from_code: Mapped[str] = mapped_column(String(16))
    to_structure: Mapped[str] = mapped_column(String(8))
    to_code: Mapped[str] = mapped_column(String(16))
    #: The tier of the unit before (a province's successor is a province, a commune's a commune).
    tier: Mapped[str] = mapped_column(String(16))
    share: Mapped[str] = mapped_column(String(8), default=Share.WHOLE)
