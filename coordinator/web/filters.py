"""Jinja filters and globals: times in the event's zone as dd/mm/yyyy HH:MM, the page's language.
(`can(permission, unit)` comes from `coordinator.auth.setup`: web knows no domain.)"""
from __future__ import annotations

from flask import Flask
from flask_babel import get_locale

from coordinator.timeutil import DATE_FORMAT, format_local


def register(app: Flask) -> None:
    app.jinja_env.filters["localdt"] = lambda value, tz, fmt=None: format_local(value, tz, *([fmt] if fmt else []))
    app.jinja_env.filters["localdate"] = lambda value, tz: format_local(value, tz, DATE_FORMAT)

    @app.context_processor
    def inject():
        return {"current_locale": str(get_locale() or "vi")}
