"""Every action the code records in the audit log, in words, grouped by family for the filter.

Recorded by `audit.record()` (services) and by bulk inserts into `AuditEntry.__table__`
(`status/incidents.py`: `incident.open`, `incident.digest`, `incident.resolve` of a recovery;
`status/overdue.py`: `incident.escalate`). An action missing here still
shows (as its code, in a generic sentence): add it here and a sentence in
`coordinator/history/sentences.py`.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

# family -> (label, actions in the order of the filter's list)
FAMILIES: dict[str, tuple] = {
    "events": (_l("Events"), {
        "event.create": _l("Event created"),
        "event.update": _l("Event changed"),
        "event.publish": _l("Event published"),
        "event.cancel": _l("Event cancelled"),
        "event.finish": _l("Event finished"),
        "session.move": _l("Session moved"),
        "session.confirm": _l("Readiness confirmed by a contact"),
    }),
    "endpoints": (_l("Endpoints"), {
        "endpoint.create": _l("Endpoint registered"),
        "endpoint.update": _l("Endpoint updated"),
        "endpoint.delete": _l("Endpoint removed"),
        "endpoints.import": _l("Spreadsheet imported"),
        "event.copy_registrations": _l("Registrations copied from another event"),
    }),
    "incidents": (_l("Incidents"), {
        "incident.open": _l("Incident opened"),
        "incident.digest": _l("Incident digest sent"),
        "incident.ack": _l("Incident acknowledged"),
        "incident.assign": _l("Incident reassigned"),
        "incident.note": _l("Note on an incident"),
        "incident.escalate": _l("Incident escalated (nobody acknowledged it)"),
        "incident.resolve": _l("Incident resolved"),
    }),
    "reminders": (_l("Reminders"), {
        "reminder.create": _l("Reminder added"),
        "reminder.update": _l("Reminder changed"),
        "reminder.delete": _l("Reminder deleted"),
        "reminder.fire": _l("Reminder sent"),
        "reminder.skip": _l("Reminder skipped"),
    }),
    "deadlines": (_l("Deadlines"), {
        "deadline.close": _l("Registration closed"),
        "deadline.reopen": _l("Registration reopened"),
    }),
    "documents": (_l("Documents"), {
        "document.upload": _l("Document uploaded"),
        "document.replace": _l("Document replaced"),
        "document.delete": _l("Document deleted"),
        "document.contact": _l("Dossier focal contact named"),
    }),
    "accounts": (_l("Accounts"), {
        "user.create": _l("Account created"),
        "user.update": _l("Account changed"),
        "user.disable": _l("Account disabled"),
        "user.enable": _l("Account enabled"),
        "user.import": _l("Accounts imported"),
        "user.password_link": _l("Password link issued"),
        "user.password_set": _l("Password set"),
        "user.login": _l("Signed in"),
        "user.sessions_revoke": _l("Sessions ended"),
        "user.preferences": _l("Dashboard alert turned on or off"),
        "token.issue": _l("API token issued"),
    }),
    "sms": (_l("SMS"), {
        "sms.opt_out": _l("SMS stopped for a number"),
        "sms.opt_in": _l("SMS allowed again"),
    }),
    "broadcasts": (_l("Broadcast SMS"), {
        "broadcast.send": _l("Broadcast SMS sent"),
        "broadcast.stop": _l("Broadcast SMS stopped"),
    }),
    "units": (_l("Units"), {
        "units.load": _l("Administrative units loaded"),
    }),
}

ACTION_LABELS = {action: label for _, actions in FAMILIES.values() for action, label in actions.items()}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))
