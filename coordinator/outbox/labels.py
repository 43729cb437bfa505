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
# Messages whose outcome was once unknown (a dispatcher killed mid-send, a provider answering too
# late), and how that ended.
DOUBT_LABELS = {
    "uncertain": _l("outcome unknown: checked with the provider before any new attempt"),
    "found": _l("found at the provider: not sent again"),
    "absent": _l("not at the provider: sent again, no duplicate"),
    "unconfirmed": _l("sent again without confirmation: possibly received twice"),
}
