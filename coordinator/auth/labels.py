"""The translated words of accounts."""
from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "admin": _l("Administrator"),
    "organizer": _l("Organizer"),
    "coordinator": _l("Coordinator"),
    "operator": _l("Operator"),
}
ROLE_HINTS = {
    "admin": _l("manages accounts and everything else"),
    "organizer": _l("creates events, follows registration, manages coordinator and operator accounts"),
    "coordinator": _l("registers the endpoints of its unit and the units below it"),
    "operator": _l("watches connections and records checks"),
}
