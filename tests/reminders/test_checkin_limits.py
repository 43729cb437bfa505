"""The one-tap confirmation link (`/c/<token>`) under a crowd: many contacts behind one address
(a carrier's NAT, a ministry's proxy) must all be recorded, once each, while guessing links from
one address stays slow. Runs against a live server on 127.0.0.1: every request comes from the
same address, as it does behind a NAT."""
from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import requests
from sqlalchemy import func, select

UTC = timezone.utc
SLUG = "nd49-2024"
CROWD = 1000


def _crowd(app, nd49, n: int) -> list[str]:
    """nd49 published with `n` commune endpoints, one technical contact each (distinct mobiles),
    its sessions ahead of the clock; the confirmation link of each contact for the connectivity test."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints.models import Contact
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.extensions import db
    from coordinator.reminders import links
    from coordinator.imports import endpoints_io
    from coordinator.spreadsheets.safe import write_csv
    from coordinator.units.models import Unit

    with app.app_context():
        event = get_event(nd49)
        units = db.session.scalars(select(Unit).where(Unit.structure == "2024", Unit.tier == "commune")
                                   .order_by(Unit.path).limit(n)).all()
        rows = [[u.code, f"Phòng họp {u.name}", "", "sip", f"sip:{u.code}@10.1.{i // 256}.{i % 256}",
                 f"Kỹ thuật {i}", "", f"0983{i:06d}", "", "Kỹ thuật"] for i, u in enumerate(units)]
        data = write_csv(endpoints_io.HEADERS, rows)
        endpoints_io.import_endpoints(event, SystemActor(), endpoints_io.read_rows("crowd.csv", data))
        publish(event)
        now = datetime.now(UTC).replace(microsecond=0)
        move_session(event, "connectivity_test", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
        move_session(event, "main", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=3))
        session = get_event(nd49).session("connectivity_test")
        contact_ids = db.session.scalars(select(Contact.id).order_by(Contact.id)).all()
        assert len(contact_ids) == n
        return [links.token(session.id, c) for c in contact_ids]


def _confirmations(app) -> int:
    from coordinator.extensions import db
    from coordinator.reminders.models import Confirmation

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Confirmation))


def _tap(base_url: str, token: str) -> tuple[int, int, str]:
    """What a phone does with the link: open the page (which posts itself), then the post."""
    with requests.Session() as http:
        page = http.get(f"{base_url}/c/{token}", timeout=30)
        done = http.post(f"{base_url}/c/{token}", timeout=30)
    state = done.text.split('data-state="', 1)[1].split('"', 1)[0] if 'data-state="' in done.text else ""
    return page.status_code, done.status_code, state


def test_a_thousand_contacts_behind_one_address_are_all_recorded_once(app, nd49, base_url):
    tokens = _crowd(app, nd49, CROWD)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda t: _tap(base_url, t), tokens))
    elapsed = time.monotonic() - started
    print(f"\n{CROWD} taps (GET + POST each) from one address: {elapsed:.1f} s, "
          f"{Counter(r[1] for r in results)} POST statuses, {Counter(r[0] for r in results)} GET statuses")
    assert elapsed < 60, "the crowd must fit in one minute, or the per-minute limits were not tested"
    assert Counter(results) == {(200, 200, "confirmed"): CROWD}
    assert _confirmations(app) == CROWD
    # Tapping again (a contact who is not sure it worked) confirms nothing twice.
    with ThreadPoolExecutor(max_workers=8) as pool:
        again = list(pool.map(lambda t: _tap(base_url, t), tokens[:100]))
    assert Counter(again) == {(200, 200, "already"): 100}
    assert _confirmations(app) == CROWD


def test_one_link_tapped_over_and_over_is_limited_without_blocking_the_others(app, client, nd49):
    tokens = _crowd(app, nd49, 3)
    limit = int(app.config["CHECKIN_RATE_LIMIT_PER_TOKEN"].split()[0])
    codes = [client.post(f"/c/{tokens[0]}").status_code for _ in range(limit + 1)]
    assert codes == [200] * limit + [429]
    # The same address, other contacts: recorded.
    assert [client.post(f"/c/{t}").status_code for t in tokens[1:]] == [200, 200]
    assert _confirmations(app) == 3


def test_guessing_links_from_one_address_is_slowed_down_but_real_links_still_work(app, client, nd49):
    from coordinator.reminders.links import parse

    tokens = _crowd(app, nd49, 2)
    limit = int(app.config["CHECKIN_RATE_LIMIT_INVALID"].split()[0])
    session36, contact36, mac = tokens[0].split("-")
    guesses = [f"{session36}-{contact36}-{i:010d}" for i in range(limit + 1)]
    with app.app_context():
        assert not any(parse(g) for g in guesses)
    # Guesses through the page and through the post count together.
    codes = [client.get(f"/c/{g}").status_code if i % 2 else client.post(f"/c/{g}").status_code
             for i, g in enumerate(guesses)]
    assert codes == [404] * limit + [429]
    # Genuine links from the same address are not held back by the guesser next door.
    assert client.get(f"/c/{tokens[0]}").status_code == 200
    assert [client.post(f"/c/{t}").status_code for t in tokens] == [200, 200]
    assert _confirmations(app) == 2


def test_the_check_in_limits_come_from_the_environment(monkeypatch, tmp_path):
    from coordinator.config import load_config

    defaults = load_config(tmp_path)
    assert defaults["CHECKIN_RATE_LIMIT_PER_TOKEN"] == "10 per minute"
    monkeypatch.setenv("CHECKIN_RATE_LIMIT_PER_TOKEN", "5 per minute")
    monkeypatch.setenv("CHECKIN_RATE_LIMIT_PER_ADDRESS", "100 per minute")
    monkeypatch.setenv("CHECKIN_RATE_LIMIT_INVALID", "3 per minute")
    config = load_config(tmp_path)
    assert (config["CHECKIN_RATE_LIMIT_PER_TOKEN"], config["CHECKIN_RATE_LIMIT_PER_ADDRESS"],
            config["CHECKIN_RATE_LIMIT_INVALID"]) == ("5 per minute", "100 per minute", "3 per minute")
