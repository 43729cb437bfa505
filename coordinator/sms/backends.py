"""Where SMS go. Chosen by SMS_BACKEND: `log` (default: recorded as sent and shown to organizers
on the outbox page, so `make run` needs no credentials) or `twilio` (the official client).

Twilio's client retries nothing: HTTP 429 and 5xx, timeouts and connection errors come back to
the outbox as temporary failures (exponential backoff with jitter); the errors that no retry can
fix (21610 unsubscribed, 21614 not a mobile, 21211 invalid number, and any other 4xx) fail the
message at once with Twilio's code and reason.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager

import requests

from coordinator.outbox.models import OutboxMessage
from coordinator.outbox.services import SendError, Unreachable

log = logging.getLogger(__name__)

# Twilio error codes that mean this number will never take this message.
PERMANENT_CODES = {
    21610: "the recipient has unsubscribed (replied STOP)",
    21614: "not a mobile number: it cannot receive SMS",
    21211: "invalid 'To' number",
    21612: "the number cannot be reached from this sender",
    21408: "SMS to this region is not enabled on the account",
}


class SmsSendError(SendError):
    def __init__(self, reason: str, *, permanent: bool = False, code: int | None = None):
        super().__init__(reason, permanent=permanent)
        self.code = code


class RateLimiter:
    """At most `rate` sends per second over all of a process's connections (a token bucket of one:
    sends are spaced evenly rather than bursting)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            time.sleep(at - now)


_limiters: dict[float, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(rate: float) -> RateLimiter:
    """One limiter per process and rate: it holds across batches."""
    with _limiters_lock:
        return _limiters.setdefault(rate, RateLimiter(rate))


class LogSmsBackend:
    connections = 1

    @contextmanager
    def connect(self):
        yield self

    def send(self, row: OutboxMessage, body: str) -> str:
        log.info("SMS to %s (%s characters): %s", row.recipient, len(body), body)
        return f"log-{row.id}"


class TwilioSmsBackend:
    def __init__(self, config: dict):
        self.account_sid = config["TWILIO_ACCOUNT_SID"]
        self.auth_token = config["TWILIO_AUTH_TOKEN"]
        self.sender = config["TWILIO_FROM"]
        self.messaging_service_sid = config["TWILIO_MESSAGING_SERVICE_SID"]
        self.base_url = config["TWILIO_API_BASE_URL"].rstrip("/")
        self.timeout = float(config["SMS_TIMEOUT"])
        self.status_callback = f"{config['PUBLIC_BASE_URL']}/webhooks/twilio/status"
        self.connections = max(1, int(config["SMS_CONCURRENCY"]))
        self.limiter = limiter_for(float(config["SMS_RATE_PER_SECOND"]))
        if not (self.account_sid and self.auth_token):
            raise SmsSendError("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN", permanent=False)
        if not (self.sender or self.messaging_service_sid):
            raise SmsSendError("SMS_BACKEND=twilio needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID")

    def client(self):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        client = Client(self.account_sid, self.auth_token, http_client=TwilioHttpClient(timeout=self.timeout))
        client.api.base_url = self.base_url
        return client

    @contextmanager
    def connect(self):
        """One client per connection: its own HTTP session (kept alive for the batch), used by one
        thread, closed at the end of the batch (the client's reference cycles would otherwise keep
        its socket open until the garbage collector runs)."""
        client = self.client()
        try:
            yield TwilioConnection(self, client)
        finally:
            session = getattr(client.http_client, "session", None)
            if session is not None:
                session.close()


class TwilioConnection:
    def __init__(self, backend: TwilioSmsBackend, client):
        self.backend = backend
        self.client = client

    def send(self, row: OutboxMessage, body: str) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        b = self.backend
        sender = {"messaging_service_sid": b.messaging_service_sid} if b.messaging_service_sid else {"from_": b.sender}
        b.limiter.wait()
        try:
            message = self.client.messages.create(to=row.recipient, body=body, status_callback=b.status_callback,
                                                  **sender)
        except TwilioRestException as exc:
            status, code = exc.status, exc.code
            reason = f"Twilio {code or status}: {PERMANENT_CODES.get(code) or exc.msg}"
            if status == 429 or status >= 500:
                raise SmsSendError(f"Twilio HTTP {status}: {exc.msg}", code=code) from exc
            if status in (401, 403, 404) and code not in PERMANENT_CODES:
                # The account, not the message: wrong SID or token, suspended account. Nothing of the
                # batch is tried; every message waits for its next attempt while someone fixes it.
                raise Unreachable(f"Twilio HTTP {status} ({code}): {exc.msg}; check TWILIO_ACCOUNT_SID and "
                                  "TWILIO_AUTH_TOKEN") from exc
            raise SmsSendError(reason, permanent=True, code=code) from exc
        except TwilioException as exc:  # 9.x: TwilioServiceException and others are not TwilioRestException
            raise SmsSendError(f"Twilio: {type(exc).__name__}: {exc}") from exc
        except requests.RequestException as exc:  # connection refused, reset, timeout
            raise SmsSendError(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc
        return message.sid


def sms_backend(config: dict):
    kind = config["SMS_BACKEND"]
    if kind == "log":
        return LogSmsBackend()
    if kind == "twilio":
        return TwilioSmsBackend(config)
    raise SmsSendError(f"unknown SMS_BACKEND {kind!r}: use log or twilio")
