from flask_babel import lazy_gettext as _l

MESSAGE_STATUS_LABELS = {
    "pending": _l("Waiting"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "superseded": _l("Superseded by a newer message"),
}
CHANNEL_LABELS = {"email": _l("Email"), "sms": _l("SMS")}
# What the SMS provider reported afterwards (status callbacks).
DELIVERY_LABELS = {
    "accepted": _l("accepted by the provider"),
    "queued": _l("queued at the provider"),
    "sending": _l("being sent"),
    "sent": _l("handed to the carrier"),
    "delivered": _l("delivered"),
    "undelivered": _l("not delivered"),
    "failed": _l("failed at the provider"),
    "read": _l("read"),
}
