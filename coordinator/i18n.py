"""Language: Vietnamese by default, English available.

Order: the language the user chose with the switch (kept in the session), then the user's
saved preference, then the browser's Accept-Language, then Vietnamese.
"""
from __future__ import annotations

from flask import Flask, current_app, request, session
from flask_babel import Babel, force_locale, get_translations
from flask_login import current_user
from jinja2 import Environment, select_autoescape

from coordinator.config import PROJECT_ROOT


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def init_i18n(app: Flask, babel: Babel) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(PROJECT_ROOT / "coordinator" / "translations"),
    )


def mail_environment(lang: str) -> Environment:
    """A Jinja environment for the mail templates with `lang`'s catalog installed once, so that the
    dozens of `_()` of a message are plain lookups (Flask-Babel resolves the request's locale on
    every call: a quarter of the cost of a message at national scale). One per app and language,
    shared by every composer of mail (invitations, account links)."""
    envs = current_app.extensions.setdefault("mail_templates", {})
    env = envs.get(lang)
    if env is None:
        env = Environment(loader=current_app.jinja_env.loader, extensions=["jinja2.ext.i18n"],
                          autoescape=select_autoescape(["html"]), auto_reload=False)
        with force_locale(lang):
            env.install_gettext_translations(get_translations(), newstyle=True)
        envs[lang] = env
    return env
