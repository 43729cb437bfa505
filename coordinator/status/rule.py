"""The one rule that turns an endpoint's three facts into the state the dashboard shows.

Three facts are kept apart per endpoint and session, each with its own time and source:

- *reachability*: the latest probe (reachable / degraded / unreachable / unknown, the layer that
  failed, the round-trip time). Every probe result updates it, changed or not.
- *observation*: an operator's check (connected, degraded or failed, with audio / video / shared
  content each yes, no or not checked).
- *readiness*: the endpoint's contact confirmed "ready" (link or SMS), and when.

The rule (ARCHITECTURE.md and the dashboard's help say the same):

1. Readiness never changes the connection state. A confirmed endpoint whose probes fail is shown
   failed *and* confirmed ("confirmed but unreachable": the first calls to make).
2. An operator's observation holds against contradicting probes for STATUS_HUMAN_HOLD_SECONDS
   after it was made: within the hold the operator's word is shown, whatever the probes say (an
   operator's "failed" is not closed by the next probe answer).
3. Outside a hold, the newer of the two facts wins: normally the probes (they come every
   PROBE_INTERVAL_SECONDS), or an operator's observation when no probe has answered since.
4. With neither, the state is unknown. A probe that could not be made (no dial address) and an
   operator's "unknown" are no facts.

Incidents follow the shown state: one opens when it is failed (an operator said so within a
session's window, or PROBE_FAILURES_TO_ESCALATE probes failed in a row and no operator holds it
connected) and resolves when it is connected again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

CONNECTED, DEGRADED, FAILED, UNKNOWN = "connected", "degraded", "failed", "unknown"
STATES = (CONNECTED, DEGRADED, FAILED, UNKNOWN)
FACTS = (CONNECTED, DEGRADED, FAILED)  # what an observation or a probe can assert

# Reachability in words: a probe's state as the API and pages name it.
REACHABILITY = {CONNECTED: "reachable", DEGRADED: "degraded", FAILED: "unreachable", UNKNOWN: "unknown"}

OPERATOR, PROBE = "operator", "probe"


@dataclass(frozen=True)
class Shown:
    state: str
    source: str  # "operator" | "probe" | "" (no fact)
    hold_until: datetime | None  # while an operator's observation holds against the probes


def shown(*, probe_state: str | None, probed_at: datetime | None, check_state: str | None,
          checked_at: datetime | None, now: datetime, hold: timedelta) -> Shown:
    """The state to show from the latest probe and the latest operator observation at `now`."""
    probe_ok = probe_state in FACTS and probed_at is not None
    check_ok = check_state in FACTS and checked_at is not None
    if check_ok:
        until = checked_at + hold
        if now < until:
            return Shown(check_state, OPERATOR, until)
        if not probe_ok or checked_at > probed_at:
            return Shown(check_state, OPERATOR, None)
    if probe_ok:
        return Shown(probe_state, PROBE, None)
    return Shown(UNKNOWN, "", None)


def reachability(probe_state: str | None) -> str:
    return REACHABILITY.get(probe_state or UNKNOWN, "unknown")


def is_evidence(source: str, state: str) -> bool:
    """Evidence that an endpoint was connected (attendance): a reachable probe, or an operator who
    saw it connected (degraded: there, with trouble). A confirmation is never evidence."""
    return (source == PROBE and state == CONNECTED) or (source == OPERATOR and state in (CONNECTED, DEGRADED))
