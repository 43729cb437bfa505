"""The rule that turns an endpoint's three facts into the state shown, as a table over sequences of
events: probes (reachability), operators' checks (observation), contacts' confirmations
(readiness), and time passing (an operator's hold ending). Each sequence is played through the
real services on a real database, and what the dashboard would show is checked after it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

UTC = timezone.utc
HOLD = 900  # STATUS_HUMAN_HOLD_SECONDS' default


# --- the pure rule -------------------------------------------------------------------------------------

T0 = datetime(2024, 6, 27, 7, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize("probe, probed, check, checked, now, expected", [
    # (probe state, probe at, check state, check at, now) -> (state, source, held)
    ("", None, "", None, 0, ("unknown", "", False)),  # nothing known
    ("unknown", 0, "", None, 10, ("unknown", "", False)),  # a probe that could not be made is no fact
    ("connected", 0, "", None, 10, ("connected", "probe", False)),
    ("failed", 0, "", None, 10, ("failed", "probe", False)),
    ("degraded", 0, "", None, 10, ("degraded", "probe", False)),
    ("failed", 100, "connected", 0, 200, ("connected", "operator", True)),  # the operator holds ...
    ("failed", 950, "connected", 0, 960, ("failed", "probe", False)),  # ... until the hold ends
    ("connected", 100, "failed", 0, 899, ("failed", "operator", True)),  # "failed" is not closed by a probe
    ("connected", 100, "failed", 0, 900, ("connected", "probe", False)),  # the hold ends at exactly 900 s
    ("connected", 0, "failed", 100, 2000, ("failed", "operator", False)),  # no probe since: the newer fact
    ("", None, "connected", 0, 5000, ("connected", "operator", False)),  # never probed: the operator's word
    ("failed", 0, "unknown", 100, 200, ("failed", "probe", False)),  # an operator's "unknown" is no fact
])
def test_the_rule(probe, probed, check, checked, now, expected):
    from coordinator.status.rule import shown

    got = shown(probe_state=probe, probed_at=None if probed is None else at(probed), check_state=check,
                checked_at=None if checked is None else at(checked), now=at(now), hold=timedelta(seconds=HOLD))
    assert (got.state, got.source, got.hold_until is not None) == expected
    if got.hold_until is not None:
        assert got.hold_until == at(checked + HOLD)


def test_readiness_and_evidence_words():
    from coordinator.status.rule import is_evidence, reachability

    assert [reachability(s) for s in ("connected", "degraded", "failed", "unknown", "")] == [
        "reachable", "degraded", "unreachable", "unknown", "unknown"]
    assert is_evidence("probe", "connected") and not is_evidence("probe", "degraded")
    assert is_evidence("operator", "connected") and is_evidence("operator", "degraded")
    assert not is_evidence("self", "connected") and not is_evidence("sms", "connected")


# --- sequences through the services ----------------------------------------------------------------------

@pytest.fixture()
def one(app, nd49):
    """nd49 published, its connectivity test under way (started 30 minutes ago), one endpoint of
    Khánh Hòa with a technical contact; returns (event id, session id, endpoint id, the time the
    sequences start)."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.units.services import get_unit

    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        event = get_event(nd49)
        move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=5))
        move_session(event, "main", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
        values = endpoints.clean_endpoint({"name": "Hội trường Sở Khánh Hòa", "protocol": "sip",
                                           "dial": "sip:56@127.0.0.1:9", "contacts": [
                                               {"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "role": "technical"}]})
        endpoint = endpoints.save_endpoint(event, get_unit("2024", "56"), values, actor=SystemActor())
        publish(event)
        return SimpleNamespace(event=event.id, session=event.session("connectivity_test").id, endpoint=endpoint.id,
                               t0=now)


def _play(app, one, steps):
    from coordinator.endpoints.models import Endpoint
    from coordinator.events.models import Event, EventSession
    from coordinator.extensions import db
    from coordinator.status import services as status

    with app.app_context():
        event, session = db.session.get(Event, one.event), db.session.get(EventSession, one.session)
        endpoint = db.session.get(Endpoint, one.endpoint)
        for t, kind, value in steps:
            now = one.t0 + timedelta(seconds=t)
            if kind == "probe":
                status.record_probes(event, session, [SimpleNamespace(
                    key=one.endpoint, state=value, layer="ok" if value == "connected" else "timeout", code=None,
                    rtt_ms=5.0 if value == "connected" else None, target="SIP/UDP 127.0.0.1:9", detail=value)], now=now)
            elif kind == "check":
                status.record(endpoint, session, "operator", value, note=f"check at {t}", now=now)
            elif kind == "confirm":
                status.confirm_ready(event, session, [one.endpoint], value, now=now)
            elif kind == "tick":
                status.expire_holds(now)
            else:
                raise AssertionError(kind)


def _shown(app, one):
    from coordinator.extensions import db
    from coordinator.status import services as status
    from coordinator.status.models import Incident

    with app.app_context():
        row = status.status_of(one.endpoint, one.session)
        open_ = db.session.scalar(select(func.count()).select_from(Incident).where(
            Incident.endpoint_id == one.endpoint, Incident.resolved_at.is_(None)))
        return SimpleNamespace(state=row.state, source=row.source, confirmed=row.confirmed_at is not None,
                               incident=bool(open_), held=row.hold_until is not None, probe=row.probe_state,
                               probed_at=row.probed_at, failures=row.probe_failures, check=row.check_state)


SEQUENCES = {
    # name: (steps [(seconds after start, what, value)], (state, source, confirmed, incident open))
    "a confirmation alone connects nothing": (
        [(0, "confirm", "self")], ("unknown", "", True, False)),
    "a dead endpoint confirmed stays failed, and confirmed": (
        [(0, "confirm", "self"), (10, "probe", "failed"), (20, "probe", "failed"), (30, "probe", "failed")],
        ("failed", "probe", True, True)),
    "a confirmation does not resolve an incident": (
        [(0, "probe", "failed"), (10, "probe", "failed"), (20, "probe", "failed"), (30, "confirm", "sms")],
        ("failed", "probe", True, True)),
    "a probe that reaches it connects it": (
        [(0, "confirm", "self"), (10, "probe", "connected")], ("connected", "probe", True, False)),
    "five failed probes in a row after a reachable one leave it failed": (
        [(0, "probe", "connected")] + [(10 * i, "probe", "failed") for i in range(1, 6)],
        ("failed", "probe", False, True)),
    "an operator's connected holds against failing probes": (
        [(0, "check", "connected"), (60, "probe", "failed"), (120, "probe", "failed"), (180, "probe", "failed")],
        ("connected", "operator", False, False)),
    "after the hold the probes win again (and escalate)": (
        [(0, "check", "connected"), (60, "probe", "failed"), (120, "probe", "failed"), (180, "probe", "failed"),
         (HOLD + 1, "tick", None)],
        ("failed", "probe", False, True)),
    "an operator's failed is not closed by the next probe answer": (
        [(0, "check", "failed"), (60, "probe", "connected")], ("failed", "operator", False, True)),
    "after the hold a probe answer closes it": (
        [(0, "check", "failed"), (60, "probe", "connected"), (HOLD + 60, "probe", "connected")],
        ("connected", "probe", False, False)),
    "the hold's end with no newer probe keeps the operator's word": (
        [(0, "probe", "connected"), (100, "check", "failed"), (100 + HOLD + 5, "tick", None)],
        ("failed", "operator", False, True)),
    "the latest probe decides after the hold, even if it came during it": (
        [(0, "check", "connected"), (300, "probe", "failed"), (HOLD + 1, "tick", None)],
        ("failed", "probe", False, False)),  # one failure: below PROBE_FAILURES_TO_ESCALATE
    "a degraded observation holds too": (
        [(0, "check", "degraded"), (30, "probe", "connected")], ("degraded", "operator", False, False)),
}


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_a_sequence_of_events(app, one, name):
    steps, (state, source, confirmed, incident) = SEQUENCES[name]
    _play(app, one, steps)
    got = _shown(app, one)
    assert (got.state, got.source, got.confirmed, got.incident) == (state, source, confirmed, incident), name


def test_every_probe_updates_reachability_and_its_time(app, one):
    for i in range(5):
        _play(app, one, [(60 * i, "probe", "failed")])
        got = _shown(app, one)
        assert got.probed_at == one.t0 + timedelta(seconds=60 * i) and got.failures == i + 1
    assert got.probe == "failed" and got.state == "failed"


def test_the_timeline_shows_both_the_observation_and_the_probes(app, one):
    from coordinator.status import services as status

    _play(app, one, [(0, "check", "connected"), (60, "probe", "failed"), (120, "confirm", "self")])
    with app.app_context():
        events = [(e.source, e.state) for e in reversed(status.timeline(one.endpoint, one.session))]
    assert events == [("operator", "connected"), ("probe", "failed"), ("self", "ready")]
    assert _shown(app, one).held


def test_the_scheduler_tick_gives_expired_holds_back_to_the_probes(app, one):
    from coordinator.status import services as status

    _play(app, one, [(0, "check", "connected"), (60, "probe", "failed")])
    with app.app_context():
        assert status.tick(one.t0 + timedelta(seconds=HOLD - 1)) == (0, 0)
        assert status.has_expired_holds(one.t0 + timedelta(seconds=HOLD))
        released, _ = status.tick(one.t0 + timedelta(seconds=HOLD))
        assert released == 1 and not status.has_expired_holds(one.t0 + timedelta(seconds=HOLD + 1))
    got = _shown(app, one)
    assert (got.state, got.source, got.held) == ("failed", "probe", False)


def test_the_hold_follows_the_configuration(app, one, monkeypatch):
    monkeypatch.setitem(app.config, "STATUS_HUMAN_HOLD_SECONDS", 60)
    _play(app, one, [(0, "check", "connected"), (61, "probe", "failed")])
    assert _shown(app, one).state == "failed"


def test_attendance_evidence_is_a_probe_or_an_operator_inside_the_session(app, one):
    """The test started 30 minutes before `t0`: everything here is inside it."""
    from coordinator.status import services as status

    _play(app, one, [(0, "confirm", "self"), (10, "probe", "failed")])
    with app.app_context():
        assert status.status_of(one.endpoint, one.session).evidence_at is None  # readiness is no evidence
    _play(app, one, [(20, "probe", "connected"), (30, "check", "connected")])
    with app.app_context():
        row = status.status_of(one.endpoint, one.session)
        assert (row.evidence_at, row.evidence_source) == (one.t0 + timedelta(seconds=20), "probe")  # the first


def test_two_writers_of_one_endpoint_at_once_both_count(app, one):
    """A sweep's probe and an operator's check of an endpoint never seen before, at the same
    moment, from two connections: neither fails, and the row holds both facts."""
    import threading

    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.endpoints.models import Endpoint
    from coordinator.events.models import Event, EventSession
    from coordinator.extensions import db
    from coordinator.status import services as status
    from coordinator.units.models import Unit

    with app.app_context():
        event = db.session.get(Event, one.event)
        units = db.session.scalars(select(Unit).where(Unit.structure == "2024", Unit.tier == "province",
                                                      Unit.code != "56").order_by(Unit.code).limit(6)).all()
        ids = [endpoints.save_endpoint(event, u, endpoints.clean_endpoint(
            {"name": f"Hội trường {u.code}", "protocol": "sip", "dial": "sip:x@127.0.0.1:9"}), actor=SystemActor()).id
            for u in units]
    errors = []

    def run(kind, endpoint_id, barrier):
        with app.app_context():
            try:
                event, session = db.session.get(Event, one.event), db.session.get(EventSession, one.session)
                barrier.wait()
                if kind == "probe":
                    status.record_probes(event, session, [SimpleNamespace(
                        key=endpoint_id, state="connected", layer="ok", code=200, rtt_ms=4.0, target="t", detail="ok")])
                else:
                    status.record(db.session.get(Endpoint, endpoint_id), session, "operator", "failed", note="mất hình")
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    for endpoint_id in ids:
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=run, args=(kind, endpoint_id, barrier)) for kind in ("probe", "check")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    with app.app_context():
        for endpoint_id in ids:
            row = status.status_of(endpoint_id, one.session)
            assert (row.probe_state, row.check_state, row.state, row.source) == (
                "connected", "failed", "failed", "operator"), endpoint_id
