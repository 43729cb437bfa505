from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired, NumberRange

from coordinator.reminders.labels import AUDIENCE_LABELS, CHANNEL_LABELS, UNITS


class ReminderForm(FlaskForm):
    anchor = SelectField(_l("Session or deadline"))
    amount = IntegerField(_l("How long"), default=1, validators=[InputRequired(), NumberRange(min=0, max=2160)])
    unit = SelectField(_l("Unit"), choices=[SelectChoice("days", _l("days")), SelectChoice("hours", _l("hours")),
                                             SelectChoice("minutes", _l("minutes"))], default="days")
    direction = SelectField(_l("Before or after"), choices=[SelectChoice("before", _l("before")),
                                                  SelectChoice("after", _l("after"))], default="before")
    channel = SelectField(_l("Channel"), choices=[SelectChoice(k, v) for k, v in CHANNEL_LABELS.items()], default="sms")
    audience = SelectField(_l("To"), choices=[SelectChoice(k, v) for k, v in AUDIENCE_LABELS.items()],
                           default="technical")
    template = TextAreaField(_l("Text"), render_kw={"rows": 4, "maxlength": 670})
    strip_diacritics = BooleanField(_l("Send without diacritics"))
    active = BooleanField(_l("Active"), default=True)

    def offset_seconds(self) -> int:
        size = dict(UNITS)[self.unit.data or "days"]
        seconds = (self.amount.data or 0) * size
        return -seconds if self.direction.data == "before" else seconds

    def values(self) -> dict:
        return {"anchor": self.anchor.data, "offset_seconds": self.offset_seconds(), "channel": self.channel.data,
                "audience": self.audience.data, "template": self.template.data or "",
                "strip_diacritics": bool(self.strip_diacritics.data), "active": bool(self.active.data)}
