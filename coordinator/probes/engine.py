"""The probe engine: is an endpoint reachable, and if not, which layer failed?

Pure networking, no database and no Flask: `target_for` turns an endpoint's protocol and dial string
into a `Target`; `probe` checks one target through real sockets; `sweep` checks many with bounded
concurrency in its own event loop and reports progress.

    SIP     OPTIONS over UDP (Timer A retransmissions: 0, 0.5, 1.5, 3.5 s ... within the timeout),
            TCP or TLS. Any SIP response means a live SIP stack: 2xx-4xx "connected",
            5xx/6xx "degraded" (layer "sip_error"); 1xx are skipped while waiting for the final
            response, and count as reachable if the timeout ends after one.
    H.323   a TCP connect to the port (1720 unless given), closed at once.
    web     an HTTP(S) GET with `requests` in a thread pool (redirects followed, body not read):
            2xx/3xx "connected", 4xx/5xx "failed" (layer "http_error").

Host names are resolved first (once per sweep and name), so that a name that does not resolve is
reported as layer "dns"; the lookup has its own `timeout`, then the probe has the whole `timeout`.
`probe` never raises (but for cancellation): an unexpected error is state "failed", layer "network".
"""
from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

KINDS = ("sip", "h323", "http", "none")
STATES = ("connected", "degraded", "failed", "unknown")
LAYERS = ("ok", "dns", "timeout", "refused", "sip_error", "http_error", "tls", "network", "unsupported")

SIP_PORT = 5060
SIPS_PORT = 5061
H323_PORT = 1720
T1 = 0.5  # RFC 3261 round-trip estimate: first retransmission of a request over UDP
T2 = 4.0  # RFC 3261 cap of the retransmission interval of a non-INVITE request
USER_AGENT = "coordinator-probe/1.0"
MAX_HTTP_THREADS = 64
_MAX_HEAD = 65536  # bytes of a SIP message head over TCP before we call the answer "not SIP"


@dataclass(frozen=True)
class Target:
    """What to probe. `url` is the URL for "http", and the SIP URI (the Request-URI) for "sip"."""
    key: Hashable
    kind: str  # "sip" | "h323" | "http" | "none"
    host: str = ""
    port: int = 0
    transport: str = ""  # "udp" | "tcp" | "tls" for SIP; "tcp" for h323; "" for http
    url: str = ""
    label: str = ""  # e.g. "SIP/UDP 10.56.0.1:5060", "H.323 10.56.0.1:1720", "HTTPS hop.example.gov.vn"


@dataclass(frozen=True)
class ProbeResult:
    key: Hashable
    state: str  # "connected" | "degraded" | "failed" | "unknown"
    layer: str  # "ok" | "dns" | "timeout" | "refused" | "sip_error" | "http_error" | "tls" | "network" | "unsupported"
    code: int | None  # SIP or HTTP status code
    rtt_ms: float | None
    detail: str
    target: str  # the Target's label


# --- parsing dial strings ------------------------------------------------------------------------

_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$")
_ALIAS = re.compile(r"^\+?\d{2,20}$")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _split_hostport(text: str, default_port: int) -> tuple[str, int]:
    """("host", port) of "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(text)
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError(text)
        port = int(rest[1:]) if rest else default_port
    elif text.count(":") > 1:
        host, port = text, default_port
    else:
        host, sep, port_text = text.partition(":")
        port = int(port_text) if sep else default_port
    if not 0 < port < 65536:
        raise ValueError(text)
    if not host or not (_is_ip(host) or _HOSTNAME.match(host)):
        raise ValueError(text)
    return host.rstrip("."), port


def _none(key: Hashable, label: str) -> Target:
    return Target(key, "none", label=label)


def _sip_target(key: Hashable, dial: str, sip_transport: str) -> Target:
    lower = dial.lower()
    scheme, body = ("sips", dial[5:]) if lower.startswith("sips:") else \
        ("sip", dial[4:]) if lower.startswith("sip:") else ("sip", dial)
    body = body.split("?", 1)[0]  # URI headers play no part in reaching the host
    _user, _, hostpart = body.rpartition("@")
    hostport, *params = hostpart.split(";")
    transport = ""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "transport":
            transport = value.strip().lower()
    if scheme == "sips":
        transport = "tls"
    transport = transport or (sip_transport or "udp").lower()
    if transport not in ("udp", "tcp", "tls"):
        return _none(key, f"SIP/{transport.upper()} {hostport}")
    try:
        host, port = _split_hostport(hostport, SIPS_PORT if transport == "tls" else SIP_PORT)
    except ValueError:
        return _none(key, f"not a SIP address: {dial}")
    return Target(key, "sip", host, port, transport, f"{scheme}:{body}", f"SIP/{transport.upper()} {_hostport(host, port)}")


def _h323_target(key: Hashable, dial: str) -> Target:
    body = dial[5:] if dial.lower().startswith("h323:") else dial
    address = body.rpartition("@")[2].split(";")[0].strip()
    if _ALIAS.match(address):
        return _none(key, f"H.323 alias {dial} without a host")
    try:
        host, port = _split_hostport(address, H323_PORT)
    except ValueError:
        return _none(key, f"not an H.323 address: {dial}")
    return Target(key, "h323", host, port, "tcp", "", f"H.323 {_hostport(host, port)}")


def _http_target(key: Hashable, dial: str) -> Target:
    parts = urlsplit(dial)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return _none(key, f"not a web link: {dial}")
    if scheme not in ("http", "https") or not host:
        return _none(key, f"not a web link: {dial}")
    default = 443 if scheme == "https" else 80
    shown = host if port in (None, default) else _hostport(host, port)
    return Target(key, "http", host, port or default, "", dial, f"{scheme.upper()} {shown}")


def target_for(key: Hashable, protocol: str, dial: str, *, sip_transport: str = "udp") -> Target:
    """The probe of an endpoint, from its protocol ("sip", "h323", "webrtc", "other") and dial string.

    Never raises: what cannot be probed (no dial, protocol "other", an H.323 alias without a host, an
    unparseable address) is a Target of kind "none" whose label says why. `sip_transport` is the SIP
    transport when the address names none (";transport=" and "sips:" win)."""
    protocol = (protocol or "").strip().lower()
    dial = (dial or "").strip()
    if not dial:
        return _none(key, "no dial address")
    if protocol == "sip":
        return _sip_target(key, dial, sip_transport)
    if protocol == "h323":
        return _h323_target(key, dial)
    if protocol == "webrtc":
        return _http_target(key, dial)
    return _none(key, f"protocol {protocol or 'other'}")


# --- results -------------------------------------------------------------------------------------

def _secs(seconds: float) -> str:
    return f"{seconds:.1f} s" if round(seconds, 1) == seconds else f"{seconds:g} s"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _result(target: Target, state: str, layer: str, detail: str, code: int | None = None,
            rtt: float | None = None) -> ProbeResult:
    return ProbeResult(target.key, state, layer, code, _ms(rtt), detail, target.label)


class _Failed(Exception):
    def __init__(self, layer: str, detail: str):
        super().__init__(detail)
        self.layer, self.detail = layer, detail


def _os_error(target: Target, exc: BaseException, what: str = "connection") -> ProbeResult:
    if isinstance(exc, ConnectionRefusedError):
        return _result(target, "failed", "refused", f"{what} refused")
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN):
        return _result(target, "failed", "network", exc.strerror or str(exc))
    if isinstance(exc, OSError) and exc.strerror:
        return _result(target, "failed", "network", exc.strerror)
    return _result(target, "failed", "network", f"{type(exc).__name__}: {exc}".rstrip(": "))


def _tls_error(target: Target, exc: ssl.SSLError) -> ProbeResult:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _result(target, "failed", "tls", f"certificate not accepted: {exc.verify_message or exc.reason}")
    return _result(target, "failed", "tls", f"TLS failed: {exc.reason or exc}")


# --- what the probes of a sweep share ------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _client_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _Context:
    """The thread pool for blocking calls (DNS lookups, requests), its free threads, a DNS cache."""

    def __init__(self, executor: ThreadPoolExecutor, threads: int):
        self.executor = executor
        self.free_threads = asyncio.Semaphore(threads)
        self.dns: dict[str, asyncio.Task] = {}

    async def blocking(self, timeout: float, fn: Callable, *args):
        """fn(*args) in the pool, waiting at most `timeout` from the moment a thread takes it (so that
        a queue in front of the pool never eats a probe's timeout). A thread that outlives the timeout
        keeps its place until it ends. Raises TimeoutError."""
        loop = asyncio.get_running_loop()
        await self.free_threads.acquire()

        def release(_f) -> None:
            try:
                loop.call_soon_threadsafe(self.free_threads.release)
            except RuntimeError:  # the loop is gone: nobody waits for a thread any more
                pass

        try:
            cfuture = self.executor.submit(fn, *args)
        except BaseException:
            self.free_threads.release()
            raise
        cfuture.add_done_callback(release)
        future = asyncio.wrap_future(cfuture)
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            if not future.done():
                future.cancel()

    async def resolve(self, host: str, timeout: float) -> tuple[int, str]:
        """(family, address) of a host: IP literals at once, names once per context (IPv4 preferred)."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), host
        task = self.dns.get(host)
        if task is None:
            task = self.dns[host] = asyncio.ensure_future(self._lookup(host, timeout))
        return await asyncio.shield(task)

    async def _lookup(self, host: str, timeout: float) -> tuple[int, str]:
        try:
            infos = await self.blocking(timeout, socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise _Failed("dns", f"{host} does not resolve ({exc.strerror or exc})") from None
        except TimeoutError:
            raise _Failed("dns", f"no DNS answer for {host} within {_secs(timeout)}") from None
        infos = [i for i in infos if i[0] in (socket.AF_INET, socket.AF_INET6)]
        if not infos:
            raise _Failed("dns", f"{host} has no IP address")
        family, *_, sockaddr = min(infos, key=lambda i: i[0] != socket.AF_INET)
        return family, sockaddr[0]


def _sockaddr(family: int, ip: str, port: int) -> tuple:
    return (ip, port, 0, 0) if family == socket.AF_INET6 else (ip, port)


# --- SIP -----------------------------------------------------------------------------------------

_COMPACT = {"i": "call-id", "v": "via", "l": "content-length"}


def _parse_sip_head(head: bytes) -> tuple[str, int, str, dict[str, str]]:
    """("response", code, reason, headers) | ("request", 0, "", {}) | ("other", 0, "", {});
    headers: the first of each, lower-case names, compact forms expanded."""
    lines = head.decode("utf-8", "replace").splitlines()
    first = lines[0].strip() if lines else ""
    if first.startswith("SIP/2.0 "):
        parts = first.split(" ", 2)
        try:
            code = int(parts[1])
        except ValueError:
            code = 0
        if 100 <= code <= 699:
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    name = name.strip().lower()
                    headers.setdefault(_COMPACT.get(name, name), value.strip())
            return "response", code, parts[2].strip() if len(parts) > 2 else "", headers
    elif first.endswith(" SIP/2.0") and " " in first[:-8]:
        return "request", 0, "", {}
    return "other", 0, "", {}


def _sample(data: bytes) -> str:
    text = data[:40].decode("ascii", "replace")
    return "".join(c if c.isprintable() else "." for c in text) + ("..." if len(data) > 40 else "")


def _options_request(target: Target, transport: str, local: tuple) -> tuple[bytes, str, str]:
    """(an OPTIONS request, its Call-ID, its Via branch) sent from the local (address, port)."""
    token = os.urandom(16).hex()
    branch, tag, call_id = "z9hG4bK" + token[:16], token[16:24], token[8:32]
    lhost = f"[{local[0]}]" if ":" in local[0] else local[0]
    scheme = "sips" if transport == "TLS" else "sip"
    uri = target.url or f"{scheme}:{_hostport(target.host, target.port)}"
    contact_param = "" if transport == "UDP" else f";transport={transport.lower()}"
    return (f"OPTIONS {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {lhost}:{local[1]};rport;branch={branch}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <{scheme}:probe@{lhost}>;tag={tag}\r\n"
            f"To: <{uri}>\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            f"Contact: <{scheme}:probe@{lhost}:{local[1]}{contact_param}>\r\n"
            "Accept: application/sdp\r\n"
            f"User-Agent: {USER_AGENT}\r\n"
            "Content-Length: 0\r\n\r\n").encode(), call_id, branch


def _ours(headers: dict[str, str], call_id: str, branch: str) -> bool:
    return headers.get("call-id") == call_id and branch in headers.get("via", "")


def _sip_final(target: Target, code: int, reason: str, rtt: float, note: str = "") -> ProbeResult:
    detail = f"SIP {code} {reason}".rstrip() + f" in {rtt * 1000:.1f} ms{note}"
    if code >= 500:
        return _result(target, "degraded", "sip_error", detail, code, rtt)
    return _result(target, "connected", "ok", detail, code, rtt)


def _sip_provisional(target: Target, code: int, reason: str, rtt: float, timeout: float) -> ProbeResult:
    detail = f"SIP {code} {reason}".rstrip() + f" in {rtt * 1000:.1f} ms, no final response within {_secs(timeout)}"
    return _result(target, "connected", "ok", detail, code, rtt)


def _not_sip(target: Target, data: bytes, rtt: float | None) -> ProbeResult:
    return _result(target, "failed", "sip_error", f"answered, but not in SIP: '{_sample(data)}'", None, rtt)


class _SipUdp(asyncio.DatagramProtocol):
    """One OPTIONS transaction over a connected UDP socket: retransmissions, matching, timeout."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.done: asyncio.Future = loop.create_future()  # ("final"|"timeout"|"garbage"|"error", ...)
        self.transport = None
        self.payload = b""
        self.call_id = self.branch = ""
        self.sends = 0
        self.sent_at: float | None = None
        self.first_at: float | None = None
        self.provisional: tuple[int, str] | None = None
        self.retry = self.expiry = None

    def start(self, transport, payload: bytes, call_id: str, branch: str, timeout: float) -> None:
        self.transport, self.payload, self.call_id, self.branch = transport, payload, call_id, branch
        self.expiry = self.loop.call_later(timeout, self._finish, ("timeout",))
        self._send(T1)

    def _send(self, interval: float) -> None:
        if self.done.done() or self.provisional:
            return
        if self.sent_at is None:
            self.sent_at = self.loop.time()
        self.sends += 1
        self.transport.sendto(self.payload)  # an OSError comes back through error_received
        if not self.done.done():
            self.retry = self.loop.call_later(interval, self._send, min(interval * 2, T2))

    def datagram_received(self, data: bytes, addr) -> None:
        if self.done.done():
            return
        now = self.loop.time()
        kind, code, reason, headers = _parse_sip_head(data.split(b"\r\n\r\n", 1)[0])
        if kind == "request" or (kind == "response" and not _ours(headers, self.call_id, self.branch)):
            return  # a request of the device's own, or the answer to somebody else's transaction
        if self.first_at is None:
            self.first_at = now
        if kind == "other":
            self._finish(("garbage", data))
        elif code < 200:
            if self.provisional is None:
                self.provisional = (code, reason)
            if self.retry:
                self.retry.cancel()  # a provisional answer stops the retransmissions
        else:
            self._finish(("final", code, reason))

    def error_received(self, exc: Exception) -> None:
        self._finish(("error", exc))

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(("error", exc or ConnectionError("the socket was closed")))

    def _finish(self, outcome: tuple) -> None:
        if not self.done.done():
            self.done.set_result(outcome)
        self.stop()

    def stop(self) -> None:
        for handle in (self.retry, self.expiry):
            if handle:
                handle.cancel()


async def _probe_sip_udp(target: Target, family: int, ip: str, timeout: float) -> ProbeResult:
    loop = asyncio.get_running_loop()
    proto = _SipUdp(loop)
    transport = None
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, remote_addr=_sockaddr(family, ip, target.port), family=family)
        payload, call_id, branch = _options_request(target, "UDP", transport.get_extra_info("sockname"))
        proto.start(transport, payload, call_id, branch, timeout)
        outcome = await proto.done
    finally:
        proto.stop()
        if transport is not None:
            transport.close()
    rtt = None if proto.first_at is None else proto.first_at - proto.sent_at
    sends = "1 send" if proto.sends == 1 else f"{proto.sends} sends"
    if outcome[0] == "final":
        return _sip_final(target, outcome[1], outcome[2], rtt, f" ({sends})" if proto.sends > 1 else "")
    if outcome[0] == "timeout":
        if proto.provisional:
            return _sip_provisional(target, *proto.provisional, rtt, timeout)
        return _result(target, "failed", "timeout", f"no answer within {_secs(timeout)} ({sends})")
    if outcome[0] == "garbage":
        return _not_sip(target, outcome[1], rtt)
    exc = outcome[1]
    if isinstance(exc, ConnectionRefusedError):
        return _result(target, "failed", "refused", "connection refused (ICMP port unreachable)")
    return _os_error(target, exc)


async def _probe_sip_stream(target: Target, family: int, ip: str, timeout: float) -> ProbeResult:
    """OPTIONS over TCP or TLS: connect, send, read responses until a final one, all within `timeout`."""
    loop = asyncio.get_running_loop()
    tls = target.transport == "tls"
    name = "TLS" if tls else "TCP"
    writer = None
    phase = "connect"
    buf = b""
    sent_at = first_at = None
    provisional: tuple[int, str] | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                ip, target.port, family=family, ssl=_client_ssl_context() if tls else None,
                server_hostname=target.host if tls else None)
            phase = "answer"
            payload, call_id, branch = _options_request(target, name, writer.get_extra_info("sockname"))
            sent_at = loop.time()
            writer.write(payload)
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    if buf.strip():
                        return _not_sip(target, buf, first_at - sent_at)
                    if provisional:
                        return _sip_provisional(target, *provisional, first_at - sent_at, timeout)
                    return _result(target, "failed", "sip_error", "the connection was closed without a SIP answer")
                if first_at is None:
                    first_at = loop.time()
                buf += chunk
                while True:  # every complete message in the buffer
                    buf = buf.lstrip(b"\r\n")  # keep-alive CRLFs
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        line_end = buf.find(b"\n")
                        if len(buf) > _MAX_HEAD or (line_end >= 0 and _parse_sip_head(buf[:line_end])[0] == "other"):
                            return _not_sip(target, buf, first_at - sent_at)
                        break
                    kind, code, reason, headers = _parse_sip_head(buf[:end])
                    if kind == "other":
                        return _not_sip(target, buf, first_at - sent_at)
                    try:
                        length = int(headers.get("content-length", "0") or 0) if kind == "response" else 0
                    except ValueError:
                        length = 0
                    if len(buf) < end + 4 + length:
                        break  # the body is still on its way
                    buf = buf[end + 4 + length:]
                    if kind != "response" or not _ours(headers, call_id, branch):
                        continue
                    if code < 200:
                        provisional = provisional or (code, reason)
                        continue
                    return _sip_final(target, code, reason, first_at - sent_at)
    except TimeoutError:
        if phase == "connect":
            return _result(target, "failed", "timeout", f"no {name} connection within {_secs(timeout)}")
        if provisional:
            return _sip_provisional(target, *provisional, first_at - sent_at, timeout)
        if buf.strip():
            return _not_sip(target, buf, first_at - sent_at)
        return _result(target, "failed", "timeout", f"connected, but no SIP answer within {_secs(timeout)}")
    except ssl.SSLError as exc:
        return _tls_error(target, exc)
    except OSError as exc:
        if phase == "answer" and isinstance(exc, ConnectionResetError):
            return _result(target, "failed", "sip_error", "the connection was reset without a SIP answer")
        return _os_error(target, exc)
    finally:
        if writer is not None:
            writer.transport.abort()  # at once: no lingering TLS shutdown, no socket left behind


# --- H.323 ---------------------------------------------------------------------------------------

async def _probe_tcp_connect(target: Target, family: int, ip: str, timeout: float) -> ProbeResult:
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        started = loop.time()
        try:
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, _sockaddr(family, ip, target.port))
        except TimeoutError:
            return _result(target, "failed", "timeout", f"no TCP connection within {_secs(timeout)}")
        except OSError as exc:
            return _os_error(target, exc)
        rtt = loop.time() - started
        return _result(target, "connected", "ok", f"TCP connect in {rtt * 1000:.1f} ms", None, rtt)
    finally:
        sock.close()


# --- HTTP ----------------------------------------------------------------------------------------

def _http_get(url: str, timeout: float) -> tuple:
    """In a pool thread: ("response", code, reason, seconds, redirects) or ("error", exception)."""
    started = time.perf_counter()
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=True, stream=True,
                                headers={"User-Agent": USER_AGENT})
    except requests.RequestException as exc:
        return "error", exc
    try:
        return "response", response.status_code, response.reason or "", time.perf_counter() - started, \
            len(response.history)
    finally:
        response.close()  # without reading the body


def _causes(exc: BaseException):
    """The exception and what it wraps (causes, contexts, urllib3 reasons, exceptions in args)."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]


def _http_error(target: Target, exc: requests.RequestException, timeout: float) -> ProbeResult:
    causes = list(_causes(exc))
    if isinstance(exc, requests.exceptions.SSLError) or any(isinstance(c, ssl.SSLError) for c in causes):
        tls = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
        if tls is not None:
            return _tls_error(target, tls)
        return _result(target, "failed", "tls", f"TLS failed: {exc}")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return _result(target, "failed", "timeout", f"no TCP connection within {_secs(timeout)}")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return _result(target, "failed", "timeout", f"connected, but no HTTP answer within {_secs(timeout)}")
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return _result(target, "failed", "http_error", "too many redirects")
    if any(isinstance(c, socket.gaierror) or type(c).__name__ == "NameResolutionError" for c in causes):
        return _result(target, "failed", "dns", "a host name in the redirects does not resolve")
    if any(isinstance(c, ConnectionRefusedError) or getattr(c, "errno", None) == errno.ECONNREFUSED
           for c in causes):
        return _result(target, "failed", "refused", "connection refused")
    if any(isinstance(c, TimeoutError) for c in causes):
        return _result(target, "failed", "timeout", f"no HTTP answer within {_secs(timeout)}")
    if isinstance(exc, requests.exceptions.ConnectionError) and any(
            type(c).__name__ in ("ProtocolError", "RemoteDisconnected", "BadStatusLine") for c in causes):
        return _result(target, "failed", "http_error", "answered, but not in HTTP (connection closed)")
    oserror = next((c for c in causes if isinstance(c, OSError) and c.strerror), None)
    if oserror is not None:
        return _os_error(target, oserror)
    return _result(target, "failed", "network", f"{type(exc).__name__}: {exc}")


async def _probe_http(target: Target, ctx: _Context, timeout: float) -> ProbeResult:
    try:
        # A little longer than requests' own connect/read timeouts, whose verdict is more precise.
        outcome = await ctx.blocking(timeout + 0.25, _http_get, target.url, timeout)
    except TimeoutError:
        return _result(target, "failed", "timeout", f"no HTTP answer within {_secs(timeout)}")
    if outcome[0] == "error":
        return _http_error(target, outcome[1], timeout)
    _, code, reason, rtt, redirects = outcome
    detail = f"HTTP {code} {reason}".rstrip() + f" in {rtt * 1000:.1f} ms"
    if redirects:
        detail += f" after {redirects} redirect{'s' if redirects > 1 else ''}"
    if code < 400:
        return _result(target, "connected", "ok", detail, code, rtt)
    return _result(target, "failed", "http_error", detail, code, rtt)


# --- probe and sweep -----------------------------------------------------------------------------

async def _probe(target: Target, timeout: float, ctx: _Context) -> ProbeResult:
    try:
        if target.kind == "none":
            return _result(target, "unknown", "unsupported", f"nothing to probe: {target.label}" if target.label
                           else "nothing to probe")
        if target.kind not in KINDS or (target.kind == "sip" and target.transport not in ("udp", "tcp", "tls")):
            return _result(target, "unknown", "unsupported", f"cannot probe kind {target.kind!r} {target.transport!r}")
        try:
            family, ip = await ctx.resolve(target.host, timeout)
        except _Failed as exc:
            return _result(target, "failed", exc.layer, exc.detail)
        if target.kind == "sip":
            if target.transport == "udp":
                return await _probe_sip_udp(target, family, ip, timeout)
            return await _probe_sip_stream(target, family, ip, timeout)
        if target.kind == "h323":
            return await _probe_tcp_connect(target, family, ip, timeout)
        return await _probe_http(target, ctx, timeout)
    except Exception as exc:  # never raise: the dashboard shows it
        if isinstance(exc, ssl.SSLError):
            return _tls_error(target, exc)
        if isinstance(exc, OSError):
            return _os_error(target, exc)
        return _result(target, "failed", "network", f"{type(exc).__name__}: {exc}".rstrip(": "))


async def probe(target: Target, timeout: float) -> ProbeResult:
    """Probe one target within `timeout` seconds (plus the DNS lookup of a host name, itself at most
    `timeout`). Never raises, but for cancellation."""
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="probe")
    try:
        return await _probe(target, timeout, _Context(executor, 4))
    finally:
        executor.shutdown(wait=False)


async def sweep_async(targets: Iterable[Target], *, concurrency: int = 500, timeout: float = 2.0,
                      progress: Callable[[ProbeResult], None] | None = None) -> list[ProbeResult]:
    """`sweep` for a caller that already runs an event loop."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    targets = list(targets)
    results: list[ProbeResult | None] = [None] * len(targets)
    threads = min(concurrency, MAX_HTTP_THREADS)
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="probe")
    ctx = _Context(executor, threads)
    queue = iter(enumerate(targets))

    async def worker() -> None:  # `concurrency` workers take the targets in order: that many in flight
        for index, target in queue:
            result = await _probe(target, timeout, ctx)
            results[index] = result
            if progress is not None:
                progress(result)

    tasks = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(targets)))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    return results  # type: ignore[return-value]


def sweep(targets: Iterable[Target], *, concurrency: int = 500, timeout: float = 2.0,
          progress: Callable[[ProbeResult], None] | None = None) -> list[ProbeResult]:
    """Probe every target, at most `concurrency` at a time, each within `timeout` seconds; the results
    in input order. `progress(result)` is called once per finished probe, in the calling thread.

    Runs its own event loop (asyncio.run): call it from plain code, a CLI or a worker thread, not from
    inside a running event loop (await `sweep_async` there). An exception raised by `progress` stops
    the sweep and propagates."""
    return asyncio.run(sweep_async(targets, concurrency=concurrency, timeout=timeout, progress=progress))
