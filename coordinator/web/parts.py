"""Parts of a page that a higher package contributes (Indico's template hooks): the package
that owns a page's data registers a function under a name (`register`), and a template asks for
it with `{{ part("endpoint_history", endpoint.id) }}` (or `{% set lines = part(...) %}`), so the
page's own package never imports the contributor. Registration happens once, at app start
(`coordinator.wiring`); asking for a part nobody registered is a programming error."""
from __future__ import annotations

from typing import Any, Callable

from flask import Flask

_PARTS: dict[str, Callable[..., Any]] = {}


def register(name: str, fn: Callable[..., Any]) -> None:
    """Make `fn` the part called `name` (idempotent for the same function)."""
    known = _PARTS.get(name)
    if known is not None and known is not fn:
        raise ValueError(f"page part {name!r} is already registered by {known.__module__}")
    _PARTS[name] = fn


def part(name: str, *args: Any, **kwargs: Any) -> Any:
    try:
        fn = _PARTS[name]
    except KeyError:
        raise LookupError(f"no page part {name!r} is registered (coordinator.wiring connects them)") from None
    return fn(*args, **kwargs)


def registered() -> dict[str, Callable[..., Any]]:
    return dict(_PARTS)


def init_app(app: Flask) -> None:
    app.add_template_global(part, "part")
