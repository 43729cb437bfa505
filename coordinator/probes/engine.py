"""The probe engine: is an endpoint reachable, and if not, which layer failed?

Pure networking, no database and no Flask: `target_for` turns an endpoint's protocol and dial string
into a `Target` (each protocol's module reads its own addresses); `probe` checks one target through real sockets; `sweep` checks many with bounded
concurrency in its own event loop and reports progress.

    SIP     OPTIONS over UDP (Timer A retransmissions: 0, 0.5, 1.5, 3.5 s ... within the timeout),
            TCP or TLS. Any SIP response means a live SIP stack: 2xx-4xx "connected",
            5xx/6xx "degraded" (layer "sip_error"); 1xx are skipped while waiting for the final
            response, and count as reachable if the timeout ends after one.            (sip.py)
    H.323   a TCP connect to the port (1720 unless given), closed at once.                (h323.py)
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
import ssl
from collections.abc import Callable, Hashable, Iterable

from coordinator.probes.base import (KINDS, STATES, USER_AGENT, ProbeResult, Target, _Failed, _os_error,
                                     _result, _tls_error, nothing_to_probe)
from coordinator.probes.dns import MAX_DNS_THREADS, Resolver
from coordinator.probes.h323 import H323_PORT, h323_target, probe_h323
from coordinator.probes.sip import SIP_PORT, SIPS_PORT, T1, T2, probe_sip_stream, probe_sip_udp, sip_target
from coordinator.probes.web import MAX_REDIRECTS, probe_web, web_target

__all__ = ["KINDS", "STATES", "SIP_PORT", "SIPS_PORT", "H323_PORT", "T1", "T2", "USER_AGENT",
           "MAX_DNS_THREADS", "MAX_REDIRECTS", "Target", "ProbeResult", "target_for", "probe", "sweep",
           "sweep_async"]


# --- targets -------------------------------------------------------------------------------------

def target_for(key: Hashable, protocol: str, dial: str, *, sip_transport: str = "udp") -> Target:
    """The probe of an endpoint, from its protocol ("sip", "h323", "webrtc", "other") and dial string.

    Never raises: what cannot be probed (no dial, protocol "other", an H.323 alias without a host, an
    unparseable address) is a Target of kind "none" whose label says why. `sip_transport` is the SIP
    transport when the address names none (";transport=" and "sips:" win)."""
    protocol = (protocol or "").strip().lower()
    dial = (dial or "").strip()
    if not dial:
        return nothing_to_probe(key, "no dial address")
    if protocol == "sip":
        return sip_target(key, dial, sip_transport)
    if protocol == "h323":
        return h323_target(key, dial)
    if protocol == "webrtc":
        return web_target(key, dial)
    return nothing_to_probe(key, f"protocol {protocol or 'other'}")


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
            return await probe_h323(target, family, ip, timeout)
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
