from flask_babel import lazy_gettext as _l

MESSAGE_STATUS_LABELS = {
    "pending": _l("Waiting"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "superseded": _l("Superseded by a newer message"),
}
CHANNEL_LABELS = {"email": _l("Email"), "sms": _l("SMS")}
