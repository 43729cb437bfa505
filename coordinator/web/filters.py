"""Jinja filters and globals: times in the event's zone as dd/mm/yyyy HH:MM."""
from __future__ import annotations

from flask import Flask
from flask_babel import get_locale

from coordinator.auth.permissions import can
from coordinator.timeutil import DATE_FORMAT, format_local


def register(app: Flask) -> None:
    app.jinja_env.filters["localdt"] = lambda value, tz, fmt=None: format_local(value, tz, *([fmt] if fmt else []))
    app.jinja_env.filters["localdate"] = lambda value, tz: format_local(value, tz, DATE_FORMAT)

    @app.context_processor
    def inject():
        from flask_login import current_user

        return {"can": lambda permission, unit=None: can(current_user, permission, unit),
                "current_locale": str(get_locale() or "vi")}
