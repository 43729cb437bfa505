"""The composer's form: the session, the audience's filters, the text."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget

from coordinator.broadcasts.texts import MAX_TEMPLATE_CHARS
from coordinator.endpoints.forms import ROLE_LABELS
from coordinator.events.labels import TIER_LABELS
from coordinator.status.labels import STATE_LABELS
from coordinator.status.rule import STATES

CONFIRMED_CHOICES = (("", _l("Confirmed or not")), ("yes", _l("Confirmed ready")), ("no", _l("Not confirmed")))


def _checkboxes(label, choices, default):
    return SelectMultipleField(label, choices=choices, default=default, widget=ListWidget(prefix_label=False),
                               option_widget=CheckboxInput(), validate_choice=False)


class BroadcastForm(FlaskForm):
    session = SelectField(_l("Session"), choices=[], validate_choice=False)
    unit = StringField(_l("Unit (code)"), description=_l("Its whole subtree; empty: everywhere you may send"),
                       render_kw={"list": "broadcast-units", "placeholder": "56", "autocomplete": "off"})
    tier = SelectField(_l("Tier"), choices=[SelectChoice("", _l("All tiers"))]
                       + [SelectChoice(k, v) for k, v in TIER_LABELS.items()], default="", validate_choice=False)
    states = _checkboxes(_l("Current state"), [SelectChoice(s, STATE_LABELS[s]) for s in STATES], ["failed", "unknown"])
    confirmed = SelectField(_l("Readiness"), choices=[SelectChoice(k, v) for k, v in CONFIRMED_CHOICES], default="",
                            validate_choice=False)
    roles = _checkboxes(_l("Contacts"), [SelectChoice(k, v) for k, v in ROLE_LABELS.items()], ["technical"])
    template = TextAreaField(_l("Text"), render_kw={"rows": 4, "maxlength": MAX_TEMPLATE_CHARS})
    strip_diacritics = BooleanField(_l("Send without diacritics"))

    def values(self) -> dict:
        """What the service takes (the API's body, without dry_run)."""
        confirmed = {"yes": True, "no": False}.get(self.confirmed.data or "")
        return {"session": self.session.data or None,
                "filter": {"unit": (self.unit.data or "").strip() or None, "tier": self.tier.data or None,
                           "states": list(self.states.data or []), "confirmed": confirmed,
                           "roles": list(self.roles.data or [])},
                "template": self.template.data or "", "strip_diacritics": bool(self.strip_diacritics.data)}
