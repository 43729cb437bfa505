"""What waits in the outbox, and why: the facts an organizer needs while a mail relay or the SMS
provider is down, long before the last attempt fails a message (about two hours with the default
backoff). Read-only; the dispatcher (`services`) decides nothing from here.

- `explain(reason)`: the kind of a provider's error (connection refused, timeout, 4xx, 5xx, …)
  and its explanation in the reader's language, the provider's own words kept beside it;
- `latest_error(...)`: the error of the most recent failed attempt among messages still pending;
- `waiting(event_id)`: per channel, the messages of an event still waiting (pending or being
  sent), since when, how many are retrying, the last error and the next attempt, and whether the
  oldest has waited longer than OUTBOX_STALL_WARNING_MINUTES (`stalled`: the event page warns).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select

from coordinator.extensions import db
from coordinator.outbox.backoff import nominal_delay
from coordinator.outbox.models import CHANNELS, PENDING, SENDING, OutboxMessage
from coordinator.timeutil import utcnow

# Kinds of error, in the order they are recognised (a refused connection reported with an SMTP
# prefix is "refused", not a reply code).
EXPLANATIONS = {
    "refused": _l("the server refused the connection: it is not running, or not listening at the configured "
                  "address and port"),
    "timeout": _l("the server did not answer in time: the network or the server is down or overloaded"),
    "dns": _l("the server's name could not be resolved (DNS)"),
    "tls": _l("the secure connection (TLS) failed: the certificate is not trusted or belongs to another server"),
    "lost": _l("the connection to the server was lost in the middle of sending"),
    "smtp_4xx": _l("the mail server refused for now (4xx reply): it is tried again"),
    "smtp_5xx": _l("the mail server refused for good (5xx reply): retrying does not help until the cause is fixed"),
    "http_429": _l("the SMS provider asks to send more slowly (HTTP 429): it is tried again"),
    "http_5xx": _l("the SMS provider failed on its side (HTTP 5xx): it is tried again"),
    "credentials": _l("the provider refused the account: check the user name, password or token"),
    "foreign": _l("a foreign number, which the Vietnamese SMS sender cannot reach"),
    "opted_out": _l("the number has opted out of SMS"),
}
_SMTP_REPLY = re.compile(r"^(?:SMTP [^\s]+:\d+: )?([45])\d\d[\s-]")
_HTTP_STATUS = re.compile(r"^Twilio HTTP (\d{3})\b")


def error_kind(reason: str) -> str:
    """One of EXPLANATIONS' keys, or "other"."""
    text = (reason or "").lower()
    if not text:
        return ""
    if "connection refused" in text or "errno 111" in text or "winerror 10061" in text:
        return "refused"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "name or service not known" in text or "getaddrinfo" in text or "nodename nor servname" in text \
            or "temporary failure in name resolution" in text:
        return "dns"
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "tls"
    if "foreign number" in text:
        return "foreign"
    if "opted out" in text:
        return "opted_out"
    http = _HTTP_STATUS.match(reason)
    if http:
        status = int(http.group(1))
        if status == 429:
            return "http_429"
        if status >= 500:
            return "http_5xx"
        if status in (401, 403):
            return "credentials"
    if "authentication" in text or text.startswith(("535", "534")) or re.search(r": 53[45]\b", text):
        return "credentials"
    smtp = _SMTP_REPLY.match(reason)
    if smtp:
        return "smtp_4xx" if smtp.group(1) == "4" else "smtp_5xx"
    if "connection lost" in text or "connection reset" in text or "disconnected" in text or "broken pipe" in text:
        return "lost"
    return "other"


@dataclass(frozen=True)
class Explained:
    """A provider's error as shown: its kind, the explanation (translated when rendered) and the
    provider's own words."""

    reason: str
    kind: str

    @property
    def explanation(self) -> str:
        label = EXPLANATIONS.get(self.kind)
        return str(label) if label is not None else ""


def explain(reason: str) -> Explained:
    return Explained(reason or "", error_kind(reason))


def _nominal_delay(attempts: int, urgent: bool) -> timedelta:
    """The backoff `backoff.retry_delay` draws around (without its ±20 % jitter)."""
    return nominal_delay(attempts, urgent, float(current_app.config["OUTBOX_RETRY_BASE_SECONDS"]),
                         float(current_app.config["OUTBOX_RETRY_MAX_SECONDS"]))


RETRYING = and_(OutboxMessage.status == PENDING, OutboxMessage.attempts >= 1, OutboxMessage.last_error != "")


def latest_error(*where) -> str:
    """The error of the most recent failed attempt among pending messages matching `where`.

    No column records when an attempt was made, but each retry was scheduled at the attempt's time
    plus the nominal backoff of its attempt number (± jitter): so the latest attempt is estimated
    per (attempts, priority) group from its latest next attempt, in one grouped query, and its row's
    error read by a second one."""
    groups = db.session.execute(
        select(OutboxMessage.attempts, OutboxMessage.priority, func.max(OutboxMessage.next_attempt_at))
        .where(RETRYING, *where).group_by(OutboxMessage.attempts, OutboxMessage.priority)).all()
    if not groups:
        return ""
    attempts, priority, next_at = max(groups, key=lambda g: g[2] - _nominal_delay(g[0], g[1] > 0))
    return db.session.scalar(
        select(OutboxMessage.last_error).where(RETRYING, *where, OutboxMessage.attempts == attempts,
                                               OutboxMessage.priority == priority,
                                               OutboxMessage.next_attempt_at == next_at)
        .order_by(OutboxMessage.id.desc()).limit(1)) or ""


@dataclass
class Waiting:
    """One channel's messages of an event that are not sent yet."""

    channel: str
    count: int  # pending or being sent
    since: datetime  # when the oldest of them was queued
    retrying: int  # pending after at least one failed attempt
    next_attempt_at: datetime | None  # the earliest next attempt of those pending
    last_error: str
    stalled: bool  # the oldest has waited longer than OUTBOX_STALL_WARNING_MINUTES
    now: datetime

    @property
    def error(self) -> Explained:
        return explain(self.last_error)

    @property
    def minutes(self) -> int:
        return max(0, int((self.now - self.since).total_seconds() // 60))

    @property
    def next_attempt_due(self) -> bool:
        """The next attempt's time has come: only a dispatcher that is not running keeps it waiting."""
        return self.next_attempt_at is not None and self.next_attempt_at <= self.now


def stall_threshold() -> timedelta:
    return timedelta(minutes=float(current_app.config.get("OUTBOX_STALL_WARNING_MINUTES", 10)))


def waiting(event_id: int, *, now: datetime | None = None) -> list[Waiting]:
    """Per channel (email, then SMS), what of the event waits; channels with nothing waiting are left out."""
    now = now or utcnow()
    threshold = stall_threshold()
    rows = db.session.execute(
        select(OutboxMessage.channel, func.count(), func.min(OutboxMessage.created_at),
               func.sum(case((RETRYING, 1), else_=0)),
               func.min(case((OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at), else_=None)))
        .where(OutboxMessage.event_id == event_id, OutboxMessage.status.in_((PENDING, SENDING)))
        .group_by(OutboxMessage.channel)).all()
    out = []
    for channel, count, since, retrying, next_at in rows:
        error = latest_error(OutboxMessage.event_id == event_id, OutboxMessage.channel == channel) if retrying else ""
        out.append(Waiting(channel, count, since, int(retrying or 0), next_at, error,
                           stalled=now - since > threshold, now=now))
    order = {c: i for i, c in enumerate(CHANNELS)}
    return sorted(out, key=lambda w: order.get(w.channel, len(order)))


def stalled(event_id: int, *, now: datetime | None = None) -> list[Waiting]:
    return [w for w in waiting(event_id, now=now) if w.stalled]
