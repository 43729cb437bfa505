"""Time handling: stored in UTC, shown in the event's own time zone as dd/mm/yyyy HH:MM."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

DISPLAY_FORMAT = "%d/%m/%Y %H:%M"
DATE_FORMAT = "%d/%m/%Y"


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zone type, and PostgreSQL's timestamptz returns the session's zone;
    storing naive UTC and re-attaching UTC on the way out gives the same values on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone first")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def is_valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def common_timezones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/")))


def to_local(value: datetime, tz: str) -> datetime:
    return value.astimezone(ZoneInfo(tz))


def from_local(naive: datetime, tz: str) -> datetime:
    """A wall-clock time in `tz` (as typed by a user or written in a plan file) to an aware datetime."""
    return naive.replace(tzinfo=ZoneInfo(tz))


def format_local(value: datetime | None, tz: str, fmt: str = DISPLAY_FORMAT) -> str:
    if value is None:
        return ""
    return to_local(value, tz).strftime(fmt)


def iso_local(value: datetime | None, tz: str) -> str | None:
    """ISO 8601 with the zone's offset, e.g. 2024-06-28T08:30:00+07:00."""
    if value is None:
        return None
    return to_local(value, tz).isoformat()


def alembic_render_item(type_, obj, autogen_context):
    """Autogenerate writes UTCDateTime as plain sa.DateTime(): migrations must not import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False
