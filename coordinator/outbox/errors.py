"""What a backend raises when a message does not go out (the outbox decides from these whether
to retry, fail, or look the message up at the provider first)."""
from __future__ import annotations


class SendError(Exception):
    """A provider refused or could not be reached. `permanent`: retrying cannot help. `uncertain`:
    the request may have reached the provider (no answer in time, the connection dropped after the
    request went out): it may have the message. A backend may subclass it to carry its provider's
    own error code (`code`), which the receivers of `signals.message_failed` read."""

    def __init__(self, reason: str, *, permanent: bool = False, uncertain: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.uncertain = uncertain


class LookupUnavailable(Exception):
    """The provider cannot say whether it has a message (the lookup is refused): an uncertain
    message is then sent again without confirmation."""


class Unreachable(SendError):
    """The provider cannot be reached at all: the rest of the batch waits for the next attempt."""
