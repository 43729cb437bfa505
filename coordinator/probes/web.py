"""Web-room probes: an HTTP(S) GET over asyncio streams, in the sweep's event loop, so that a silent
web room holds one of the sweep's `concurrency` slots and nothing else: no thread waits on it.

    GET with User-Agent coordinator-probe/1.0, certificates checked against the system's CA store;
    redirects followed (at most 30, then "too many redirects"), with the cookies they set; the head
    of each answer read, never its body, and the connection aborted at once.
    2xx/3xx "connected", 4xx/5xx "failed" (layer "http_error").

Written by hand, not with an HTTP client library, because a probe needs the head and nothing else,
and what aiohttp 3.14 adds gets in the way of reporting as `requests` did before:
  - aiohttp parses what follows the head in the same read, and loses the head if those bytes are not
    a valid next message (a body after a 204, more body than Content-Length): requests, which stops
    at the head, said "connected";
  - it does the TCP connect and the TLS handshake in one step, and the timeout wording tells them
    apart ("no TCP connection" / "connected, but no HTTP answer");
  - it closes TLS connections politely, waiting for the server's close_notify.
The head is parsed as leniently as http.client (behind requests) does, and fails the same ways.
`web_target` reads a web room's link into the Target probed.
"""
from __future__ import annotations

import asyncio
import email.message
import ssl
import time
import urllib.request
from collections.abc import Hashable
from http.cookiejar import CookieJar
from urllib.parse import SplitResult, quote, urljoin, urlsplit

from coordinator.probes.base import (USER_AGENT, ProbeResult, Target, _client_ssl_context, _Failed, _hostport,
                                     _os_error, _result, _secs, _tls_error, nothing_to_probe)
from coordinator.probes.dns import Resolver

MAX_REDIRECTS = 30  # requests' limit, which the probes had before
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_LINE = 65536  # http.client's limits on a line of the head, and on its header lines
_MAX_HEADERS = 100
_SAFE = "!#$%&'()*+,/:;=?@[]~"  # what requests leaves unquoted in a URL


def web_target(key: Hashable, dial: str) -> Target:
    """The target of a web room's link (http or https)."""
    parts = urlsplit(dial)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return nothing_to_probe(key, f"not a web link: {dial}")
    if scheme not in ("http", "https") or not host:
        return nothing_to_probe(key, f"not a web link: {dial}")
    default = 443 if scheme == "https" else 80
    shown = host if port in (None, default) else _hostport(host, port)
    return Target(key, "http", host, port or default, "", dial, f"{scheme.upper()} {shown}")


class _NotHttp(Exception):
    pass


class _TooManyRedirects(Exception):
    pass


class _BadRedirect(Exception):
    pass


class _Progress:
    """Where a probe stands, for the verdict on a timeout: "lookup", "connect", "tls" or "answer"."""
    phase = "lookup"


async def probe_web(target: Target, dns: Resolver, timeout: float) -> ProbeResult:
    """GET target.url within `timeout` (redirects and their host lookups included). Never raises, but
    for cancellation."""
    progress = _Progress()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            code, reason, redirects = await _get(target.url, dns, timeout, progress)
    except TimeoutError:  # ours, or the kernel's on a connect (ETIMEDOUT): a timeout either way
        if progress.phase == "connect":
            return _result(target, "failed", "timeout", f"no TCP connection within {_secs(timeout)}")
        if progress.phase in ("tls", "answer"):
            return _result(target, "failed", "timeout", f"connected, but no HTTP answer within {_secs(timeout)}")
        return _result(target, "failed", "timeout", f"no HTTP answer within {_secs(timeout)}")
    except _Failed:  # the first host was resolved before the probe: this one came in a redirect
        return _result(target, "failed", "dns", "a host name in the redirects does not resolve")
    except _NotHttp:
        return _result(target, "failed", "http_error", "answered, but not in HTTP (connection closed)")
    except _TooManyRedirects:
        return _result(target, "failed", "http_error", "too many redirects")
    except _BadRedirect as exc:
        return _result(target, "failed", "http_error", f"redirected to {exc}, not a web link")
    except ssl.SSLError as exc:
        return _tls_error(target, exc)
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
        if progress.phase == "tls":
            return _result(target, "failed", "tls", "TLS failed: the connection was closed during the handshake")
        if progress.phase == "answer":
            return _result(target, "failed", "http_error", "answered, but not in HTTP (connection closed)")
        return _os_error(target, exc)
    except OSError as exc:
        return _os_error(target, exc)
    rtt = time.perf_counter() - started
    detail = f"HTTP {code} {reason}".rstrip() + f" in {rtt * 1000:.1f} ms"
    if redirects:
        detail += f" after {redirects} redirect{'s' if redirects > 1 else ''}"
    if code < 400:
        return _result(target, "connected", "ok", detail, code, rtt)
    return _result(target, "failed", "http_error", detail, code, rtt)


async def _get(url: str, dns: Resolver, timeout: float, progress: _Progress) -> tuple[int, str, int]:
    """(status, reason, redirects followed) of the last answer to a GET of url."""
    jar: CookieJar | None = None
    for redirects in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        tls = parts.scheme.lower() == "https"
        host, port = parts.hostname or "", parts.port or (443 if tls else 80)
        progress.phase = "lookup"
        addresses = await dns.addresses(host, timeout)
        cookie = None
        if jar is not None:
            request = urllib.request.Request(url)
            jar.add_cookie_header(request)
            cookie = request.get_header("Cookie")
        head = _request_head(parts, host, port, tls, cookie)
        code, reason, headers = await _exchange(addresses, port, host if tls else None, head, progress)
        location = next((v for n, v in headers if n == "location"), "") if code in _REDIRECTS else ""
        if not location:
            return code, reason, redirects
        if redirects == MAX_REDIRECTS:
            raise _TooManyRedirects()
        if any(n == "set-cookie" for n, _ in headers):
            jar = jar or CookieJar()
            jar.extract_cookies(_Response(headers), urllib.request.Request(url))
        url = _redirect_url(url, location)
    raise AssertionError("unreachable")


def _request_head(parts: SplitResult, host: str, port: int, tls: bool, cookie: str | None) -> bytes:
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    name = f"[{host}]" if ":" in host else host if host.isascii() else host.encode("idna").decode("ascii")
    if port != (443 if tls else 80):
        name += f":{port}"
    lines = [f"GET {quote(path, safe=_SAFE)} HTTP/1.1", f"Host: {name}", f"User-Agent: {USER_AGENT}",
             "Accept-Encoding: gzip, deflate", "Accept: */*", "Connection: close"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def _redirect_url(url: str, location: str) -> str:
    try:
        location = location.encode("latin-1").decode("utf-8")  # as requests reads a UTF-8 Location
    except UnicodeError:
        pass
    target = urljoin(url, location.strip())
    try:
        parts = urlsplit(target)
        _ = parts.port  # a port that is not a number (or out of range) raises ValueError only here
    except ValueError:
        raise _BadRedirect(repr(location)) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _BadRedirect(repr(location))
    return target


async def _exchange(addresses: list[tuple[int, str]], port: int, tls_name: str | None, head: bytes,
                    progress: _Progress) -> tuple[int, str, list[tuple[str, str]]]:
    writer = None
    try:
        progress.phase = "connect"
        reader, writer = await _connect(addresses, port)
        if tls_name is not None:
            progress.phase = "tls"
            await writer.start_tls(_client_ssl_context(), server_hostname=tls_name)
        progress.phase = "answer"
        writer.write(head)
        return await _read_head(reader)
    finally:
        if writer is not None:
            writer.transport.abort()  # the head is all we wanted: no body, no lingering TLS goodbye


async def _connect(addresses: list[tuple[int, str]], port: int):
    """A connection to the first address that takes one (as requests tried them, in turn)."""
    error: OSError | None = None
    for family, ip in addresses:
        try:
            return await asyncio.open_connection(ip, port, family=family, limit=_MAX_LINE + 1)
        except OSError as exc:
            error = exc
    raise error or OSError("no address to connect to")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, list[tuple[str, str]]]:
    """(status, reason, [(lower-case name, value)]) of the first final response; raises _NotHttp
    where http.client raises (no status line, not HTTP, a line too long, too many headers)."""
    while True:
        status, reason = _status_line(await _line(reader))
        headers: list[tuple[str, str]] = []
        while True:
            line = await _line(reader)
            if line in (b"\r\n", b"\n", b""):  # the end of the head; a head cut short ends it too
                break
            if len(headers) >= _MAX_HEADERS:
                raise _NotHttp("too many headers")
            text = line.decode("iso-8859-1").rstrip("\r\n")
            if text[:1] in (" ", "\t") and headers:  # a folded header line
                headers[-1] = (headers[-1][0], f"{headers[-1][1]} {text.strip()}")
                continue
            name, sep, value = text.partition(":")
            if sep:
                headers.append((name.strip().lower(), value.strip()))
        if status != 100:  # like http.client, only "100 Continue" is skipped
            return status, reason, headers


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        line = await reader.readline()
    except ValueError:  # longer than the reader's limit
        raise _NotHttp("line too long") from None
    if len(line) > _MAX_LINE:
        raise _NotHttp("line too long")
    return line


def _status_line(line: bytes) -> tuple[int, str]:
    if not line:
        raise _NotHttp("closed without an answer")
    words = line.decode("iso-8859-1").split(None, 2)
    if len(words) < 2 or not words[0].startswith("HTTP/"):
        raise _NotHttp("not a status line")
    try:
        status = int(words[1])
    except ValueError:
        raise _NotHttp("not a status line") from None
    if not 100 <= status <= 999:
        raise _NotHttp("not a status line")
    return status, words[2].strip() if len(words) > 2 else ""


class _Response:
    """What http.cookiejar reads of a response: its headers."""

    def __init__(self, headers: list[tuple[str, str]]):
        self._message = email.message.Message()
        for name, value in headers:
            self._message[name] = value  # appends: every Set-Cookie is kept

    def info(self) -> email.message.Message:
        return self._message
