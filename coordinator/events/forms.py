"""The organizer's event form. Its data becomes a plan dict and goes through the same
validation as a plan file (`plans.parse_plan`); errors come back to the fields they concern."""
from __future__ import annotations

import re
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, EmailField, FieldList, Form, FormField, SelectChoice, SelectField, StringField,
                     TextAreaField)
from wtforms.validators import Email, Length, Optional, ValidationError

from coordinator.events.labels import DEADLINE_LABELS, SESSION_LABELS, TIER_LABELS
from coordinator.events.plans import SLUG_MESSAGE, SLUG_RE
from coordinator.problems import Problem
from coordinator.timeutil import DISPLAY_FORMAT, common_timezones

class LocalDateTimeField(StringField):
    """A wall-clock time typed as dd/mm/yyyy HH:MM (the Vietnamese way), in the event's zone."""

    def process_formdata(self, valuelist):
        self.data = None
        self.raw = (valuelist[0] if valuelist else "").strip()
        if self.raw:
            try:
                self.data = datetime.strptime(self.raw, DISPLAY_FORMAT)
            except ValueError:
                raise ValueError(_l("Use the form dd/mm/yyyy HH:MM, e.g. 28/06/2024 08:30.")) from None

    def _value(self):
        if getattr(self, "raw", None) is not None and self.data is None:
            return self.raw
        return self.data.strftime(DISPLAY_FORMAT) if self.data else ""


def _choices(labels, blank=True):
    return ([SelectChoice("", "—")] if blank else []) + [SelectChoice(k, v) for k, v in labels.items()]


class TierRowForm(Form):
    tier = SelectField(_l("Tier"), choices=_choices(TIER_LABELS), default="")
    chair = TextAreaField(_l("Chair"))
    attendees = TextAreaField(_l("Attendees"))
    may_attend_at_parent = BooleanField(_l("Units without an endpoint attend at their parent's"))

    def is_empty(self) -> bool:
        return not self.tier.data


class SessionRowForm(Form):
    kind = SelectField(_l("Session"), choices=_choices(SESSION_LABELS), default="")
    title = StringField(_l("Title"))
    starts_at = LocalDateTimeField(_l("Starts"), render_kw={"placeholder": "dd/mm/yyyy HH:MM"})
    ends_at = LocalDateTimeField(_l("Ends"), render_kw={"placeholder": "dd/mm/yyyy HH:MM"})
    location = StringField(_l("Place"))

    def is_empty(self) -> bool:
        return not (self.kind.data or self.starts_at.raw or self.ends_at.raw)

    def validate_starts_at(self, field):
        if self.kind.data and field.data is None and not field.errors:
            raise ValidationError(_l("Required."))

    validate_ends_at = validate_starts_at

    def validate_kind(self, field):
        if not field.data and (self.starts_at.raw or self.ends_at.raw):
            raise ValidationError(_l("Choose the kind of session."))


class DeadlineRowForm(Form):
    kind = SelectField(_l("Deadline"), choices=_choices(DEADLINE_LABELS), default="")
    tier = SelectField(_l("Tier"), choices=_choices(TIER_LABELS), default="")
    title = StringField(_l("Title"))
    due_at = LocalDateTimeField(_l("Due"), render_kw={"placeholder": "dd/mm/yyyy HH:MM"})
    files = TextAreaField(_l("Files asked for"), render_kw={"rows": 3, "placeholder": "Báo cáo kết quả (pdf, docx)"},
                          description=_l("Document requests only: one file per line, its types in brackets, "
                                         "e.g. “Báo cáo kết quả (pdf, docx)”. Without types: PDF, Word or a photo."))

    def is_empty(self) -> bool:
        return not (self.kind.data or self.due_at.raw)

    def validate_due_at(self, field):
        if self.kind.data and field.data is None and not field.errors:
            raise ValidationError(_l("Required."))

    def validate_tier(self, field):
        if self.kind.data and not field.data:
            raise ValidationError(_l("Required."))


class EventForm(FlaskForm):
    slug = StringField(_l("Short name (in links)"), description=_l("a-z, 0-9 and '-', e.g. nd49-2024"))

    def validate_slug(self, field):
        if not SLUG_RE.match(field.data or ""):
            raise ValidationError(_l(SLUG_MESSAGE))
    title = TextAreaField(_l("Title"))
    short_title = StringField(_l("Short name for SMS"), validators=[Length(max=160)],
                              description=_l("What {event} says in an SMS reminder; the title when empty."))
    legal_reference = TextAreaField(_l("Legal reference"))
    description = TextAreaField(_l("Agenda and notes"), render_kw={"rows": 8})
    timezone = SelectField(_l("Time zone"), default="Asia/Ho_Chi_Minh")
    unit_structure = SelectField(_l("Administrative structure"), choices=[
        SelectChoice("2025", _l("From 07/2025: province, commune")),
        SelectChoice("2024", _l("2024: province, district, commune")),
    ], default="2025", description=_l("Cannot change after publishing."))
    organizer_name = StringField(_l("Organizer"))
    organizer_office = StringField(_l("Contact office"))
    organizer_email = EmailField(_l("Contact email"),
                                 validators=[Optional(), Email(message=_l("Not a valid email address."))])
    organizer_phone = StringField(_l("Contact phone"))
    duty_phones = TextAreaField(_l("Duty phones"), render_kw={"rows": 2},
                                description=_l("Mobiles of the officers on duty, one per line: an incident nobody "
                                               "acknowledges in time is texted to them."))
    tiers = FieldList(FormField(TierRowForm), min_entries=4, max_entries=4)
    sessions = FieldList(FormField(SessionRowForm), min_entries=3, max_entries=3)
    deadlines = FieldList(FormField(DeadlineRowForm), min_entries=3, max_entries=6)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [SelectChoice(z) for z in common_timezones()]

    def filled_rows(self, name: str) -> list[tuple[int, Form]]:
        """Non-empty rows; rows with a field that failed to parse are left out of the plan (their
        error is already on the field) so the plan rules can still check the others."""
        return [(i, entry.form) for i, entry in enumerate(getattr(self, name))
                if not entry.form.is_empty() and not entry.form.errors]

    def to_plan_data(self, reminders: list[dict] | None = None) -> tuple[dict, dict[str, dict[int, int]]]:
        """The plan dict and, per list, which form row each plan item came from."""
        rows = {name: self.filled_rows(name) for name in ("tiers", "sessions", "deadlines")}
        if self.errors:
            reminders = None  # nothing will be saved; reminders would only report the dropped rows
        data = {
            # A slug the form already refused is replaced so the plan rules can check the rest.
            "slug": "placeholder" if self.slug.errors else (self.slug.data or "").strip(),
            "title": self.title.data or "",
            "short_title": self.short_title.data or "",
            "legal_reference": self.legal_reference.data or "",
            "description": self.description.data or "",
            "timezone": self.timezone.data,
            "unit_structure": self.unit_structure.data,
            "organizer": {
                "name": self.organizer_name.data or "",
                "office": self.organizer_office.data or "",
                "email": self.organizer_email.data or "",
                "phone": self.organizer_phone.data or "",
            },
            "tiers": [{**_texts(f, "tier", "chair", "attendees"),
                       "may_attend_at_parent": f.may_attend_at_parent.data} for _, f in rows["tiers"]],
            "sessions": [{**_texts(f, "kind", "title", "location"),
                          "starts_at": f.starts_at.data, "ends_at": f.ends_at.data} for _, f in rows["sessions"]],
            "deadlines": [{**_texts(f, "kind", "tier", "title"), "due_at": f.due_at.data,
                           **({"required_files": parse_files(f.files.data)} if (f.files.data or "").strip() else {})}
                          for _, f in rows["deadlines"]],
            "reminders": reminders or [],
            "duty_phones": [p.strip() for p in re.split(r"[\n,;]", self.duty_phones.data or "") if p.strip()],
        }
        index = {name: {plan_i: form_i for plan_i, (form_i, _) in enumerate(r)} for name, r in rows.items()}
        return data, index

    def attach_errors(self, problems: list[Problem], index: dict[str, dict[int, int]]) -> list[str]:
        """Put each problem of the plan next to its field (its key path); return those that belong
        to no field."""
        leftover = []
        for problem in problems:
            path = problem.field or ""
            field = self._field_for(path, index)
            if field is None:
                leftover.append(f"{path}: {problem.localized()}" if path else problem.localized())
            elif not field.errors:  # a field that failed to parse already says why
                field.errors = [problem.localized()]
        return leftover

    def _field_for(self, path: str, index):
        if path == "duty_phones" or path.startswith("duty_phones["):
            return self.duty_phones
        if path.startswith("organizer."):
            return getattr(self, "organizer_" + path.split(".", 1)[1], None)
        m = re.match(r"^(tiers|sessions|deadlines)\[(\d+)\](?:\.(\w+))?(?:\[.*)?$", path)
        if m:
            name, plan_i, attr = m.group(1), int(m.group(2)), m.group(3)
            attr = "files" if attr == "required_files" else attr
            form_i = index[name].get(plan_i)
            if form_i is None:
                return None
            sub = getattr(self, name)[form_i].form
            return getattr(sub, attr or next(iter(sub._fields)), None)
        if path in ("tiers", "sessions"):
            return getattr(self, path)[0].form[("tier" if path == "tiers" else "kind")]
        return getattr(self, path, None) if path and "." not in path and "[" not in path else None


DEFAULT_FILE_TYPES = ["pdf", "jpg", "jpeg", "png", "doc", "docx"]
_FILE_LINE = re.compile(r"^(?P<label>.*?)\s*(?:\((?P<types>[^()]*)\)|\|\s*(?P<piped>.*))?\s*$")


def parse_files(text: str | None) -> list[dict]:
    """The file slots of a document request, one per line: "Báo cáo kết quả (pdf, docx)" or
    "Báo cáo kết quả | pdf, docx"; a line without types takes PDF, Word or a photo."""
    slots = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        m = _FILE_LINE.match(line.strip())
        label, types = m.group("label").strip(), m.group("types") or m.group("piped") or ""
        found = [t.lower().lstrip(".") for t in re.split(r"[\s,;/]+", types) if t.strip(" .")]
        slots.append({"label": label or line.strip(), "types": found or list(DEFAULT_FILE_TYPES)})
    return slots


def files_text(required_files: list[dict]) -> str:
    """The slots as the form shows them (the inverse of `parse_files`)."""
    return "\n".join(f"{f['label']} ({', '.join(f['types'])})" for f in required_files or [])


def _texts(form: Form, *names: str) -> dict[str, str]:
    """Text fields of a row; a field the browser did not send is empty, not missing."""
    return {name: form[name].data or "" for name in names}

