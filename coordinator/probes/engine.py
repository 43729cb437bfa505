"""The probe engine: is an endpoint reachable, and if not, which layer failed?

Pure networking, no database and no Flask: `target_for` turns an endpoint's protocol and dial string
into a `Target`; `probe` checks one target through real sockets; `sweep` checks many with bounded
concurrency in its own event loop and reports progress.

    SIP     OPTIONS over UDP (Timer A retransmissions: 0, 0.5, 1.5, 3.5 s ... within the timeout),
            TCP or TLS. Any SIP response means a live SIP stack: 2xx-4xx "connected",
            5xx/6xx "degraded" (layer "sip_error"); 1xx are skipped while waiting for the final
            response, and count as reachable if the timeout ends after one.            (sip.py)
    H.323   a TCP connect to the port (1720 unless given), closed at once.
    web     an HTTP(S) GET over asyncio streams (redirects followed, at most 30; the body not
            read): 2xx/3xx "connected", 4xx/5xx "failed" (layer "http_error").        (web.py)

Every probe runs in the event loop, whatever its protocol: `concurrency` is the only bound on the
probes in flight, and a probe that waits (a silent port, a web room that never answers) costs a
socket, not a thread.

Host names are resolved first (once per sweep and name, dns.py), so that a name that does not resolve
is reported as layer "dns"; the lookup has its own `timeout`, then the probe has the whole `timeout`.
`probe` never raises (but for cancellation): an unexpected error is state "failed", layer "network".
"""
from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Callable, Hashable, Iterable
from urllib.parse import urlsplit

from coordinator.probes.base import (KINDS, LAYERS, STATES, USER_AGENT, ProbeResult, Target, _Failed, _hostport,
                                     _is_ip, _os_error, _result, _secs, _sockaddr, _tls_error)
from coordinator.probes.dns import MAX_DNS_THREADS, Resolver
from coordinator.probes.sip import T1, T2, probe_sip_stream, probe_sip_udp
from coordinator.probes.web import MAX_REDIRECTS, probe_web

__all__ = ["KINDS", "STATES", "LAYERS", "SIP_PORT", "SIPS_PORT", "H323_PORT", "T1", "T2", "USER_AGENT",
           "MAX_DNS_THREADS", "MAX_REDIRECTS", "Target", "ProbeResult", "target_for", "probe", "sweep",
           "sweep_async"]

SIP_PORT = 5060
SIPS_PORT = 5061
H323_PORT = 1720


# --- parsing dial strings ------------------------------------------------------------------------

_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$")
_ALIAS = re.compile(r"^\+?\d{2,20}$")


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


# --- what the probes of a sweep share ------------------------------------------------------------

class _Context:
    """What the probes of one sweep share: its DNS cache (and the lookups' threads)."""

    def __init__(self, concurrency: int):
        self.dns = Resolver(min(concurrency, MAX_DNS_THREADS))

    def close(self) -> None:
        self.dns.close()


# --- probe and sweep -----------------------------------------------------------------------------

async def _probe(target: Target, timeout: float, ctx: _Context) -> ProbeResult:
    try:
        if target.kind == "none":
            return _result(target, "unknown", "unsupported", f"nothing to probe: {target.label}" if target.label
                           else "nothing to probe")
        if target.kind not in KINDS or (target.kind == "sip" and target.transport not in ("udp", "tcp", "tls")):
            return _result(target, "unknown", "unsupported", f"cannot probe kind {target.kind!r} {target.transport!r}")
        try:
            family, ip = await ctx.dns.resolve(target.host, timeout)
        except _Failed as exc:
            return _result(target, "failed", exc.layer, exc.detail)
        if target.kind == "sip":
            if target.transport == "udp":
                return await probe_sip_udp(target, family, ip, timeout)
            return await probe_sip_stream(target, family, ip, timeout)
        if target.kind == "h323":
            return await _probe_tcp_connect(target, family, ip, timeout)
        return await probe_web(target, ctx.dns, timeout)
    except Exception as exc:  # never raise: the dashboard shows it
        if isinstance(exc, ssl.SSLError):
            return _tls_error(target, exc)
        if isinstance(exc, OSError):
            return _os_error(target, exc)
        return _result(target, "failed", "network", f"{type(exc).__name__}: {exc}".rstrip(": "))


async def probe(target: Target, timeout: float) -> ProbeResult:
    """Probe one target within `timeout` seconds (plus the DNS lookup of a host name, itself at most
    `timeout`). Never raises, but for cancellation."""
    ctx = _Context(4)
    try:
        return await _probe(target, timeout, ctx)
    finally:
        ctx.close()


async def sweep_async(targets: Iterable[Target], *, concurrency: int = 500, timeout: float = 2.0,
                      progress: Callable[[ProbeResult], None] | None = None) -> list[ProbeResult]:
    """`sweep` for a caller that already runs an event loop."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    targets = list(targets)
    results: list[ProbeResult | None] = [None] * len(targets)
    ctx = _Context(concurrency)
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
        ctx.close()
    return results  # type: ignore[return-value]


def sweep(targets: Iterable[Target], *, concurrency: int = 500, timeout: float = 2.0,
          progress: Callable[[ProbeResult], None] | None = None) -> list[ProbeResult]:
    """Probe every target, at most `concurrency` at a time, each within `timeout` seconds; the results
    in input order. `progress(result)` is called once per finished probe, in the calling thread.

    Runs its own event loop (asyncio.run): call it from plain code, a CLI or a worker thread, not from
    inside a running event loop (await `sweep_async` there). An exception raised by `progress` stops
    the sweep and propagates."""
    return asyncio.run(sweep_async(targets, concurrency=concurrency, timeout=timeout, progress=progress))
