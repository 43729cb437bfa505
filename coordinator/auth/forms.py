from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from coordinator.auth.labels import ROLE_HINTS, ROLE_LABELS
from coordinator.auth.models import User
from coordinator.auth.services import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from coordinator.fields import max_length_of
from coordinator.units.models import STRUCTURES


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(message=_l("Required.")), Length(max=255)])
    password = PasswordField(_l("Password"), validators=[DataRequired(message=_l("Required."))])
    remember = BooleanField(_l("Remember me"))


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(message=_l("Required.")), Length(max=255)])


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(message=_l("Required.")),
                    Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH,
                           message=_l("Between %(min)s and %(max)s characters.", min=MIN_PASSWORD_LENGTH,
                                      max=MAX_PASSWORD_LENGTH))],
        description=_l("At least %(min)s characters. A few words you will remember are better than a short "
                       "complicated word.", min=MIN_PASSWORD_LENGTH),
        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(message=_l("Required.")),
                    EqualTo("password", message=_l("The two passwords are not the same."))],
        render_kw={"autocomplete": "new-password"})


def role_choices(roles) -> list[SelectChoice]:
    return [SelectChoice(r, ROLE_LABELS[r]) for r in roles]


def structure_choices() -> list[SelectChoice]:
    return [SelectChoice("", _l("Default"))] + [SelectChoice(s, s) for s in STRUCTURES]


class AccountForm(FlaskForm):
    """The users page's create form (with email) and edit form (with active)."""

    email = EmailField(_l("Email"), validators=[DataRequired(message=_l("Required.")), Length(max=255)])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=max_length_of(User.display_name))],
                       description=_l("A person's full name, or the office's name."))
    role = SelectField(_l("Role"), choices=[])
    unit_code = StringField(_l("Unit code"), validators=[Optional(), Length(max=16)],
                            description=_l("Statistics-office code (56 for Khánh Hòa): a coordinator manages this "
                                           "unit and the units below it. Required for coordinators."),
                            render_kw={"inputmode": "text", "autocomplete": "off"})
    structure = SelectField(_l("Unit structure"), choices=[], default="")
    active = BooleanField(_l("Account enabled"),
                          description=_l("A disabled account cannot sign in; its sessions and API tokens end at once."))

    def __init__(self, *args, roles=(), editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices(roles)
        self.role.description = " · ".join(f"{ROLE_LABELS[r]}: {ROLE_HINTS[r]}" for r in roles)
        self.structure.choices = structure_choices()
        if editing:
            del self.email
        else:
            del self.active
