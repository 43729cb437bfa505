"""Job functions. APScheduler pickles references to these, so they are module-level and take
only picklable arguments; each runs in an app context of the scheduler's app."""
from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)
_app: Flask | None = None


def bind_app(app: Flask) -> None:
    global _app
    _app = app


def finish_past_events() -> None:
    from coordinator.events.services import finish_past_events as finish

    assert _app is not None, "bind_app() first"
    with _app.app_context():
        for slug in finish():
            log.info("event %s finished", slug)


def dispatch_outbox() -> None:
    """Send what is due in the outbox (the running service's continuous dispatcher)."""
    from coordinator.outbox.services import dispatch_due

    assert _app is not None, "bind_app() first"
    with _app.app_context():
        stats = dispatch_due()
        if stats.handled:
            log.info("outbox: %s sent, %s to retry, %s failed", stats.sent, stats.retried, stats.failed)
