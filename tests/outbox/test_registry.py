"""The outbox knows its users only by what they register (`coordinator.outbox.registry`): a
composer per message kind, a backend and pre-send filters per channel; what a provider's refusal
means is told by `signals.message_failed`, never by a provider's code inside the outbox."""
from __future__ import annotations

from pathlib import Path

import pytest

from coordinator import signals
from coordinator.outbox import registry
from coordinator.outbox.errors import Unreachable
from coordinator.sms import handlers as sms_handlers
from coordinator.sms import services as sms

OUTBOX = Path(__file__).resolve().parents[2] / "coordinator" / "outbox"


def test_every_kind_and_channel_has_what_the_dispatcher_asks_for(app):
    known = registry.registered()
    assert set(known["composers"]) == {"invitation", "reminder", "reminder-cancel", "incident", "account", "broadcast"}
    assert set(known["backends"]) == {"email", "sms"}
    assert known["pre_send"]["sms"] == [sms.opted_out_rows]
    assert sms_handlers.on_message_failed in list(signals.message_failed.receivers_for(object()))


def test_a_second_composer_for_a_kind_is_refused_and_the_same_one_is_a_no_op(app):
    compose = registry.composer("invitation")
    registry.register_composer("invitation", compose)  # a second app in the process: connected again
    with pytest.raises(ValueError, match="already registered"):
        registry.register_composer("invitation", lambda row: None)
    with pytest.raises(LookupError):
        registry.composer("postcard")
    with pytest.raises(Unreachable, match="no backend for channel 'fax'"):
        registry.backend("fax", app.config)


def test_the_generic_outbox_names_no_provider_error_code():
    for path in OUTBOX.glob("*.py"):
        assert "21610" not in path.read_text(encoding="utf-8"), path.name  # Twilio's "unsubscribed": sms.handlers
