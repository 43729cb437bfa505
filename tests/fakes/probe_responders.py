"""Small real responders on 127.0.0.1 for the probe engine's tests and benchmark: every one is a
context manager listening on a free port (port 0), served by daemon threads, shut down on exit.

    SipUdpFarm(n_ports, silent_fraction)   UDP SIP ports served by one thread; some never answer
    SipUdpResponder(status=200)            one answering UDP SIP port (a farm of one)
    SilentUdpPort()                        a bound UDP port that reads and never answers
    SipTcpResponder(status=200, tls=False) SIP over TCP (or TLS with a self-signed certificate)
    TcpListener()                          accepts TCP connections and closes them (H.323)
    BlackholeTcpPort()                     a listening port whose backlog is full: connects time out
    HttpServer(routes={"/": 200})          HTTP (or HTTPS, self-signed) answering by path (redirects,
                                           cookies, a delay)
    closed_port("udp" | "tcp")             a port nothing listens on

No pytest here: a benchmark imports this module too.
"""
from __future__ import annotations

import heapq
import http.server
import multiprocessing
import selectors
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"
# A self-signed certificate for 127.0.0.1 that no client trusts by default (shared with the SMTP tests).
TEST_CERT = Path(__file__).resolve().parent.parent / "data" / "smtp-test-cert.pem"
TEST_KEY = Path(__file__).resolve().parent.parent / "data" / "smtp-test-key.pem"

REASONS = {100: "Trying", 180: "Ringing", 200: "OK", 202: "Accepted", 302: "Moved Temporarily",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           481: "Call/Transaction Does Not Exist", 486: "Busy Here", 500: "Server Internal Error",
           503: "Service Unavailable", 603: "Decline"}
_ECHOED = {"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"}


def closed_port(kind: str = "udp") -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _head(request: bytes) -> list[str]:
    return request.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")


def call_id_of(request: bytes) -> str:
    for line in _head(request)[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in ("call-id", "i"):
            return value.strip()
    return ""


def sip_response(request: bytes, status: int, reason: str | None = None) -> bytes:
    """The response to a SIP request: its Via, From, To (given a tag), Call-ID and CSeq echoed."""
    lines = [f"SIP/2.0 {status} {reason or REASONS.get(status, 'Whatever')}"]
    for line in _head(request)[1:]:
        name = line.partition(":")[0].strip().lower()
        if name in _ECHOED:
            if name in ("to", "t") and ";tag=" not in line:
                line += ";tag=responder"
            lines.append(line)
    lines += ["Server: probe-responder", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def _udp_socket(rcvbuf: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    except OSError:
        pass
    sock.bind((HOST, 0))
    sock.setblocking(False)
    return sock


class SipUdpFarm:
    """`n_ports` UDP ports on 127.0.0.1 served by one thread (or, with process=True, by a child
    process, so that a benchmark does not share the GIL with it); the first
    round(n_ports * silent_fraction) ports never answer (at least one if the fraction is above 0).

    The others answer every SIP OPTIONS (retransmissions too) with `status`, after `delay` seconds,
    preceded at once by "100 Trying" if `provisional`; or with the bytes `raw_reply` (not SIP);
    `silent_when(n, request)` (n: 0 for the first distinct Call-ID...) may keep a request unanswered.

    Counts: `requests` (datagrams), `options` (distinct Call-IDs), `answered` (responses sent),
    `last_request` (bytes) and
    `max_in_flight`: the most distinct Call-IDs received and not yet answered at one time. A request
    that is never answered counts for `hold` seconds after its arrival (not at all if hold is None):
    keep `hold` below the probes' timeout and `max_in_flight` is a lower bound of the prober's
    number of probes in flight. With process=True the counts are read when the farm stops."""

    def __init__(self, n_ports: int = 1, silent_fraction: float = 0.0, *, status: int = 200,
                 reason: str | None = None, delay: float = 0.0, provisional: bool = False,
                 raw_reply: bytes | None = None, silent_when: Callable[[int, bytes], bool] | None = None,
                 hold: float | None = None, rcvbuf: int = 4 << 20, process: bool = False):
        if not 0 <= silent_fraction <= 1 or n_ports < 1:
            raise ValueError("n_ports >= 1 and 0 <= silent_fraction <= 1")
        n_silent = round(n_ports * silent_fraction)
        if silent_fraction > 0 and n_silent == 0:
            n_silent = 1
        if silent_fraction < 1 and n_silent == n_ports:
            raise ValueError("no port left to answer: raise n_ports")
        self.n_ports, self.n_silent, self.silent_fraction = n_ports, n_silent, silent_fraction
        self.status, self.reason, self.delay, self.provisional = status, reason, delay, provisional
        self.raw_reply, self.silent_when, self.hold, self.rcvbuf = raw_reply, silent_when, hold, rcvbuf
        self.process = process
        if process and silent_when is not None:
            raise ValueError("silent_when cannot cross into a child process")
        self.host = HOST
        self.ports: list[int] = []
        self.requests = self.options = self.answered = self.max_in_flight = 0
        self.last_request = b""  # the last OPTIONS received (not kept with process=True)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._child = self._conn = None

    # ports and dial strings
    @property
    def silent_ports(self) -> list[int]:
        return self.ports[:self.n_silent]

    @property
    def answering_ports(self) -> list[int]:
        return self.ports[self.n_silent:]

    @property
    def port(self) -> int:
        """The first answering port (the only one of a farm of one)."""
        return self.answering_ports[0] if self.answering_ports else self.ports[0]

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def is_silent(self, i: int) -> bool:
        """Whether dial number i goes to a silent port: exactly round(n * silent_fraction) of the first
        n dials, evenly spread."""
        f = self.silent_fraction
        return int((i + 1) * f + 1e-9) > int(i * f + 1e-9)

    def dials(self, n: int, user: str = "ep") -> list[str]:
        """n SIP dial strings over the ports, silent ones spread evenly (see is_silent)."""
        out, silent_i, answer_i = [], 0, 0
        for i in range(n):
            if self.is_silent(i):
                port, silent_i = self.silent_ports[silent_i % self.n_silent], silent_i + 1
            else:
                port, answer_i = self.answering_ports[answer_i % len(self.answering_ports)], answer_i + 1
            out.append(f"sip:{user}{i}@{self.host}:{port}")
        return out

    # lifecycle
    def __enter__(self) -> SipUdpFarm:
        if self.process:
            ctx = multiprocessing.get_context("spawn")
            self._conn, child_conn = ctx.Pipe()
            self._child = ctx.Process(target=_farm_child, args=(child_conn, self._settings()), daemon=True)
            self._child.start()
            if not self._conn.poll(30):
                self._child.kill()
                raise RuntimeError("the SIP farm process did not start")
            self.ports = self._conn.recv()
            return self
        self._socks = [_udp_socket(self.rcvbuf) for _ in range(self.n_ports)]
        self.ports = [s.getsockname()[1] for s in self._socks]
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="sip-udp-farm", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self._child is not None:
            try:
                self._conn.send("stop")
                if self._conn.poll(10):
                    stats = self._conn.recv()
                    self.requests, self.options, self.answered, self.max_in_flight = stats
            finally:
                self._child.join(5)
                if self._child.is_alive():
                    self._child.kill()
                self._conn.close()
                self._child = None
            return
        if self._thread is None:
            return
        self._wake_w.send(b"x")
        self._thread.join(5)
        self._thread = None
        for s in (*self._socks, self._wake_r, self._wake_w):
            s.close()

    def _settings(self) -> dict:
        return {"n_ports": self.n_ports, "silent_fraction": self.silent_fraction, "status": self.status,
                "reason": self.reason, "delay": self.delay, "provisional": self.provisional,
                "raw_reply": self.raw_reply, "hold": self.hold, "rcvbuf": self.rcvbuf}

    # serving
    def _serve(self, control=None) -> None:
        sel = selectors.DefaultSelector()
        for i, sock in enumerate(self._socks):
            sel.register(sock, selectors.EVENT_READ, i < self.n_silent)
        sel.register(self._wake_r if control is None else control, selectors.EVENT_READ, "stop")
        self._seen: set[str] = set()
        self._silent_ids: set[str] = set()
        self._unanswered: set[str] = set()
        self._silent_until: list[float] = []  # a heap of the times silent requests stop counting
        self._due: list[tuple] = []  # a heap of (time, seq, sock, addr, payload, call_id)
        self._seq = 0
        try:
            while True:
                wait = max(0.0, self._due[0][0] - time.monotonic()) if self._due else None
                for key, _ in sel.select(wait):
                    if key.data == "stop":
                        return
                    self._drain(key.fileobj, key.data)
                now = time.monotonic()
                while self._due and self._due[0][0] <= now:
                    _, _, sock, addr, payload, call_id = heapq.heappop(self._due)
                    self._send(sock, addr, payload, call_id)
        finally:
            sel.close()

    def _drain(self, sock: socket.socket, silent_port: bool) -> None:
        for _ in range(256):
            try:
                data, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            self._handle(sock, data, addr, silent_port)

    def _in_flight(self, now: float) -> int:
        while self._silent_until and self._silent_until[0] <= now:
            heapq.heappop(self._silent_until)
        return len(self._unanswered) + len(self._silent_until)

    def _handle(self, sock: socket.socket, data: bytes, addr, silent_port: bool) -> None:
        now = time.monotonic()
        with self._lock:
            self.requests += 1
        if not data.startswith(b"OPTIONS "):
            return
        self.last_request = data
        call_id = call_id_of(data)
        new = call_id not in self._seen
        if new:
            self._seen.add(call_id)
            silent = silent_port or (self.silent_when is not None and bool(self.silent_when(self.options, data)))
            if silent:
                self._silent_ids.add(call_id)
                if self.hold is not None:
                    heapq.heappush(self._silent_until, now + self.hold)
            else:
                self._unanswered.add(call_id)
            with self._lock:
                self.options += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight(now))
        else:
            silent = call_id in self._silent_ids
        if silent:
            return
        if self.raw_reply is not None:
            self._send(sock, addr, self.raw_reply, call_id)
            return
        if self.provisional:
            self._sendto(sock, addr, sip_response(data, 100))
        payload = sip_response(data, self.status, self.reason)
        if self.delay > 0:
            self._seq += 1
            heapq.heappush(self._due, (now + self.delay, self._seq, sock, addr, payload, call_id))
        else:
            self._send(sock, addr, payload, call_id)

    def _sendto(self, sock, addr, payload: bytes) -> None:
        try:
            sock.sendto(payload, addr)
        except OSError:
            pass

    def _send(self, sock, addr, payload: bytes, call_id: str) -> None:
        self._sendto(sock, addr, payload)
        self._unanswered.discard(call_id)
        with self._lock:
            self.answered += 1


def _farm_child(conn, settings: dict) -> None:
    farm = SipUdpFarm(**settings)
    farm._socks = [_udp_socket(farm.rcvbuf) for _ in range(farm.n_ports)]
    conn.send([s.getsockname()[1] for s in farm._socks])
    try:
        farm._serve(control=conn)
        conn.recv()
        conn.send((farm.requests, farm.options, farm.answered, farm.max_in_flight))
    finally:
        for s in farm._socks:
            s.close()


class SipUdpResponder(SipUdpFarm):
    """One UDP port answering SIP OPTIONS (see SipUdpFarm for the options and counts)."""

    def __init__(self, status: int = 200, **options):
        super().__init__(1, 0.0, status=status, **options)


class SilentUdpPort(SipUdpFarm):
    """A bound UDP port that reads every datagram (counted in `requests`) and never answers."""

    def __init__(self, **options):
        super().__init__(1, 1.0, **options)

    @property
    def port(self) -> int:
        return self.ports[0]


class _Server:
    """A socketserver in a daemon thread, as a context manager."""
    server: socketserver.BaseServer

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self.port

    def __enter__(self):
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class _ThreadingTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hangs up or refuses our certificate is no news


def _server_tls() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(TEST_CERT, TEST_KEY)
    return ctx


class SipTcpResponder(_Server):
    """SIP over TCP (or TLS, self-signed certificate for 127.0.0.1): answers each OPTIONS of a
    connection with `status` after `delay` seconds (with "100 Trying" first if `provisional`), or
    with the bytes `raw_reply`, or never (silent=True). Counts `connections`, `requests`,
    `max_connections` (open at one time) and keeps `last_request`."""

    def __init__(self, status: int = 200, *, reason: str | None = None, delay: float = 0.0,
                 provisional: bool = False, raw_reply: bytes | None = None, silent: bool = False,
                 tls: bool = False):
        self.status, self.reason, self.delay, self.provisional = status, reason, delay, provisional
        self.raw_reply, self.silent = raw_reply, silent
        self.connections = self.requests = self.max_connections = 0
        self.last_request = b""
        self._open = 0
        self._lock = threading.Lock()
        tls_context = _server_tls() if tls else None
        responder = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock = self.request
                with responder._lock:
                    responder.connections += 1
                    responder._open += 1
                    responder.max_connections = max(responder.max_connections, responder._open)
                try:
                    if tls_context is not None:
                        sock.settimeout(5)
                        sock = tls_context.wrap_socket(sock, server_side=True)
                    responder._converse(sock)
                except (OSError, ssl.SSLError):
                    pass
                finally:
                    with responder._lock:
                        responder._open -= 1

        self.server = _ThreadingTCPServer((HOST, 0), Handler)

    def _converse(self, sock) -> None:
        buf = b""
        sock.settimeout(10)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
            while b"\r\n\r\n" in buf:
                request, buf = buf.split(b"\r\n\r\n", 1)
                request += b"\r\n\r\n"
                with self._lock:
                    self.requests += 1
                    self.last_request = request
                if self.silent:
                    continue
                if self.raw_reply is not None:
                    sock.sendall(self.raw_reply)
                    continue
                if self.provisional:
                    sock.sendall(sip_response(request, 100))
                if self.delay:
                    time.sleep(self.delay)
                sock.sendall(sip_response(request, self.status, self.reason))


class TcpListener(_Server):
    """Accepts TCP connections (an H.323 gatekeeper's port, as far as a connect goes) and closes
    them; counts `connections`."""

    def __init__(self):
        self.connections = 0
        self._lock = threading.Lock()
        listener = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with listener._lock:
                    listener.connections += 1

        self.server = _ThreadingTCPServer((HOST, 0), Handler)


class BlackholeTcpPort:
    """A listening TCP port whose accept queue is full (never accepted): the kernel drops further
    SYNs, so that a connect to it times out, as to a host that does not answer."""

    def __init__(self):
        self._listener = socket.socket()
        self._listener.bind((HOST, 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self._fillers: list[socket.socket] = []

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self.port

    def __enter__(self) -> BlackholeTcpPort:
        for _ in range(8):  # until a connect no longer gets through
            s = socket.socket()
            s.settimeout(0.2)
            try:
                s.connect(self.address)
            except OSError:
                s.close()
                break
            self._fillers.append(s)
        return self

    def __exit__(self, *exc) -> None:
        for s in self._fillers:
            s.close()
        self._listener.close()


class HttpServer(_Server):
    """HTTP on 127.0.0.1 (HTTPS with the self-signed certificate if tls): `routes` maps a path to a
    status (a 3xx redirects to `locations[path]`, "/" if not given), sent with a body whatever the
    status; other paths answer 404. `set_cookies[path]` is sent as Set-Cookie with that path's answer;
    a path of `cookie_required` answers 403 unless the request carries that cookie ("name=value").
    Each answer waits `delay` seconds. Counts `requests` and `max_in_flight` (requests received and
    not yet answered at one time), and keeps `last_request` (request line and headers)."""

    def __init__(self, routes: dict[str, int] | None = None, *, tls: bool = False,
                 locations: dict[str, str] | None = None, set_cookies: dict[str, str] | None = None,
                 cookie_required: dict[str, str] | None = None, delay: float = 0.0):
        self.routes = {"/": 200} if routes is None else dict(routes)
        self.locations, self.set_cookies = dict(locations or {}), dict(set_cookies or {})
        self.cookie_required, self.delay = dict(cookie_required or {}), delay
        self.requests = self.max_in_flight = 0
        self.last_request = ""
        self.tls = tls
        self._in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with server._lock:
                    server.requests += 1
                    server.last_request = self.requestline + "\r\n" + str(self.headers)
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                status = server.routes.get(path, 404)
                required = server.cookie_required.get(path)
                if required and required not in [c.strip() for c in self.headers.get("Cookie", "").split(";")]:
                    status = 403
                body = f"status {status}\n".encode() * 100
                if server.delay:
                    time.sleep(server.delay)
                with server._lock:
                    server._in_flight -= 1
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", server.locations.get(path, "/"))
                if path in server.set_cookies:
                    self.send_header("Set-Cookie", server.set_cookies[path])
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            request_queue_size = 1024  # a sweep connects by the hundred: no SYN dropped, no 1 s retry

            def handle_error(self, request, client_address) -> None:
                pass

            def get_request(self):
                sock, addr = super().get_request()
                if tls:
                    sock = _server_tls().wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                return sock, addr

        self.server = Server((HOST, 0), Handler)

    def url(self, path: str = "/") -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}{path}"
