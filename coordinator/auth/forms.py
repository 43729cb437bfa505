from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(message=_l("Required.")), Length(max=255)])
    password = PasswordField(_l("Password"), validators=[DataRequired(message=_l("Required."))])
    remember = BooleanField(_l("Remember me"))
