"""What a change of an event queued, or would send: the vocabulary the events services share with
the receivers of their signals (`coordinator.signals`), so that events never imports them.

- `Queued`: what the receivers of `event_published`, `event_cancelled`, `sessions_moved` and
  `event_changed` report they queued (the invitations' `SyncResult` is one; reminders report the
  cancellation SMS); the sender adds them up with `Queued.total`.
- `Consequences`: what an action would send, as its preview shows it (pages, `--dry-run`, the API).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable


@dataclass
class Queued:
    invited: int = 0  # invitations to someone not invited before
    updated: int = 0  # invitations sent again: what the calendar shows changed
    cancelled: int = 0  # invitations withdrawn (METHOD:CANCEL)
    per_session: dict[str, int] = field(default_factory=dict)  # session kind -> invitations queued
    recipients: set[str] = field(default_factory=set)  # addresses written to
    sms: int = 0  # texts queued (the cancellation SMS to those reminded by SMS)

    @property
    def queued(self) -> int:
        """Invitations queued, of every kind."""
        return self.invited + self.updated + self.cancelled

    @classmethod
    def total(cls, reports: Iterable[object]) -> Queued:
        """The sum of the receivers' reports (`signals.results(...)`); what is not a Queued is no report."""
        out = cls()
        for r in reports:
            if not isinstance(r, Queued):
                continue
            out.invited, out.updated, out.cancelled, out.sms = (
                out.invited + r.invited, out.updated + r.updated, out.cancelled + r.cancelled, out.sms + r.sms)
            for kind, n in r.per_session.items():
                out.per_session[kind] = out.per_session.get(kind, 0) + n
            out.recipients |= r.recipients
        return out


@dataclass
class Consequences:
    """What an action would send, computed by doing it in a savepoint and rolling it back."""

    invitations: dict[str, int] = field(default_factory=dict)  # per session kind
    recipients: int = 0
    updates: int = 0
    cancellations: int = 0
    reminders: int = 0  # reminder rules still to fire
    first_reminder_at: datetime | None = None
    sender: str = ""  # the mail's From
    reply_to: str | None = None  # where answers go (None: to the From address)

    @property
    def messages(self) -> int:
        return sum(self.invitations.values())
