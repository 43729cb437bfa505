"""The endpoint form a provincial official fills in: the room, how to dial it, its people."""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, FieldList, Form, FormField, IntegerField, SelectChoice, SelectField,
                     SelectMultipleField, StringField, TextAreaField)
from wtforms.validators import NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

PROTOCOL_LABELS = {
    "sip": _l("SIP"),
    "h323": _l("H.323"),
    "webrtc": _l("Web link (WebRTC)"),
    "other": _l("Other / not known yet"),
}
ROLE_LABELS = {
    "chair": _l("Chair"),
    "technical": _l("Technical focal contact"),
    "attendee": _l("Attendee"),
}


class ContactRowForm(Form):
    role = SelectField(_l("Role"), choices=[SelectChoice(k, v) for k, v in ROLE_LABELS.items()], default="technical")
    name = StringField(_l("Full name"))
    position = StringField(_l("Position"))
    phone = StringField(_l("Phone"), render_kw={"placeholder": "0913 123 456", "inputmode": "tel"})
    email = StringField(_l("Email"))
    focal = BooleanField(_l("Province focal contact"), description=_l(
        "Receives the province's incident digests during the test and the session"))

    def is_empty(self) -> bool:
        return not any((f.data or "").strip() for f in (self.name, self.position, self.phone, self.email))


class EndpointForm(FlaskForm):
    name = StringField(_l("Room (endpoint name)"), render_kw={"placeholder": _l("e.g. Hội trường UBND huyện")})
    address = TextAreaField(_l("Address"), render_kw={"rows": 2})
    protocol = SelectField(_l("Connection type"), choices=[SelectChoice(k, v) for k, v in PROTOCOL_LABELS.items()],
                           default="other")
    dial = StringField(_l("Dial address"), description=_l(
        "SIP: sip:name@address · H.323: IP address or alias · Web: https:// link. Leave empty if not known yet."))
    upstream_bridge = StringField(_l("Upstream bridge (MCU)"), description=_l("The provincial MCU this room connects to"))
    provider = StringField(_l("Telecom provider"), render_kw={"placeholder": "VNPT, Viettel, …"})
    expected_attendance = IntegerField(_l("Expected attendance"), validators=[Optional(), NumberRange(min=0)])
    contacts = FieldList(FormField(ContactRowForm), min_entries=4, max_entries=8)
    hosted = SelectMultipleField(_l("Units attending at this endpoint"), choices=[],
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())

    def to_input(self) -> tuple[dict, dict[int, int]]:
        rows = [(i, e.form) for i, e in enumerate(self.contacts) if not e.form.is_empty()]
        data = {
            "name": self.name.data, "address": self.address.data, "protocol": self.protocol.data,
            "dial": self.dial.data, "upstream_bridge": self.upstream_bridge.data, "provider": self.provider.data,
            "expected_attendance": self.expected_attendance.data,
            "contacts": [{k: f[k].data for k in ("role", "name", "position", "phone", "email", "focal")}
                         for _, f in rows],
        }
        if self.hosted.choices:
            data["hosted_unit_codes"] = list(self.hosted.data or [])
        return data, {plan_i: form_i for plan_i, (form_i, _) in enumerate(rows)}

    def attach(self, problems, contact_rows: dict[int, int]) -> list[str]:
        """Each problem next to its field; the rest returned for a message at the top."""
        leftover = []
        for problem in problems:
            field = None
            m = re.match(r"^contacts\[(\d+)\]\.(\w+)$", problem.field)
            if m and int(m.group(1)) in contact_rows:
                field = self.contacts[contact_rows[int(m.group(1))]].form[m.group(2)]
            elif problem.field.startswith("hosted_unit_codes"):
                field = self.hosted
            elif problem.field in self._fields:
                field = self[problem.field]
            if field is None:
                leftover.append(problem.localized())
            else:
                field.errors = list(field.errors) + [problem.localized()]
        return leftover
