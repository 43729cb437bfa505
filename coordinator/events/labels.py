"""Display names of the event vocabulary (tiers, sessions, deadlines, statuses), translated when shown.
Shared by pages and by services whose messages name these things."""
from flask_babel import lazy_gettext as _l

TIER_LABELS = {
    "central": _l("Central"),
    "province": _l("Province"),
    "district": _l("District"),
    "commune": _l("Commune"),
}
SESSION_LABELS = {
    "connectivity_test": _l("Connectivity test"),
    "rehearsal": _l("Rehearsal"),
    "main": _l("Main session"),
}
DEADLINE_LABELS = {
    "focal_contacts": _l("Focal contacts registered"),
    "endpoints": _l("Endpoints registered"),
    "documents": _l("Documents submitted"),
}
STATUS_LABELS = {
    "draft": _l("Draft"),
    "published": _l("Published"),
    "finished": _l("Finished"),
    "cancelled": _l("Cancelled"),
}
