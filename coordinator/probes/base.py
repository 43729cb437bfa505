"""What every probe shares: the targets and results, their vocabulary, and the wording of failures.

A module of its own so that the protocol probes (sip.py, h323.py, web.py) and the engine that
dispatches to them can all use it without importing one another; `coordinator.probes.engine`
re-exports the public names (`Target`, `ProbeResult`, the vocabularies).
"""
from __future__ import annotations

import errno
import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Hashable
from dataclasses import dataclass

KINDS = ("sip", "h323", "http", "none")
STATES = ("connected", "degraded", "failed", "unknown")

USER_AGENT = "coordinator-probe/1.0"


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


def nothing_to_probe(key: Hashable, label: str) -> Target:
    """A Target of kind "none": what cannot be probed, and why (`label`)."""
    return Target(key, "none", label=label)


@dataclass(frozen=True)
class ProbeResult:
    key: Hashable
    state: str  # "connected" | "degraded" | "failed" | "unknown"
    layer: str  # "ok" | "dns" | "timeout" | "refused" | "sip_error" | "http_error" | "tls" | "network" | "unsupported"
    code: int | None  # SIP or HTTP status code
    rtt_ms: float | None
    detail: str
    target: str  # the Target's label


# --- addresses -----------------------------------------------------------------------------------

def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _sockaddr(family: int, ip: str, port: int) -> tuple:
    return (ip, port, 0, 0) if family == socket.AF_INET6 else (ip, port)


_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$")


def split_hostport(text: str, default_port: int) -> tuple[str, int]:
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


@functools.lru_cache(maxsize=1)
def _client_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()
