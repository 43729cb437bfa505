"""SIP OPTIONS probes over UDP (RFC 3261 Timer A retransmissions), TCP and TLS.

Any SIP response means a live SIP stack: 2xx-4xx "connected", 5xx/6xx "degraded" (layer
"sip_error"); 1xx are skipped while waiting for the final response, and count as reachable if the
timeout ends after one. An answer that is not SIP is layer "sip_error" with a sample of it.
`sip_target` reads a SIP address (URI or bare host, its transport) into the Target probed.
"""
from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Hashable

from coordinator.probes.base import (USER_AGENT, ProbeResult, Target, _client_ssl_context, _hostport, _os_error,
                                     _result, _secs, _sockaddr, _tls_error, nothing_to_probe, split_hostport)

SIP_PORT = 5060
SIPS_PORT = 5061
T1 = 0.5  # RFC 3261 round-trip estimate: first retransmission of a request over UDP
T2 = 4.0  # RFC 3261 cap of the retransmission interval of a non-INVITE request
_MAX_HEAD = 65536  # bytes of a SIP message head over TCP before we call the answer "not SIP"


def sip_target(key: Hashable, dial: str, sip_transport: str) -> Target:
    """The target of a SIP address: "sip:" / "sips:" URI or bare host; ";transport=" and "sips:"
    win over `sip_transport`."""
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
        return nothing_to_probe(key, f"SIP/{transport.upper()} {hostport}")
    try:
        host, port = split_hostport(hostport, SIPS_PORT if transport == "tls" else SIP_PORT)
    except ValueError:
        return nothing_to_probe(key, f"not a SIP address: {dial}")
    return Target(key, "sip", host, port, transport, f"{scheme}:{body}", f"SIP/{transport.upper()} {_hostport(host, port)}")


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


async def probe_sip_udp(target: Target, family: int, ip: str, timeout: float) -> ProbeResult:
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


async def probe_sip_stream(target: Target, family: int, ip: str, timeout: float) -> ProbeResult:
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

