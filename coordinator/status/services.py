"""Connection status, callable without a request: the one entry point other packages, the CLI,
the scheduler and the tests use. The work is done in

- `rule`       the rule that turns an endpoint's three facts (reachability, an operator's
               observation, readiness) into the state shown;
- `recording`  appending what probes, operators and contacts say and deriving each endpoint's
               status in the same transaction; holds that expire;
- `incidents`  opening and resolving incidents, SMS to the endpoint's people, digests to the
               province's focal contacts (one per escalation window);
- `lifecycle`  incidents worked by people: acknowledge (one wins), reassign, resolve by hand, notes;
- `overdue`    the escalation of incidents nobody acknowledged within INCIDENT_ACK_SECONDS;
- `incident_list` the incident list (filters, pages, owners, notes);
- `snapshot`   the state of every endpoint of a subtree as a workbook;
- `queries`    the national roll-up, a unit's endpoints, the incident list, freshness;
- `search`     finding an endpoint by a unit's name or code, a room, a dial address, a contact's
               name or phone (an index per event, in memory);
- `feed`       what changed: new failures, recoveries, confirmations; the newest open incidents;
- `versions`   the counters behind the dashboards' ETags.
"""
from __future__ import annotations

from coordinator.status.incident_list import endpoint_notes, incident_item, item_of, notes_of  # noqa: F401
from coordinator.status.snapshot import snapshot_filename, snapshot_rows, snapshot_xlsx  # noqa: F401
from coordinator.status.incidents import INCIDENT_KIND, URGENT, flush_all, flush_digests  # noqa: F401
from coordinator.status.feed import changes, newest_incidents  # noqa: F401
from coordinator.status.search import MATCHES, Results  # noqa: F401
from coordinator.status.search import LIMIT as SEARCH_LIMIT, MAX_LIMIT as SEARCH_MAX_LIMIT  # noqa: F401
from coordinator.status.search import MAX_Q as SEARCH_MAX_Q, search as find_endpoints  # noqa: F401
from coordinator.status.lifecycle import (IncidentConflict, acknowledge, add_note, assign, candidates,  # noqa: F401
                                          may_work, resolve, unit_of, workers)
from coordinator.status.lifecycle import get as get_incident  # noqa: F401
from coordinator.status.overdue import duty_phones, escalate_all, escalate_overdue, read_duty_phone  # noqa: F401
from coordinator.status.queries import (FILTERS, SORTS, UnitPage, apply_filter, current_session,  # noqa: F401
                                        endpoint_paths, open_incident_count,
                                        freshness, has_grandchildren, list_incidents, open_incident_of, open_incidents, rollup,
                                        status_of, summary, timeline, unit_page, unit_view)
from coordinator.status.recording import (PEOPLE, ProbeSummary, StatusError, after_bulk_write,  # noqa: F401
                                          confirm_ready,
                                          expire_holds, has_expired_holds, in_window, record, record_many,
                                          record_probes)
from coordinator.status.rule import CONNECTED, DEGRADED, FAILED, STATES, UNKNOWN, reachability  # noqa: F401
from coordinator.status.versions import Fingerprint, fingerprint, structure_of, unit_path  # noqa: F401
from coordinator.timeutil import utcnow


class Tick(tuple):
    """What a tick did: the pair (rows re-derived, digests sent), as before, and `escalated`: the
    incidents nobody acknowledged in time, escalated now."""

    escalated: int

    def __new__(cls, released: int, digests: int, escalated: int = 0):
        self = super().__new__(cls, (released, digests))
        self.escalated = escalated
        return self


def tick(now=None) -> Tick:
    """The scheduler's `status.tick`: holds that ended give way to the probes, due digests go out,
    incidents nobody acknowledged within INCIDENT_ACK_SECONDS are escalated (once)."""
    now = now or utcnow()
    released, digests = expire_holds(now), flush_all(now)
    return Tick(released, digests, escalate_all(now))


def version(event, session) -> str:
    """The national dashboard's ETag for `session` (what `fingerprint` says, with staleness)."""
    fp = fingerprint(event.slug, session.kind)
    return fp.tag(int(freshness(fp)["stale"])) if fp else "none"
