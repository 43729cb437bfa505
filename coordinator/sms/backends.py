"""Where SMS go. Chosen by SMS_BACKEND: `log` (default: recorded as sent and shown to organizers
on the outbox page, so `make run` needs no credentials) or `twilio` (the official client).

Twilio's client retries nothing: HTTP 429 and 5xx, timeouts and connection errors come back to
the outbox as temporary failures (exponential backoff with jitter); the errors that no retry can
fix (21610 unsubscribed, 21614 not a mobile, 21211 invalid number, and any other 4xx) fail the
message at once with Twilio's code and reason.

A request that may have reached Twilio without its answer reaching us — no answer within
SMS_TIMEOUT, the connection dropped after the request went out — is *uncertain*
(`SendError.uncertain`): Twilio may have taken the message. A refused or timed-out connection is not
(nothing was sent). Before an uncertain SMS is sent again the outbox asks Twilio
(`TwilioConnection.find`: `messages.list` to that number since the first attempt, matched on
sender, number and text); found, its SID is recorded and nothing is sent.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import requests
import urllib3.exceptions

from coordinator.endpoints.phones import is_foreign
from coordinator.outbox.models import OutboxMessage
from coordinator.outbox.errors import LookupUnavailable, SendError, Unreachable

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
    def __init__(self, reason: str, *, permanent: bool = False, code: int | None = None, uncertain: bool = False):
        super().__init__(reason, permanent=permanent, uncertain=uncertain)
        self.code = code


# Twilio's dates are whole seconds and its clock is not ours: a lookup reaches this far before the
# first attempt. It pages through at most LOOKUP_LIMIT messages to the number.
LOOKUP_MARGIN = timedelta(seconds=30)
LOOKUP_LIMIT = 200


def may_have_reached(exc: requests.RequestException) -> bool:
    """Whether the request may have reached the provider: a read timeout, or a connection lost
    after it was established; not a connection refused, a connect timeout, a name or TLS error."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError,
                        requests.exceptions.ProxyError, requests.exceptions.InvalidURL)):
        return False
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
        return not isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))
    return False


FOREIGN_REASON = "not sent: a foreign number, which the Vietnamese SMS sender cannot reach"


def refuse_foreign(row: OutboxMessage) -> None:
    """The last guard: the fan-outs already skip foreign numbers, but a contact stored before they
    were told apart (typed "mobile") may still be queued; it fails with the reason, unsent."""
    if is_foreign(row.recipient):
        raise SmsSendError(FOREIGN_REASON, permanent=True)


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
        refuse_foreign(row)
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
        self._paced = False

    def ready(self) -> None:
        """Take the rate limiter's turn now, before the outbox commits the request's `attempted_at`
        mark, so that the request follows the mark at once (a kill between the two leaves nothing
        uncertain that never left)."""
        self.backend.limiter.wait()
        self._paced = True

    def _pace(self) -> None:
        if self._paced:
            self._paced = False
        else:
            self.backend.limiter.wait()

    def send(self, row: OutboxMessage, body: str) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        refuse_foreign(row)
        b = self.backend
        sender = {"messaging_service_sid": b.messaging_service_sid} if b.messaging_service_sid else {"from_": b.sender}
        self._pace()
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
            uncertain = may_have_reached(exc)
            raise SmsSendError(f"Twilio unreachable: {type(exc).__name__}: {exc}"
                               + ("; Twilio may have taken it: it is looked up before any new attempt" if uncertain
                                  else ""), uncertain=uncertain) from exc
        return message.sid

    def find(self, row: OutboxMessage, body: str, since: datetime | None) -> str | None:
        """The SID of this SMS if Twilio already has it: a message to `row.recipient` from our sender
        (or messaging service) with this text, created at `since` (the first uncertain attempt) or
        later. Twilio filters on `date_sent`, which a message still queued there does not have yet:
        when the dated list finds nothing, the newest messages to the number are read too. Raises
        SmsSendError (temporary: ask again later) or LookupUnavailable (Twilio refuses the lookup)."""
        from twilio.base.exceptions import TwilioException, TwilioRestException

        b = self.backend
        since = (since or datetime.now(timezone.utc)).astimezone(timezone.utc) - LOOKUP_MARGIN
        filters = {"to": row.recipient} if b.messaging_service_sid else {"to": row.recipient, "from_": b.sender}
        self._pace()
        try:
            sid = self._match(self.client.messages.stream(date_sent_after=since, page_size=50, limit=LOOKUP_LIMIT,
                                                          **filters), body, since)
            if sid is None:
                sid = self._match(self.client.messages.stream(page_size=50, limit=LOOKUP_LIMIT, **filters),
                                  body, since)
        except TwilioRestException as exc:
            raise self._lookup_error(exc.status, exc.msg) from exc
        except TwilioException as exc:  # a page that failed: "Unable to fetch page", with the response
            response = exc.args[1] if len(exc.args) > 1 else None
            status = getattr(response, "status_code", None)
            raise self._lookup_error(status, getattr(response, "text", "") or str(exc)) from exc
        except requests.RequestException as exc:
            raise SmsSendError(f"Twilio unreachable (looking up an uncertain SMS): {type(exc).__name__}: {exc}") from exc
        return sid

    def _match(self, messages, body: str, since: datetime) -> str | None:
        b = self.backend
        for m in messages:
            if (m.body == body and (m.direction or "").startswith("outbound") and m.date_created is not None
                    and m.date_created >= since
                    and (m.messaging_service_sid == b.messaging_service_sid if b.messaging_service_sid
                         else m.from_ == b.sender)):
                return m.sid
        return None

    @staticmethod
    def _lookup_error(status: int | None, text: str) -> Exception:
        if status is None or status == 429 or status >= 500:
            return SmsSendError(f"Twilio HTTP {status} (looking up an uncertain SMS): {text[:300]}")
        if status == 401:
            return Unreachable(f"Twilio HTTP 401 (looking up an uncertain SMS): {text[:300]}; check "
                               "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        return LookupUnavailable(f"Twilio HTTP {status}: {text[:300]}")


def sms_backend(config: dict):
    kind = config["SMS_BACKEND"]
    if kind == "log":
        return LogSmsBackend()
    if kind == "twilio":
        return TwilioSmsBackend(config)
    raise SmsSendError(f"unknown SMS_BACKEND {kind!r}: use log or twilio")
