"""H.323 probes: a TCP connect to the gatekeeper or endpoint's call-signalling port (1720 unless
given), closed at once; "connected" with the connect time. `h323_target` reads an H.323 address
("h323:" or not, "alias@host", host or host:port; an alias without a host cannot be probed).
"""
from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Hashable

from coordinator.probes.base import (ProbeResult, Target, _hostport, _os_error, _result, _secs, _sockaddr,
                                     nothing_to_probe, split_hostport)

H323_PORT = 1720

_ALIAS = re.compile(r"^\+?\d{2,20}$")


def h323_target(key: Hashable, dial: str) -> Target:
    """The target of an H.323 address."""
    body = dial[5:] if dial.lower().startswith("h323:") else dial
    address = body.rpartition("@")[2].split(";")[0].strip()
    if _ALIAS.match(address):
        return nothing_to_probe(key, f"H.323 alias {dial} without a host")
    try:
        host, port = split_hostport(address, H323_PORT)
    except ValueError:
        return nothing_to_probe(key, f"not an H.323 address: {dial}")
    return Target(key, "h323", host, port, "tcp", "", f"H.323 {_hostport(host, port)}")


async def probe_h323(target: Target, family: int, ip: str, timeout: float) -> ProbeResult:
    """A TCP connect to the target within `timeout`."""
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
