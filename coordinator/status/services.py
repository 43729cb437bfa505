"""Connection status, callable without a request: the one entry point other packages, the CLI,
the scheduler and the tests use. The work is done in

- `rule`       the rule that turns an endpoint's three facts (reachability, an operator's
               observation, readiness) into the state shown;
- `recording`  appending what probes, operators and contacts say and deriving each endpoint's
               status in the same transaction; holds that expire;
- `incidents`  opening and resolving incidents, SMS to the endpoint's people, digests to the
               province's focal contacts (one per escalation window);
- `queries`    the national roll-up, a unit's endpoints, the incident list, freshness;
- `versions`   the counters behind the dashboards' ETags.
"""
from __future__ import annotations

from coordinator.status.incidents import INCIDENT_KIND, URGENT, flush_all, flush_digests  # noqa: F401
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


def tick(now=None) -> tuple[int, int]:
    """The scheduler's `status.tick`: holds that ended give way to the probes, due digests go out.
    Returns (rows re-derived, digests sent)."""
    now = now or utcnow()
    return expire_holds(now), flush_all(now)


def version(event, session) -> str:
    """The national dashboard's ETag for `session` (what `fingerprint` says, with staleness)."""
    fp = fingerprint(event.slug, session.kind)
    return fp.tag(int(freshness(fp)["stale"])) if fp else "none"
