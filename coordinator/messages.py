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
        return self.template % self.params if self.params else self.template

    def localized(self) -> str:
        from flask import has_request_context
        from flask_babel import gettext

        return gettext(self.template, **self.params) if has_request_context() else self.text

    def __str__(self) -> str:
        return self.text
