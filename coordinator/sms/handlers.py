"""What `coordinator.sms` does when other packages change things: its receivers of the domain
signals (`coordinator.signals`) and its registrations, connected by `coordinator.wiring`.
Receivers run inside the sender's transaction and never commit."""
from __future__ import annotations

from coordinator import signals
from coordinator.outbox import registry
from coordinator.sms import services
from coordinator.sms.backends import sms_backend

UNSUBSCRIBED = 21610  # Twilio's error code: the recipient replied STOP


def on_message_failed(message, *, error, **_) -> None:
    """Twilio says the number replied STOP (21610): no further SMS to it, from any event."""
    if message.channel == "sms" and getattr(error, "code", None) == UNSUBSCRIBED:
        services.opt_out(message.recipient, "provider", note=f"Twilio {UNSUBSCRIBED}")


def connect() -> None:
    """Connect this package's receivers and registrations (idempotent): the SMS channel's backend
    (SMS_BACKEND), the opted-out numbers kept from sending, the provider's unsubscribes."""
    registry.register_backend("sms", sms_backend)
    registry.register_pre_send("sms", services.opted_out_rows)
    signals.message_failed.connect(on_message_failed)
