"""What the generic outbox asks the packages that use it, without importing them: filled at app
start by each package's `handlers.connect()` (`coordinator.wiring`).

- a *composer* per message kind: `compose(row) -> content` (an `mime.OutgoingEmail` for email,
  the text for SMS), called at sending time (a retry hours later composes again);
- a *backend* per channel: `factory(config) -> backend`, whose `connect()` gives a connection
  whose `send(row, content)` returns the provider's reference (see `outbox.backends`);
- *pre-send filters* per channel: `check(rows) -> [(row, reason), ...]`, the claimed rows that
  must not go out (each fails at once, for good, with its reason), asked just before sending.

Registering the same function twice is a no-op (several apps in one process); a second, different
function for the same kind or channel is a programming error.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from coordinator.outbox.errors import Unreachable

Composer = Callable[[Any], Any]
BackendFactory = Callable[[Any], Any]
PreSendFilter = Callable[[list], Iterable[tuple[Any, str]]]

_COMPOSERS: dict[str, Composer] = {}
_BACKENDS: dict[str, BackendFactory] = {}
_PRE_SEND: dict[str, list[PreSendFilter]] = {}


def _put(table: dict, key: str, fn: Callable, what: str) -> None:
    known = table.get(key)
    if known is not None and known is not fn:
        raise ValueError(f"{what} {key!r} is already registered by {known.__module__}")
    table[key] = fn


def register_composer(kind: str, compose: Composer) -> None:
    """`compose(row)` builds the content of outbox messages of `kind`."""
    _put(_COMPOSERS, kind, compose, "the composer of messages of kind")


def register_backend(channel: str, factory: BackendFactory) -> None:
    """`factory(config)` gives the backend that sends messages of `channel`."""
    _put(_BACKENDS, channel, factory, "the backend of channel")


def register_pre_send(channel: str, check: PreSendFilter) -> None:
    """`check(rows)` names the rows of `channel` that must not be sent, each with its reason."""
    checks = _PRE_SEND.setdefault(channel, [])
    if check not in checks:
        checks.append(check)


def composer(kind: str) -> Composer:
    try:
        return _COMPOSERS[kind]
    except KeyError:
        raise LookupError(f"no composer for messages of kind {kind!r}") from None


def backend(channel: str, config) -> Any:
    """The backend of `channel`, built from `config`; Unreachable when no package sends it."""
    try:
        factory = _BACKENDS[channel]
    except KeyError:
        raise Unreachable(f"no backend for channel {channel!r}") from None
    return factory(config)


def pre_send(channel: str) -> list[PreSendFilter]:
    return list(_PRE_SEND.get(channel, ()))


def registered() -> dict[str, dict]:
    """What is registered (the wiring test and a newcomer read it)."""
    return {"composers": dict(_COMPOSERS), "backends": dict(_BACKENDS),
            "pre_send": {channel: list(checks) for channel, checks in _PRE_SEND.items()}}
