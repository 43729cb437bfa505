"""A local fake of Twilio's REST Messages API on 127.0.0.1, for the tests and the bench scripts.

It speaks enough of ``/2010-04-01/Accounts/{AccountSid}/Messages.json`` for the official ``twilio``
client (9.x) to send SMS to it, records what it receives, can be told to fail, and builds (and
posts) the signed status-callback and inbound-SMS webhooks that Twilio would send to the app.

    with FakeTwilio(account_sid="AC" + "0" * 32, auth_token="secret") as tw:
        client = twilio.rest.Client(tw.account_sid, tw.auth_token)
        client.api.base_url = tw.base_url          # or: client = tw.client()
        msg = client.messages.create(to="+15551230000", from_="+15550001111", body="Hi",
                                     status_callback="http://127.0.0.1:5000/sms/status")
        assert msg.sid == tw.messages[0]["sid"] and msg.status == "queued"

Pointing the client here
------------------------
In twilio 9.x ``client.messages`` is ``client.api.account.messages``; its URI
``/Accounts/{sid}/Messages.json`` is prefixed with the version (``2010-04-01``) and then with
``client.api.base_url`` (``twilio.base.domain.Domain.absolute_url``, read at every request, default
``https://api.twilio.com``). So setting ``client.api.base_url = tw.base_url`` (no trailing path) is
all it takes: the client then POSTs to ``{tw.base_url}/2010-04-01/Accounts/{sid}/Messages.json``
with HTTP Basic auth (username, password) = (account sid, auth token). The client must have no
``region``/``edge`` (nor ``TWILIO_REGION``/``TWILIO_EDGE`` in the environment): with either set,
``ClientBase.get_hostname`` rewrites the host name as if it were ``api.twilio.com`` and would mangle
``127.0.0.1:PORT``. Only ``client.api`` is redirected; other domains (lookups, messaging, ...) keep
their own ``base_url``.

What the server answers (checked in this order)
-----------------------------------------------
- Wrong or missing Basic auth: 401, code 20003 (with ``WWW-Authenticate``).
- A path other than the Messages list / one message, or another account's sid: 404, code 20404.
- ``POST .../Messages.json``:
  1. a pending ``fail_next`` fault: its status (429 -> code 20429, 5xx -> code 20500);
  2. no ``To``: 400, 21604; neither ``From`` nor ``MessagingServiceSid``: 400, 21603;
     no ``Body`` (and no ``MediaUrl``/``ContentSid``): 400, 21602; a body over 1600 characters:
     400, 21617 (the codes real Twilio uses);
  3. a ``To`` set with ``reject()``: that status and code, every time;
  4. otherwise 201 with a Message resource: ``sid`` "SM" + 32 hex, ``status`` "queued" (or
     "accepted" when sent through a MessagingServiceSid without From, as Twilio does), ``from``
     (null in that case), ``num_segments`` (GSM-7 or UCS-2 segmentation), ``direction``
     "outbound-api", RFC 2822 dates, ``uri``, ``subresource_uris`` and the rest.
  Unknown form fields are accepted and kept in the request record.
- ``GET .../Messages/{sid}.json``: the message as it stands (``post_callback`` updates its status).
- ``GET .../Messages.json``: the account's messages, newest first (by ``date_sent``, messages not
  handed to the carrier yet first), filtered as Twilio filters them: ``To``, ``From`` (exact),
  ``DateSent``, ``DateSent>`` and ``DateSent<`` (on, on or after, on or before; a ``YYYY-MM-DD`` date
  means that whole day in GMT, ``YYYY-MM-DDTHH:MM:SSZ`` that second). As on Twilio the date filters
  look at ``date_sent``: a message still ``queued`` (``date_sent`` null) matches none of them.
  Pages of ``PageSize`` (default 50, at most 1000) with Twilio's envelope (``messages``, ``page``,
  ``page_size``, ``start``, ``end``, ``uri``, ``first_page_uri``, ``next_page_uri`` carrying
  ``Page`` and ``PageToken`` = "PA" + the last SID of the page, ``previous_page_uri``); the client's
  ``list()``/``stream()`` follows ``next_page_uri``.
Every answer is an error body ``{"code", "message", "more_info", "status"}`` or a resource, JSON.

When a message is handed to the carrier
---------------------------------------
``hand_off_seconds`` (default None: never): that long after its creation a message reads
``status`` "sent" with its ``date_sent``, in GET and in the list (unless a callback set another
status). Until then it is ``queued`` (or ``accepted``) with ``date_sent`` null.

A slow or failing provider
--------------------------
- ``fail_next(n, status, method="GET")``: the next n list/fetch requests fail instead;
- ``stall_next(n, seconds)``: the next n POSTs are accepted at once (the message exists) and answered
  only ``seconds`` later, after the client's timeout; with ``accept=False`` nothing is created and
  the late answer is a 503;
- ``drop_next(n)``: the next n POSTs are accepted, then the connection is closed without an answer
  (the provider's front end crashing; the client sees "Connection aborted");
- ``answer_delay``: seconds every accepted POST waits between creating the message and answering
  (``delay`` waits before anything is processed).

Everything received (auth failures and injected faults included) is in ``tw.requests``; every
accepted message is in ``tw.messages``. Imports neither pytest nor the app.
"""
from __future__ import annotations

import base64
import binascii
import collections
import email.utils
import http
import json
import re
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
MAX_BODY_CHARS = 1600
DEFAULT_NUMBER = "+15005550006"  # Twilio's "valid" magic test number

# Default messages for the codes a test is likely to inject with reject().
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
}

# GSM 03.38: the basic set (one septet each) and the extension table (escape + char: two septets).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")

_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000


def _pack(units: list[int], size: int) -> int:
    """How many segments of `size` units hold these characters, none split across two."""
    segments, used = 1, 0
    for u in units:
        if used + u > size:
            segments, used = segments + 1, 0
        used += u
    return segments


def num_segments(body: str) -> int:
    """Segments Twilio bills for `body`: GSM-7 (160, or 153 per part) when every character is in
    GSM 03.38, otherwise UCS-2 (70 UTF-16 units, or 67 per part, surrogate pairs kept together)."""
    if not body:
        return 1
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        units = [2 if c in GSM7_EXTENSION else 1 for c in body]
        single, part = 160, 153
    else:
        units = [2 if ord(c) > 0xFFFF else 1 for c in body]
        single, part = 70, 67
    return 1 if sum(units) <= single else _pack(units, part)


def rfc2822(moment: datetime) -> str:
    """Twilio's date format: 'Thu, 24 Aug 2023 05:01:45 +0000'."""
    return email.utils.format_datetime(moment.astimezone(timezone.utc).replace(microsecond=0))


def error_body(status: int, code: int, message: str | None = None) -> dict:
    return {
        "code": code,
        "message": message or ERROR_MESSAGES.get(code) or http.HTTPStatus(status).phrase,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        """A client killed mid-request (the crash tests) resets its connection: not worth a traceback."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the
    # second until the client's delayed ACK (~40 ms per request on a kept-alive connection).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"  # keep-alive, as the twilio client's requests.Session expects
    server_version = "FakeTwilio/1.0"
    sys_version = ""
    fake: "FakeTwilio"  # set on the subclass made per server

    def setup(self):
        super().setup()
        self.fake._track(self.connection, add=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.fake._track(self.connection, add=False)

    def log_message(self, format, *args):  # noqa: A002 - silence the per-request log
        pass

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def _dispatch(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        pairs = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        form = {k: v[0] if len(v) == 1 else v for k, v in pairs.items()}
        record = {
            "method": self.command,
            "path": split.path,
            "query": {k: v[0] if len(v) == 1 else v for k, v in parse_qs(split.query).items()},
            "form": form,
            "headers": dict(self.headers.items()),
            "status": None,
        }
        self.fake._record_request(record)
        delay = self.fake.delay
        if delay:
            time.sleep(delay)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        status, payload, extra_headers, after = self.fake._answer(self.command, split.path, form, self.headers,
                                                                  query)
        record["status"] = status
        record["response"] = payload
        if after.get("sleep"):
            time.sleep(after["sleep"])
        if after.get("drop"):  # accepted, then the connection goes down without an answer
            record["status"] = "dropped"
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Twilio-Request-Id", "RQ" + uuid.uuid4().hex)
            for name, value in extra_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up waiting (its timeout) and closed the connection
            self.close_connection = True


class FakeTwilio:
    """A fake Twilio Messages API on 127.0.0.1:<free port>, served by a daemon thread.

    Use as a context manager (or call start()/stop()). Public state, all safe to read from tests:
    base_url, host, port, account_sid, auth_token, requests, messages, delay.
    """

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "secret", *,
                 host: str = "127.0.0.1", port: int = 0):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.delay: float = 0.0  # seconds slept before every answer
        self.answer_delay: float = 0.0  # seconds between accepting a message and answering
        self.hand_off_seconds: float | None = None  # when a queued message reads "sent" (None: never)
        self.requests: list[dict] = []  # every request: method, path, query, form, headers, status, response
        self.messages: list[dict] = []  # every accepted message, in order
        self._by_sid: dict[str, dict] = {}
        self._faults: collections.deque[tuple[int, int, str | None]] = collections.deque()
        self._get_faults: collections.deque[tuple[int, int, str | None]] = collections.deque()
        self._stalls: collections.deque[tuple[float, bool, bool]] = collections.deque()  # (seconds, accept, drop)
        self._rejected: dict[str, tuple[int, int, str | None]] = {}
        self._lock = threading.RLock()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "FakeTwilio":
        handler = type("FakeTwilioHandler", (_Handler,), {"fake": self})
        self._server = _Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-twilio-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:  # wake handler threads parked on idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "FakeTwilio":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def client(self, **kwargs):
        """A real twilio.rest.Client for this account, already pointed here (client.api.base_url)."""
        from twilio.rest import Client

        client = Client(self.account_sid, self.auth_token, **kwargs)
        client.api.base_url = self.base_url
        return client

    # --- test controls ---------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 429, code: int | None = None, message: str | None = None,
                  method: str = "POST") -> None:
        """The next `n` Messages POSTs (after auth passes) answer `status` with a Twilio error body and
        record no message. Default codes: 429 -> 20429 "Too Many Requests", 5xx -> 20500, 4xx -> 20404
        for GETs. With method="GET": the next `n` GETs (the list, or one message) fail instead. Calls stack."""
        if code is None:
            code = 20429 if status == 429 else 20500 if status >= 500 else 20404
        if message is None:
            message = "Internal Server Error" if code == 20500 else None
        with self._lock:
            (self._get_faults if method.upper() == "GET" else self._faults).extend([(status, code, message)] * n)

    def stall_next(self, n: int = 1, seconds: float = 1.0, *, accept: bool = True) -> None:
        """The next `n` Messages POSTs answer only after `seconds` (longer than the client's timeout,
        so that it gives up first). accept=True: the message is created at once, as Twilio does when
        it is slow to answer after taking the message; accept=False: nothing is created and the
        late answer is a 503."""
        with self._lock:
            self._stalls.extend([(seconds, accept, False)] * n)

    def drop_next(self, n: int = 1, *, accept: bool = True) -> None:
        """The next `n` Messages POSTs are accepted (accept=True) and then the connection is closed
        without an answer."""
        with self._lock:
            self._stalls.extend([(0.0, accept, True)] * n)

    def received(self, to_number: str) -> list[dict]:
        """The accepted messages to `to_number`, in order."""
        with self._lock:
            return [m for m in self.messages if m["to"] == to_number]

    def reject(self, to_number: str, code: int, status: int = 400, message: str | None = None) -> None:
        """Every later POST to `to_number` (exact match on the To field) answers `status` with Twilio
        error `code` (e.g. 21610 unsubscribed, 21614 not a mobile, 21211 invalid number), until reset()."""
        with self._lock:
            self._rejected[to_number] = (status, code, message)

    def reset(self) -> None:
        """Forget recorded requests and messages, pending fail_next faults and reject() numbers."""
        with self._lock:
            del self.requests[:]
            del self.messages[:]
            self._by_sid.clear()
            self._faults.clear()
            self._get_faults.clear()
            self._stalls.clear()
            self._rejected.clear()

    def message(self, sid: str) -> dict:
        with self._lock:
            return self._by_sid[sid]

    @property
    def pending_stalls(self) -> int:
        with self._lock:
            return len(self._stalls)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # --- webhooks Twilio would send to the app ---------------------------------------------

    def sign(self, url: str, params: dict) -> str:
        """The X-Twilio-Signature Twilio would send for a form POST of `params` to `url`."""
        return RequestValidator(self.auth_token).compute_signature(url, params)

    def callback(self, sid: str, status: str, error_code: int | str | None = None,
                 extra: dict | None = None) -> tuple[str, dict, str]:
        """(url, params, signature) of the status callback Twilio would POST for message `sid`, to the
        StatusCallback it was sent with. Raises KeyError for an unknown sid, ValueError without a
        StatusCallback. Changes nothing (post_callback does)."""
        msg = self.message(sid)
        url = msg["status_callback"]
        if not url:
            raise ValueError(f"message {sid} was sent without a StatusCallback")
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.account_sid,
            "From": msg["from"] or DEFAULT_NUMBER,
            "To": msg["to"],
            "ApiVersion": API_VERSION,
        }
        if msg["messaging_service_sid"]:
            params["MessagingServiceSid"] = msg["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        if extra:
            params.update({k: str(v) for k, v in extra.items()})
        return url, params, self.sign(url, params)

    def post_callback(self, sid: str, status: str, error_code: int | str | None = None,
                      extra: dict | None = None, timeout: float = 10) -> requests.Response:
        """POST callback(sid, ...) to the message's StatusCallback with X-Twilio-Signature, as Twilio
        does; the stored message (and GET of it) takes the new status and error code first."""
        url, params, signature = self.callback(sid, status, error_code, extra)
        with self._lock:
            msg = self._by_sid[sid]
            msg["status"] = status
            msg["error_code"] = int(error_code) if error_code is not None else None
            msg["resource"].update(status=status, error_code=msg["error_code"],
                                   date_updated=rfc2822(datetime.now(timezone.utc)))
        return self._post_webhook(url, params, signature, timeout)

    def inbound(self, url: str, from_: str, body: str, to: str = DEFAULT_NUMBER,
                extra: dict | None = None) -> tuple[dict, str]:
        """(params, signature) of the inbound-SMS webhook Twilio would POST to `url`."""
        sid = "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(num_segments(body)),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        if extra:
            params.update({k: str(v) for k, v in extra.items()})
        return params, self.sign(url, params)

    def post_inbound(self, url: str, from_: str, body: str, to: str = DEFAULT_NUMBER,
                     extra: dict | None = None, timeout: float = 10) -> requests.Response:
        params, signature = self.inbound(url, from_, body, to=to, extra=extra)
        return self._post_webhook(url, params, signature, timeout)

    @staticmethod
    def _post_webhook(url: str, params: dict, signature: str, timeout: float) -> requests.Response:
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        return requests.post(url, data=params, headers=headers, timeout=timeout)

    # --- server side -----------------------------------------------------------------------

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _record_request(self, record: dict) -> None:
        with self._lock:
            self.requests.append(record)

    def _authorised(self, headers) -> bool:
        value = headers.get("Authorization") or ""
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.account_sid and password == self.auth_token

    def _answer(self, method: str, path: str, form: dict, headers,
                query: dict | None = None) -> tuple[int, dict, dict, dict]:
        """(status, payload, headers, after): `after` says what to do before answering (sleep, drop)."""
        if not self._authorised(headers):
            return 401, error_body(401, 20003), {"WWW-Authenticate": 'Basic realm="Twilio API"'}, {}
        list_match, one_match = _MESSAGES_PATH.match(path), _MESSAGE_PATH.match(path)
        match = list_match or one_match
        if not match or match["account"] != self.account_sid:
            return 404, error_body(404, 20404, f"The requested resource {path} was not found"), {}, {}
        if method == "GET":
            with self._lock:
                if self._get_faults:
                    status, code, message = self._get_faults.popleft()
                    return status, error_body(status, code, message), {}, {}
        if one_match:
            if method != "GET":
                return 405, error_body(405, 20004, "Method not allowed"), {}, {}
            with self._lock:
                msg = self._by_sid.get(one_match["sid"])
                if msg is None:
                    return 404, error_body(404, 20404, f"The requested resource {path} was not found"), {}, {}
                return 200, self._resource(msg), {}, {}
        if method == "GET":
            return self._list(path, query or {})
        if method != "POST":
            return 405, error_body(405, 20004, "Method not allowed"), {}, {}
        with self._lock:
            stall = self._stalls.popleft() if self._stalls else None
        if stall is not None and not stall[1]:  # slow, and nothing taken: a late 503
            return 503, error_body(503, 20503), {}, {"sleep": stall[0], "drop": stall[2]}
        status, payload, extra = self._create(form)
        after = {}
        if status == 201 and stall is not None:
            after = {"sleep": stall[0], "drop": stall[2]}
        elif status == 201 and self.answer_delay:
            after = {"sleep": self.answer_delay}
        return status, payload, extra, after

    # --- the list ------------------------------------------------------------------------------

    def _resource(self, msg: dict) -> dict:
        """The message as it reads now: handed to the carrier `hand_off_seconds` after creation."""
        resource = dict(msg["resource"])
        if (self.hand_off_seconds is not None and resource["status"] in ("queued", "accepted")
                and time.time() >= msg["created"].timestamp() + self.hand_off_seconds):
            sent = datetime.fromtimestamp(msg["created"].timestamp() + self.hand_off_seconds, timezone.utc)
            resource.update(status="sent", date_sent=rfc2822(sent))
        return resource

    @staticmethod
    def _date_filter(value: str) -> tuple[datetime, datetime]:
        """A DateSent value as the [start, end] it covers: a whole GMT day, or one second."""
        value = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            start = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return start, start.replace(hour=23, minute=59, second=59)
        moment = datetime.strptime(value.rstrip("Z"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        return moment, moment

    def _list(self, path: str, query: dict) -> tuple[int, dict, dict, dict]:
        try:
            size = int(query.get("PageSize") or DEFAULT_PAGE_SIZE)
            page = int(query.get("Page") or 0)
            bounds = {name: self._date_filter(query[name]) for name in ("DateSent", "DateSent>", "DateSent<")
                      if query.get(name)}
        except ValueError as exc:
            return 400, error_body(400, 20001, f"Invalid parameter: {exc}"), {}, {}
        if not 1 <= size <= MAX_PAGE_SIZE or page < 0:
            return 400, error_body(400, 20001, "Invalid PageSize or Page"), {}, {}
        with self._lock:
            resources = [self._resource(m) for m in self.messages]
        order = []
        for i, r in enumerate(resources):
            if query.get("To") and r["to"] != query["To"]:
                continue
            if query.get("From") and r["from"] != query["From"]:
                continue
            sent = email.utils.parsedate_to_datetime(r["date_sent"]) if r["date_sent"] else None
            if bounds and sent is None:
                continue
            if "DateSent" in bounds and not bounds["DateSent"][0] <= sent <= bounds["DateSent"][1]:
                continue
            if "DateSent>" in bounds and sent < bounds["DateSent>"][0]:
                continue
            if "DateSent<" in bounds and sent > bounds["DateSent<"][1]:
                continue
            # Newest first: not yet sent (newest created first), then by date_sent; ties by creation.
            order.append(((sent is None, sent.timestamp() if sent else 0.0, i), r))
        order.sort(key=lambda item: item[0], reverse=True)
        matching = [r for _, r in order]
        token = query.get("PageToken") or ""
        if token.startswith("PA"):
            after = [i for i, r in enumerate(matching) if r["sid"] == token[2:]]
            start = after[0] + 1 if after else len(matching)
        else:
            start = page * size
        chunk = matching[start:start + size]
        params = {k: v for k, v in query.items() if k not in ("Page", "PageToken", "PageSize")}

        def uri(**extra) -> str:
            from urllib.parse import urlencode

            return f"{path}?{urlencode({**params, 'PageSize': size, **extra})}"

        more = start + size < len(matching)
        payload = {
            "messages": chunk,
            "page": page,
            "page_size": size,
            "start": start,
            "end": start + max(0, len(chunk) - 1),
            "uri": uri(Page=page),
            "first_page_uri": uri(Page=0),
            "next_page_uri": uri(Page=page + 1, PageToken="PA" + chunk[-1]["sid"]) if more and chunk else None,
            "previous_page_uri": uri(Page=page - 1) if page > 0 else None,
        }
        return 200, payload, {}, {}

    def _create(self, form: dict) -> tuple[int, dict, dict]:
        def field(name):
            value = form.get(name)
            return value[-1] if isinstance(value, list) else value

        with self._lock:
            if self._faults:
                status, code, message = self._faults.popleft()
                return status, error_body(status, code, message), {}
            to, from_, service = field("To"), field("From"), field("MessagingServiceSid")
            body = field("Body")
            has_media = bool(form.get("MediaUrl") or form.get("ContentSid"))
            if not to:
                return 400, error_body(400, 21604), {}
            if not from_ and not service:
                return 400, error_body(400, 21603), {}
            if not body and not has_media:
                return 400, error_body(400, 21602), {}
            if body and len(body) > MAX_BODY_CHARS:
                return 400, error_body(400, 21617), {}
            if to in self._rejected:
                status, code, message = self._rejected[to]
                if message is None and code == 21211:
                    message = f"The 'To' number {to} is not a valid phone number."
                return status, error_body(status, code, message), {}

            sid = "SM" + uuid.uuid4().hex
            created = datetime.now(timezone.utc)
            now = rfc2822(created)
            status = "accepted" if service and not from_ else "queued"
            uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
            media = form.get("MediaUrl") or []
            resource = {
                "account_sid": self.account_sid,
                "api_version": API_VERSION,
                "body": body or "",
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": from_ or None,
                "messaging_service_sid": service or None,
                "num_media": str(len(media) if isinstance(media, list) else 1),
                "num_segments": str(num_segments(body or "")),
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": status,
                "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
                "to": to,
                "uri": uri,
            }
            msg = {
                "sid": sid,
                "to": to,
                "from": from_ or None,
                "messaging_service_sid": service or None,
                "body": body or "",
                "status_callback": field("StatusCallback") or None,
                "status": status,
                "error_code": None,
                "num_segments": int(resource["num_segments"]),
                "form": dict(form),
                "resource": resource,
                "created": created,
            }
            self.messages.append(msg)
            self._by_sid[sid] = msg
            return 201, dict(resource), {}
