"""When a message that failed for now is tried again: exponential backoff with jitter."""
from __future__ import annotations

import random
from datetime import timedelta

from flask import current_app

URGENT_RETRY_BASE_SECONDS = 5.0  # an incident SMS refused by a busy provider is tried again within seconds


def retry_delay(attempts: int, urgent: bool = False) -> timedelta:
    """Exponential backoff with ±20 % jitter (so that many failed messages do not return at once);
    from a few seconds for urgent messages (an incident does not wait a minute for a 429)."""
    return jittered_delay(attempts, urgent, current_app.config["OUTBOX_RETRY_BASE_SECONDS"],
                          current_app.config["OUTBOX_RETRY_MAX_SECONDS"])


def nominal_delay(attempts: int, urgent: bool, base: float, cap: float) -> timedelta:
    """The backoff itself, without jitter: doubling from `base` (at most URGENT_RETRY_BASE_SECONDS
    for urgent messages), capped at `cap`."""
    return timedelta(seconds=_seconds(attempts, urgent, base, cap))


def jittered_delay(attempts: int, urgent: bool, base: float, cap: float) -> timedelta:
    return timedelta(seconds=_seconds(attempts, urgent, base, cap) * random.uniform(0.8, 1.2))


def _seconds(attempts: int, urgent: bool, base: float, cap: float) -> float:
    if urgent:
        base = min(base, URGENT_RETRY_BASE_SECONDS)
    return min(cap, base * 2 ** max(0, attempts - 1))
