"""The words of the status pages and API, translated (Flask-Babel lazy strings)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATE_LABELS = {
    "connected": _l("Connected"),
    "degraded": _l("Degraded"),
    "failed": _l("Connection failed"),
    "unknown": _l("Not checked"),
    "ready": _l("Ready (confirmed)"),  # a readiness event on the timeline: never a connection state
}
REACHABILITY_LABELS = {
    "reachable": _l("Reachable"),
    "degraded": _l("Degraded"),
    "unreachable": _l("Unreachable"),
    "unknown": _l("Not probed"),
}
SOURCE_LABELS = {
    "operator": _l("Operator check"),
    "self": _l("Contact confirmed (link)"),
    "sms": _l("Contact confirmed (SMS)"),
    "probe": _l("Automatic probe"),
}
FILTER_LABELS = {
    "": _l("All"),
    "failed": _l("Failed or degraded"),
    "unknown": _l("Not checked"),
    "not_confirmed": _l("Not confirmed"),
    "confirmed_unreachable": _l("Confirmed but unreachable"),
    "hosting": _l("Hosting communes"),
    "incident": _l("Open incidents"),
}
LAYER_LABELS = {
    "ok": _l("answered"),
    "dns": _l("name not found (DNS)"),
    "timeout": _l("no answer (timeout)"),
    "refused": _l("connection refused"),
    "sip_error": _l("SIP error"),
    "http_error": _l("HTTP error"),
    "tls": _l("TLS error"),
    "network": _l("network error"),
    "unsupported": _l("cannot be probed"),
}
CAUSE_LABELS = {"operator": _l("reported failed"), "probe": _l("probes failed")}
INCIDENT_STATE_LABELS = {"open": _l("Open: nobody on it"), "acknowledged": _l("Acknowledged"),
                         "resolved": _l("Resolved")}
# The incident list's state filter ("" : open or acknowledged).
INCIDENT_CHOICE_LABELS = {"": _l("Not resolved"), "open": _l("Open: nobody on it"),
                          "acknowledged": _l("Acknowledged"), "resolved": _l("Resolved"), "all": _l("All")}
ESCALATION_LABELS = {"province": _l("the province's focal contacts"), "duty": _l("the event's duty phones"),
                     "nobody": _l("nobody (no one to reach)")}
FLAG_CHOICES = (("yes", _l("Yes")), ("no", _l("No")), ("", _l("Not checked")))
SORT_LABELS = {"code": _l("By code"), "worst": _l("Worst first"), "silent": _l("Longest silent first")}
# What a search found an endpoint by (status.search).
MATCH_LABELS = {
    "code": _l("unit code"),
    "whole_phone": _l("contact's phone"),
    "unit": _l("unit name"),
    "room": _l("room"),
    "dial": _l("dial address"),
    "dial_part": _l("part of a dial address"),
    "contact": _l("contact"),
    "hosted": _l("unit attending there"),
    "phone": _l("part of a phone number"),
}


def label(table: dict, key: str | None) -> str:
    return str(table.get(key or "", key or ""))
