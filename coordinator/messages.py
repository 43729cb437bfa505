"""User-facing messages produced by services: an English template with parameters, translated
when shown (pages, API) and kept in English where no request asks for a language (CLI, logs)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def N_(message: str) -> str:
    """Marks a message for extraction into the translation catalog; translated when shown."""
    return message


@dataclass(frozen=True)
class Message:
    template: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """In English: for the CLI and logs (a parameter may be a lazily translated label)."""
        if not self.params:
            return self.template
        from contextlib import nullcontext

        from flask import current_app, has_app_context, has_request_context

        if not has_app_context():
            return self.template % self.params
        from flask_babel import force_locale

        # Flask-Babel resolves a locale per request: a bare one stands in for the CLI.
        request_ctx = nullcontext() if has_request_context() else current_app.test_request_context()
        with request_ctx, force_locale("en"):
            return self.template % {k: str(v) for k, v in self.params.items()}

    def localized(self) -> str:
        from flask import has_request_context
        from flask_babel import gettext

        return gettext(self.template, **self.params) if has_request_context() else self.text

    def __str__(self) -> str:
        return self.text
