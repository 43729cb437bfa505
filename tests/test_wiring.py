"""The wiring of the domain signals (`coordinator.signals`), as the app connects them at start:

- every signal has at least one receiver; the table of signals and their receivers is printed
  (`pytest -s tests/test_wiring.py`) and is in the failure's message;
- receivers never commit or roll back: each signal is sent through a real follow-up (the public
  service that sends it, or for the outbox's `message_failed` the test standing in for the
  dispatcher), while a commit or rollback made during any signal's send fails the test and the
  sender's own commit is refused once the rows of its transaction are counted. The follow-ups
  happened (their rows are there at the sender's commit), and rolling the sender's transaction
  back leaves every table as it was: they were all in that transaction.
"""
from __future__ import annotations

import weakref
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable
from unittest import mock

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator import signals
from coordinator.extensions import db
from factories import ROOT

SLUG = "nd49-2024"
ANH = "+84905111222"  # the technical contact at Khánh Hòa's endpoint
UTC = timezone.utc


def receivers_of(signal) -> list[str]:
    out = []
    for ref in signal.receivers.values():
        fn = ref() if isinstance(ref, weakref.ref) else ref
        if fn is not None:
            out.append(f"{fn.__module__}.{fn.__qualname__}")
    return sorted(out)


def test_every_signal_has_a_receiver(app):
    rows = {name: receivers_of(signal) for name, signal in signals.all_signals().items()}
    width = max(map(len, rows))
    table = "\n".join(f"{name:<{width}}  {', '.join(found) or '(none)'}" for name, found in rows.items())
    print(f"\nsignal{' ' * (width - 6)}  receivers\n{table}")
    assert rows, "coordinator.signals defines no signal"
    assert all(rows.values()), f"signals that nobody receives:\n{table}"


# --- receivers never commit --------------------------------------------------------------------------------


class SenderCommitted(Exception):
    """The sender's own commit, refused so that its transaction can be rolled back."""


@dataclass
class Watch:
    sending: list[str] = field(default_factory=list)  # the signals being sent now (a receiver may send one)
    sent: list[str] = field(default_factory=list)
    at_commit: dict[str, int] | None = None  # rows per table in the sender's transaction, at its commit
    observed: object = None  # what the case's `observe` saw at that moment


def row_counts(session) -> dict[str, int]:
    return {t.name: session.execute(select(func.count()).select_from(t)).scalar_one() for t in db.metadata.sorted_tables}


@contextmanager
def watched(observe: Callable | None = None):
    """While it lasts, sends of every signal are recorded; a session's commit or rollback while one is
    being sent fails the test (a receiver did it); the sender's own commit notes the rows of its
    transaction (and what `observe(session)` sees) and raises SenderCommitted instead of committing."""
    watch = Watch()
    rollback = Session.rollback

    def recording(name, send):
        def wrapper(*args, **kwargs):
            watch.sending.append(name)
            watch.sent.append(name)
            try:
                return send(*args, **kwargs)
            finally:
                watch.sending.pop()
        return wrapper

    def refused_commit(session):
        assert not watch.sending, f"a receiver of {watch.sending[-1]} committed"
        session.flush()
        watch.at_commit = row_counts(session)
        watch.observed = observe(session) if observe else None
        raise SenderCommitted()

    def checked_rollback(session):
        assert not watch.sending, f"a receiver of {watch.sending[-1]} rolled back"
        rollback(session)

    with ExitStack() as stack:
        for name, signal in signals.all_signals().items():
            stack.enter_context(mock.patch.object(signal, "send", recording(name, signal.send)))
        stack.enter_context(mock.patch.object(Session, "commit", refused_commit))
        stack.enter_context(mock.patch.object(Session, "rollback", checked_rollback))
        yield watch


@dataclass
class Case:
    act: Callable  # (app, data) -> result: makes the change through the sender (its own app context)
    data: str  # the fixture the change starts from (committed before anything is watched)
    grows: tuple[str, ...] = ()  # tables the receivers add rows to
    observe: Callable | None = None  # (session, data) -> truthy when the receivers' change is there
    commits: bool = True  # the sender commits (a preview does not)


CASES: dict[str, Case] = {}


def case(signal: str, data: str, **kw):
    def register(act):
        CASES[signal] = Case(act, data, **kw)
        return act
    return register


@pytest.mark.parametrize("name", sorted(signals.all_signals()))
def test_receivers_never_commit(name, app, request):
    if name not in CASES:
        pytest.fail(f"no case sends signal {name!r} through its follow-up: add one to tests/test_wiring.py")
    c = CASES[name]
    data = request.getfixturevalue(c.data)
    with app.app_context():
        before = row_counts(db.session)
    with watched(observe=(lambda session: c.observe(session, data)) if c.observe else None) as watch:
        if c.commits:
            with pytest.raises(SenderCommitted):
                c.act(app, data)
        else:
            c.act(app, data)
    assert name in watch.sent, f"the case did not send {name} (sent: {watch.sent})"
    if c.commits:
        assert watch.at_commit is not None
        grown = {t: watch.at_commit[t] - before[t] for t in c.grows}
        assert all(n > 0 for n in grown.values()), f"the receivers added no rows to some of {grown}"
        if c.observe:
            assert watch.observed, "the receivers' change was not in the sender's transaction"
    with app.app_context():
        assert row_counts(db.session) == before  # the sender's rollback took every follow-up with it


# --- the data the cases start from ---------------------------------------------------------------------------

def _save_endpoint(event, unit, name, contacts):
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints

    values = endpoints.clean_endpoint({"name": name, "protocol": "sip", "dial": f"sip:{unit.code}@10.0.0.1",
                                       "contacts": contacts})
    return endpoints.save_endpoint(event, unit, values, actor=SystemActor())


@pytest.fixture()
def registered(app, nd49):
    """nd49 as a draft, with endpoints for Khánh Hòa (a technical contact and a chair, with emails)
    and Hà Nội (a chair)."""
    from coordinator.events.services import get_event
    from coordinator.units.services import get_unit

    with app.app_context():
        event = get_event(nd49)
        _save_endpoint(event, get_unit("2024", "56"), "Hội trường Sở Khánh Hòa", [
            {"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "email": "anh@example.gov.vn", "role": "technical"},
            {"name": "Lê Văn Chủ", "phone": "0913 100 100", "email": "chu@example.gov.vn", "role": "chair"}])
        _save_endpoint(event, get_unit("2024", "01"), "Hội trường Sở Hà Nội", [
            {"name": "Trần Chủ Trì", "phone": "0913 222 333", "email": "tri@example.gov.vn", "role": "chair"}])
    return nd49


@pytest.fixture()
def published(app, registered):
    from coordinator.events.services import get_event, publish

    with app.app_context():
        publish(get_event(registered))
    return registered


@pytest.fixture()
def ahead(app, published):
    """Published, its sessions ahead of the real clock (a confirmation needs a session not yet over)."""
    from coordinator.events.services import get_event, move_session

    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        event = get_event(published)
        move_session(event, "connectivity_test", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
        move_session(event, "main", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=3))
        return event.session("connectivity_test").id


@pytest.fixture()
def dossier(app, registered, make_user):
    """A document request to the provinces asking for no file: naming the focal contact completes it."""
    from coordinator.events.models import Deadline
    from coordinator.events.services import get_event
    from coordinator.timeutil import utcnow

    make_user("org@example.gov.vn", "organizer")
    with app.app_context():
        deadline = Deadline(event_id=get_event(registered).id, kind="documents", tier="province", title="Hồ sơ",
                            due_at=utcnow() + timedelta(days=30), required_files=[])
        db.session.add(deadline)
        db.session.commit()
        return deadline.id


# --- one case per signal ---------------------------------------------------------------------------------------

@case("event_published", "registered", grows=("invitations", "outbox_messages"))
def publish_the_event(app, slug):
    from coordinator.events.services import get_event, publish

    with app.app_context():
        publish(get_event(slug))


@case("event_cancelled", "published", grows=("outbox_messages",))  # the invitations' CANCELs
def cancel_the_event(app, slug):
    from coordinator.events.services import cancel, get_event

    with app.app_context():
        cancel(get_event(slug), reason="Hoãn họp")


@case("sessions_moved", "published", grows=("outbox_messages",))  # the updates
def move_the_main_session(app, slug):
    from coordinator.events.services import get_event, move_session

    with app.app_context():
        event = get_event(slug)
        main = event.session("main")
        move_session(event, "main", starts_at=main.starts_at + timedelta(hours=1), ends_at=main.ends_at + timedelta(hours=1))


@case("event_changed", "published", grows=("outbox_messages",))  # a new title: the calendars are updated
def retitle_the_event(app, slug):
    from coordinator.events.plans import read_plan_file
    from coordinator.events.services import apply_plan

    with app.app_context():
        plan = read_plan_file(ROOT / "schedules" / f"{slug}.toml")
        apply_plan(plan.model_copy(update={"title": plan.title + " (sửa đổi)"}), expected_slug=slug)


@case("deadlines_changed", "registered", grows=("deadline_fulfilments",))  # the provinces with an endpoint meet it
def add_an_endpoints_deadline(app, slug):
    from coordinator.events.plans import parse_plan, read_plan_file
    from coordinator.events.services import apply_plan

    with app.app_context():
        data = read_plan_file(ROOT / "schedules" / f"{slug}.toml").model_dump()
        data["deadlines"].append({"kind": "endpoints", "tier": "province", "due_at": datetime(2024, 6, 21, 17, 0)})
        apply_plan(parse_plan(data), expected_slug=slug)


@case("change_previewed", "registered", commits=False)
def preview_the_publication(app, slug):
    from coordinator.events.services import get_event, preview_publish

    with app.app_context():
        preview = preview_publish(get_event(slug))
    # What the receivers reported: the invitations (of event_published) and the reminders to fire.
    assert preview.messages > 0 and preview.recipients == 3 and preview.reminders > 0 and preview.sender


@case("endpoints_changed", "published", grows=("invitations", "deadline_fulfilments"))
def register_an_endpoint(app, slug):
    from coordinator.events.services import get_event
    from coordinator.units.services import get_unit

    with app.app_context():
        _save_endpoint(get_event(slug), get_unit("2024", "79"), "Hội trường Sở TP Hồ Chí Minh", [
            {"name": "Phạm Kỹ Thuật", "phone": "0903 444 555", "email": "kt@hcm.example.gov.vn", "role": "technical"}])


@case("documents_changed", "dossier", observe=lambda session, deadline_id: _dossier_met(session, deadline_id))
def name_the_focal_contact(app, deadline_id):
    from coordinator.auth.services import get_user_by_email
    from coordinator.documents import services as documents
    from coordinator.events.models import Deadline
    from coordinator.units.services import get_unit

    with app.app_context():
        documents.set_contact(db.session.get(Deadline, deadline_id), get_unit("2024", "56"), "Lê Văn Cường",
                              "0913 123 456", get_user_by_email("org@example.gov.vn"))


def _dossier_met(session, deadline_id) -> bool:
    from coordinator.deadlines.models import DeadlineFulfilment

    return session.scalar(select(func.count()).select_from(DeadlineFulfilment).where(
        DeadlineFulfilment.deadline_id == deadline_id, DeadlineFulfilment.fulfilled_at.is_not(None))) == 1


# On SQLite these two once failed: a SAVEPOINT as the transaction's first write (the Confirmation
# rows of reminders/confirmations.py) committed on its RELEASE (coordinator.extensions._sqlite_savepoint).


@case("readiness_confirmed", "ahead", grows=("confirmations", "status_events"))
def tap_the_confirmation_link(app, session_id):
    from coordinator.endpoints.models import Contact
    from coordinator.reminders import links
    from coordinator.reminders.confirmations import confirm_link

    with app.app_context():
        contact_id = db.session.scalar(select(Contact.id).where(Contact.phone == ANH))
        confirm_link(links.token(session_id, contact_id))


@case("sms_received", "ahead", grows=("confirmations", "status_events"))
def answer_ok_by_sms(app, session_id):
    from twilio.request_validator import RequestValidator

    token, base = "wiring-test-token", app.config["PUBLIC_BASE_URL"]
    params = {"From": ANH, "To": "+15005550006", "Body": "OK", "MessageSid": "SM" + "0" * 32}
    signature = RequestValidator(token).compute_signature(base + "/webhooks/twilio/sms", params)
    with mock.patch.dict(app.config, {"TWILIO_AUTH_TOKEN": token}):
        app.test_client().post("/webhooks/twilio/sms", data=params, base_url=base,
                               headers={"X-Twilio-Signature": signature})


@case("message_failed", "nd49", grows=("sms_opt_outs",))
def fail_an_sms_for_good(app, _slug):
    """The test stands in for the dispatcher: an SMS queued and refused for good (Twilio 21610, the
    number replied STOP), in one transaction."""
    from coordinator.outbox import services as outbox
    from coordinator.outbox.models import OutboxMessage
    from coordinator.sms.backends import SmsSendError

    with app.app_context():
        outbox.enqueue([{"key": "wiring:1", "channel": "sms", "kind": "reminder", "event_id": None, "recipient": ANH,
                         "payload": {"body": "Nhắc lịch"}}])
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == "wiring:1"))
        signals.message_failed.send(row, error=SmsSendError("unsubscribed", permanent=True, code=21610))
        db.session.commit()
