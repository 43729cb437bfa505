"""Probe sweeps of an event's endpoints through real sockets on 127.0.0.1 (the engine itself is
tested in test_probe_engine.py): what an operator runs, what the dashboard then shows, and
escalation after failures in a row."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from fakes.probe_responders import HttpServer, SilentUdpPort, SipUdpResponder, TcpListener, closed_port

UTC = timezone.utc
SLUG = "nd49-2024"


@pytest.fixture()
def probed(app, nd49, monkeypatch):
    """nd49 with the test under way and endpoints whose dial addresses point at local responders:
    a SIP phone that answers, a silent UDP port, a closed port, an H.323 listener, a web room on a
    server with an untrusted certificate, and one without a dial address."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.extensions import db
    from coordinator.units.models import Unit

    monkeypatch.setitem(app.config, "PROBE_TIMEOUT_SECONDS", 0.5)
    with SipUdpResponder() as sip, SilentUdpPort() as silent, TcpListener() as h323, HttpServer(tls=True) as web:
        now = datetime.now(UTC).replace(microsecond=0)
        dials = {
            "sip-ok": ("sip", f"sip:dc@127.0.0.1:{sip.port}"),
            "sip-silent": ("sip", f"sip:dc@127.0.0.1:{silent.port}"),
            "sip-refused": ("sip", f"sip:dc@127.0.0.1:{closed_port('udp')}"),
            "h323-ok": ("h323", f"127.0.0.1:{h323.port}"),
            "web-tls": ("webrtc", web.url("/").replace("http://", "https://")),
            "no-dial": ("other", ""),
        }
        ids = {}
        with app.app_context():
            event = get_event(nd49)
            move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=3))
            move_session(event, "main", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
            units = db.session.scalars(select(Unit).where(Unit.structure == "2024", Unit.tier == "province")
                                       .order_by(Unit.code).limit(len(dials))).all()
            for unit, (name, (protocol, dial)) in zip(units, dials.items()):
                values = endpoints.clean_endpoint({"name": f"Điểm cầu {name}", "protocol": protocol, "dial": dial,
                                                   "contacts": [{"name": "Kỹ thuật", "phone": f"0905 000 {len(ids):03d}",
                                                                 "role": "technical"}]})
                assert not values.problems, values.problems
                ids[name] = endpoints.save_endpoint(event, unit, values, actor=SystemActor()).id
            publish(event)
        yield ids


def _status(app, endpoint_id):
    from coordinator.events.services import get_event
    from coordinator.status.services import status_of

    with app.app_context():
        event = get_event(SLUG)
        row = status_of(endpoint_id, event.session("connectivity_test").id)
        return (row.state, row.probe_layer, row.probe_code, row.probe_failures) if row else None


def test_a_sweep_probes_every_endpoint_and_says_which_layer_failed(app, cli, probed):
    result = cli("probes", "sweep", "--event", SLUG)
    assert result.exit_code == 0, result.output
    assert "5 probed" in result.output and "2 connected" in result.output and "3 failed" in result.output
    assert "1 without a dial address" in result.output
    assert "by layer: ok 2, refused 1, timeout 1, tls 1" in result.output
    assert _status(app, probed["sip-ok"]) == ("connected", "ok", 200, 0)
    assert _status(app, probed["sip-silent"])[:2] == ("failed", "timeout")
    assert _status(app, probed["sip-refused"])[:2] == ("failed", "refused")
    assert _status(app, probed["h323-ok"])[:2] == ("connected", "ok")
    assert _status(app, probed["web-tls"])[:2] == ("failed", "tls")
    assert _status(app, probed["no-dial"]) is None


def test_a_sweep_of_one_province_probes_only_it(app, cli, probed):
    from coordinator.endpoints.models import Endpoint
    from coordinator.extensions import db

    with app.app_context():
        code = db.session.get(Endpoint, probed["sip-ok"]).unit.code
    result = cli("probes", "sweep", "--event", SLUG, "--unit", code)
    assert "1 probed" in result.output and "1 connected" in result.output
    assert _status(app, probed["sip-silent"]) is None


def test_probes_failing_in_a_row_open_one_incident(app, cli, probed):
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.status.models import StatusEvent

    for _ in range(2):
        assert "incidents opened" not in cli("probes", "sweep", "--event", SLUG).output
    third = cli("probes", "sweep", "--event", SLUG).output
    assert "3 incidents opened" in third  # silent, refused, tls: 3 failures in a row each
    assert "incidents opened" not in cli("probes", "sweep", "--event", SLUG).output  # still the same incidents
    with app.app_context():
        texted = db.session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.kind == "incident")).all()
        # A probe that keeps failing the same way is one status event, not one per sweep.
        silent_events = db.session.scalars(select(StatusEvent.state).where(
            StatusEvent.endpoint_id == probed["sip-silent"])).all()
    assert len(texted) == 3 and silent_events == ["failed"]
    assert _status(app, probed["sip-silent"])[3] == 4
