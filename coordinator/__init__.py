"""Coordination service for nationwide tiered videoconferences."""
from __future__ import annotations

from typing import Any

from flask import Flask

from coordinator.config import PROJECT_ROOT  # noqa: F401  (scripts and tests read it here)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    # Here, not at the top: importing any module of the package (coordinator.text, say) must not
    # import the whole application.
    from coordinator.factory import build_app

    return build_app(overrides)
