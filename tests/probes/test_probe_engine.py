"""The probe engine through real sockets on 127.0.0.1 (responders in probe_responders.py): which
layer answers or fails, for SIP over UDP/TCP/TLS, H.323 and HTTP; dial parsing; and a sweep's order,
progress and bound on probes in flight. Durations are only bounded loosely, to catch hangs."""
from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from coordinator.probes.base import ProbeResult, Target
from coordinator.probes.engine import probe, sweep, target_for
from fakes.probe_responders import (BlackholeTcpPort, HttpServer, SilentUdpPort, SipTcpResponder, SipUdpFarm,
                              SipUdpResponder, TcpListener, closed_port)

USER_AGENT = "coordinator-probe/1.0"

T = 0.3  # a short probe timeout


def run(target: Target, timeout: float = T) -> ProbeResult:
    return asyncio.run(probe(target, timeout))


def sip(port: int, *, transport: str = "", scheme: str = "sip", user: str = "room") -> Target:
    param = f";transport={transport}" if transport else ""
    return target_for("ep", "sip", f"{scheme}:{user}@127.0.0.1:{port}{param}")


# --- SIP over UDP ----------------------------------------------------------------------------------

def test_sip_udp_200_is_connected_with_code_and_rtt():
    with SipUdpResponder(200) as responder:
        result = run(sip(responder.port))
    assert (result.state, result.layer, result.code) == ("connected", "ok", 200)
    assert result.key == "ep" and result.target == f"SIP/UDP 127.0.0.1:{responder.port}"
    assert result.rtt_ms is not None and 0 < result.rtt_ms < T * 1000
    assert result.detail.startswith("SIP 200 OK in ") and result.detail.endswith(" ms")
    assert responder.options == 1


def test_the_options_request_is_well_formed():
    with SipUdpResponder(200) as responder:
        run(sip(responder.port, user="diemcau-56"))
        raw = responder.last_request
    assert raw.endswith(b"\r\n\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.decode().split("\r\n")
    assert lines[0] == f"OPTIONS sip:diemcau-56@127.0.0.1:{responder.port} SIP/2.0"
    headers = {}
    for line in lines[1:-2]:
        name, _, value = line.partition(": ")
        headers[name] = value
    assert headers["Via"].startswith("SIP/2.0/UDP 127.0.0.1:") and ";branch=z9hG4bK" in headers["Via"]
    via_port = int(headers["Via"].split(":")[1].split(";")[0])
    assert via_port > 0
    assert headers["Max-Forwards"] == "70"
    assert headers["From"].startswith("<sip:") and ";tag=" in headers["From"]
    assert headers["To"] == f"<sip:diemcau-56@127.0.0.1:{responder.port}>"
    assert headers["Call-ID"] and headers["CSeq"] == "1 OPTIONS"
    assert headers["Contact"] == f"<sip:probe@127.0.0.1:{via_port}>"
    assert headers["Accept"] == "application/sdp" and headers["User-Agent"]
    assert headers["Content-Length"] == "0"


def test_sip_udp_503_is_degraded():
    with SipUdpResponder(503) as responder:
        result = run(sip(responder.port))
    assert (result.state, result.layer, result.code) == ("degraded", "sip_error", 503)
    assert result.detail.startswith("SIP 503 Service Unavailable")


@pytest.mark.parametrize("status", [404, 405, 481])
def test_a_sip_client_error_still_means_a_live_sip_stack(status):
    with SipUdpResponder(status) as responder:
        result = run(sip(responder.port))
    assert (result.state, result.layer, result.code) == ("connected", "ok", status)


def test_provisional_responses_are_skipped_for_the_final_one():
    with SipUdpResponder(200, provisional=True, delay=0.1) as responder:
        result = run(sip(responder.port), timeout=2.0)
    assert (result.state, result.code) == ("connected", 200)
    assert result.rtt_ms < 100  # the time to the first response: the "100 Trying"


def test_a_provisional_response_alone_counts_as_reachable():
    with SipUdpResponder(100) as responder:  # answers "100 Trying" and nothing more
        result = run(sip(responder.port))
    assert (result.state, result.layer, result.code) == ("connected", "ok", 100)
    assert "no final response within 0.3 s" in result.detail
    assert responder.requests == 1  # a provisional answer stops the retransmissions


def test_a_silent_udp_port_times_out_after_retransmitting():
    with SilentUdpPort() as port:
        started = time.monotonic()
        result = run(sip(port.port), timeout=0.7)
        elapsed = time.monotonic() - started
        requests = port.requests
    assert (result.state, result.layer, result.code, result.rtt_ms) == ("failed", "timeout", None, None)
    assert result.detail == "no answer within 0.7 s (2 sends)"
    assert requests == 2  # at 0 and 0.5 s (RFC 3261 Timer A), none after the timeout
    assert 0.6 < elapsed < 5


def test_a_closed_udp_port_is_refused():
    result = run(sip(closed_port("udp")))
    assert (result.state, result.layer) == ("failed", "refused")
    assert "refused" in result.detail


def test_an_answer_that_is_not_sip_is_a_sip_error():
    with SipUdpResponder(raw_reply=b"HTTP/1.1 400 Bad Request\r\n\r\n") as responder:
        result = run(sip(responder.port))
    assert (result.state, result.layer, result.code) == ("failed", "sip_error", None)
    assert "not in SIP" in result.detail and "HTTP/1.1 400" in result.detail


# --- SIP over TCP and TLS --------------------------------------------------------------------------

def test_sip_over_tcp():
    with SipTcpResponder(200) as responder:
        result = run(sip(responder.port, transport="tcp"))
        assert responder.last_request.startswith(b"OPTIONS ")
        assert b"Via: SIP/2.0/TCP 127.0.0.1:" in responder.last_request
    assert (result.state, result.layer, result.code) == ("connected", "ok", 200)
    assert result.target == f"SIP/TCP 127.0.0.1:{responder.port}"
    assert result.rtt_ms is not None


def test_sip_over_tcp_skips_provisional_and_reports_5xx():
    with SipTcpResponder(503, provisional=True) as responder:
        result = run(sip(responder.port, transport="tcp"))
    assert (result.state, result.layer, result.code) == ("degraded", "sip_error", 503)


def test_sip_over_tcp_refused_silent_and_not_sip():
    assert run(sip(closed_port("tcp"), transport="tcp")).layer == "refused"
    with SipTcpResponder(silent=True) as silent, SipTcpResponder(raw_reply=b"SSH-2.0-OpenSSH_9.6\r\n") as ssh:
        quiet = run(sip(silent.port, transport="tcp"))
        banner = run(sip(ssh.port, transport="tcp"))
    assert (quiet.state, quiet.layer) == ("failed", "timeout")
    assert quiet.detail == "connected, but no SIP answer within 0.3 s"
    assert (banner.state, banner.layer) == ("failed", "sip_error") and "SSH-2.0" in banner.detail


def test_a_tcp_connect_that_never_completes_times_out():
    with BlackholeTcpPort() as hole:
        result = run(sip(hole.port, transport="tcp"))
    assert (result.state, result.layer) == ("failed", "timeout")
    assert result.detail == "no TCP connection within 0.3 s"


def test_sips_with_an_untrusted_certificate_is_a_tls_failure():
    with SipTcpResponder(200, tls=True) as responder:
        result = run(sip(responder.port, scheme="sips"), timeout=2.0)
    assert (result.state, result.layer) == ("failed", "tls")
    assert "certificate" in result.detail
    assert result.target == f"SIP/TLS 127.0.0.1:{responder.port}"


# --- DNS, H.323, HTTP, nothing to probe ------------------------------------------------------------

@pytest.mark.parametrize("protocol, dial", [
    ("sip", "sip:room@x.invalid"), ("sip", "sip:room@x.invalid;transport=tcp"), ("h323", "alias@x.invalid"),
    ("webrtc", "https://x.invalid/56")])
def test_a_name_that_does_not_resolve_fails_at_dns(protocol, dial):
    result = run(target_for(1, protocol, dial))
    assert (result.state, result.layer) == ("failed", "dns")
    assert "x.invalid" in result.detail


def test_h323_connect():
    with TcpListener() as listener:
        ok = run(target_for(1, "h323", f"alias@127.0.0.1:{listener.port}"))
    refused = run(target_for(2, "h323", f"127.0.0.1:{closed_port('tcp')}"))
    with BlackholeTcpPort() as hole:
        silent = run(target_for(3, "h323", f"127.0.0.1:{hole.port}"))
    assert (ok.state, ok.layer, ok.code) == ("connected", "ok", None) and ok.rtt_ms is not None
    assert ok.target == f"H.323 127.0.0.1:{listener.port}"
    assert (refused.state, refused.layer, refused.detail) == ("failed", "refused", "connection refused")
    assert (silent.state, silent.layer) == ("failed", "timeout")


def test_http_by_status():
    with HttpServer({"/": 200, "/56": 200, "/old": 302}) as web:
        ok = run(target_for(1, "webrtc", web.url("/56")), timeout=2.0)
        missing = run(target_for(2, "webrtc", web.url("/57")), timeout=2.0)
        moved = run(target_for(3, "webrtc", web.url("/old")), timeout=2.0)
    assert (ok.state, ok.layer, ok.code) == ("connected", "ok", 200) and ok.rtt_ms is not None
    assert ok.target == f"HTTP 127.0.0.1:{web.port}"
    assert (missing.state, missing.layer, missing.code) == ("failed", "http_error", 404)
    assert (moved.state, moved.code) == ("connected", 200) and "1 redirect" in moved.detail


def test_http_refused_and_tls():
    refused = run(target_for(1, "webrtc", f"http://127.0.0.1:{closed_port('tcp')}/56"), timeout=2.0)
    with HttpServer(tls=True) as web:
        tls = run(target_for(2, "webrtc", web.url("/")), timeout=2.0)
    assert (refused.state, refused.layer) == ("failed", "refused")
    assert (tls.state, tls.layer) == ("failed", "tls") and "certificate" in tls.detail


def web(url: str, key=1) -> Target:
    return target_for(key, "webrtc", url)


def test_http_get_sends_one_plain_request():
    with HttpServer({"/56": 200}) as server:
        result = run(web(server.url("/56?room=a b")), timeout=2.0)
        request = server.last_request
    assert (result.state, result.code) == ("connected", 200)
    lines = request.splitlines()
    assert lines[0] == "GET /56?room=a%20b HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines and f"User-Agent: {USER_AGENT}" in lines


def test_only_the_head_of_the_answer_counts():
    # The responder sends a body even with a 204, where none may follow: the head is what a probe
    # reads, so the stray body does not turn a live server into "not HTTP".
    with HttpServer({"/t": 204, "/x": 503}) as server:
        empty = run(web(server.url("/t")), timeout=2.0)
        down = run(web(server.url("/x")), timeout=2.0)
    assert (empty.state, empty.layer, empty.code) == ("connected", "ok", 204)
    assert empty.detail.startswith("HTTP 204 No Content in ")
    assert (down.state, down.layer, down.code) == ("failed", "http_error", 503)
    assert down.detail.startswith("HTTP 503 Service Unavailable in ") and down.rtt_ms is not None


def test_http_timeouts_say_which_step_never_ended():
    with SipTcpResponder(silent=True) as silent, BlackholeTcpPort() as hole:
        started = time.monotonic()
        quiet = run(web(f"http://127.0.0.1:{silent.port}/56"))
        handshake = run(web(f"https://127.0.0.1:{silent.port}/56"))  # TCP accepted, TLS never answered
        no_connect = run(web(f"http://127.0.0.1:{hole.port}/56"))
        elapsed = time.monotonic() - started
    assert (quiet.state, quiet.layer, quiet.code) == ("failed", "timeout", None)
    assert quiet.detail == "connected, but no HTTP answer within 0.3 s"
    assert (handshake.layer, handshake.detail) == ("timeout", "connected, but no HTTP answer within 0.3 s")
    assert (no_connect.layer, no_connect.detail) == ("timeout", "no TCP connection within 0.3 s")
    assert elapsed < 3 * T + 0.5  # each within its timeout


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_answer_that_is_not_http(scheme):
    with SipTcpResponder(raw_reply=b"SSH-2.0-OpenSSH_9.6\r\n") as ssh, TcpListener() as hangs_up:
        banner = run(web(f"http://127.0.0.1:{ssh.port}/"))
        closed = run(web(f"{scheme}://127.0.0.1:{hangs_up.port}/"))
    assert (banner.state, banner.layer) == ("failed", "http_error")
    assert banner.detail == "answered, but not in HTTP (connection closed)"
    if scheme == "http":
        assert (closed.layer, closed.detail) == ("http_error", "answered, but not in HTTP (connection closed)")
    else:  # closed during the TLS handshake
        assert (closed.state, closed.layer) == ("failed", "tls") and closed.detail.startswith("TLS failed: ")


def test_an_untrusted_certificate_is_named():
    with HttpServer(tls=True) as server:
        result = run(web(server.url("/")), timeout=2.0)
        requests = server.requests
    assert (result.state, result.layer, result.code) == ("failed", "tls", None)
    assert result.detail.startswith("certificate not accepted: ") and "self-signed" in result.detail
    assert result.target == f"HTTPS 127.0.0.1:{server.port}"
    assert requests == 0  # no GET over a connection we do not trust


def test_redirects_are_followed_across_servers_with_their_cookies():
    # A web room behind a login hop, as some platforms have: the hop sets a cookie that the room
    # wants, on another port (cookies are per host, not per port).
    with HttpServer({"/room": 200}, cookie_required={"/room": "session=56"}) as room, \
            HttpServer({"/hop": 307, "/login": 302}, set_cookies={"/login": "session=56; Path=/"},
                       locations={"/hop": "/login", "/login": room.url("/room")}) as gate:
        chain = run(web(gate.url("/hop")), timeout=2.0)
        without = run(web(room.url("/room")), timeout=2.0)
    assert (chain.state, chain.layer, chain.code) == ("connected", "ok", 200)
    assert chain.detail.startswith("HTTP 200 OK in ") and chain.detail.endswith(" after 2 redirects")
    assert (without.state, without.code) == ("failed", 403)  # the cookie was what let the chain in


def test_redirect_failures():
    with HttpServer({"/loop": 302, "/away": 302, "/ftp": 301},
                    locations={"/loop": "/loop", "/away": "http://x.invalid/56", "/ftp": "ftp://files/56"}) as server:
        loop = run(web(server.url("/loop")), timeout=2.0)
        requests = server.requests
        away = run(web(server.url("/away")), timeout=2.0)
        ftp = run(web(server.url("/ftp")), timeout=2.0)
    assert (loop.state, loop.layer, loop.detail) == ("failed", "http_error", "too many redirects")
    assert requests == 31  # 30 redirects followed, as requests did
    assert (away.state, away.layer, away.detail) == ("failed", "dns", "a host name in the redirects does not resolve")
    assert (ftp.state, ftp.layer) == ("failed", "http_error") and "ftp://files/56" in ftp.detail


def test_nothing_to_probe():
    for target in (target_for(1, "other", "phone 0243"), target_for(2, "sip", ""), target_for(3, "h323", "8424")):
        result = run(target)
        assert (result.state, result.layer, result.code, result.rtt_ms) == ("unknown", "unsupported", None, None)
        assert result.detail.startswith("nothing to probe")


# --- dial parsing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol, dial, kind, host, port, transport, label", [
    ("sip", "sip:diemcau-56@10.56.0.1", "sip", "10.56.0.1", 5060, "udp", "SIP/UDP 10.56.0.1:5060"),
    ("sip", "SIP:Room@10.56.0.1", "sip", "10.56.0.1", 5060, "udp", "SIP/UDP 10.56.0.1:5060"),
    ("sip", "sips:x@host.example.gov.vn", "sip", "host.example.gov.vn", 5061, "tls",
     "SIP/TLS host.example.gov.vn:5061"),
    ("sip", "sip:room@10.0.0.5:5080;transport=tcp", "sip", "10.0.0.5", 5080, "tcp", "SIP/TCP 10.0.0.5:5080"),
    ("sip", "sip:room@10.0.0.5;transport=TLS", "sip", "10.0.0.5", 5061, "tls", "SIP/TLS 10.0.0.5:5061"),
    ("sip", "kh@10.56.0.1", "sip", "10.56.0.1", 5060, "udp", "SIP/UDP 10.56.0.1:5060"),
    ("sip", "10.56.0.1:5070", "sip", "10.56.0.1", 5070, "udp", "SIP/UDP 10.56.0.1:5070"),
    ("sip", "sip:x@[2001:db8::1]:5062", "sip", "2001:db8::1", 5062, "udp", "SIP/UDP [2001:db8::1]:5062"),
    ("h323", "10.56.0.1", "h323", "10.56.0.1", 1720, "tcp", "H.323 10.56.0.1:1720"),
    ("h323", "10.56.0.1:1721", "h323", "10.56.0.1", 1721, "tcp", "H.323 10.56.0.1:1721"),
    ("h323", "alias@10.56.0.1", "h323", "10.56.0.1", 1720, "tcp", "H.323 10.56.0.1:1720"),
    ("h323", "gk.example.gov.vn", "h323", "gk.example.gov.vn", 1720, "tcp", "H.323 gk.example.gov.vn:1720"),
    ("webrtc", "https://hop.example.gov.vn/56", "http", "hop.example.gov.vn", 443, "", "HTTPS hop.example.gov.vn"),
    ("webrtc", "http://10.0.0.1:8080/x", "http", "10.0.0.1", 8080, "", "HTTP 10.0.0.1:8080"),
])
def test_target_for(protocol, dial, kind, host, port, transport, label):
    target = target_for(42, protocol, dial)
    assert (target.key, target.kind, target.host, target.port, target.transport, target.label) == \
        (42, kind, host, port, transport, label)


def test_target_for_uris_and_transport_default():
    assert target_for(1, "sip", "kh@10.56.0.1").url == "sip:kh@10.56.0.1"
    assert target_for(1, "sip", "sip:r@10.0.0.5:5080;transport=tcp").url == "sip:r@10.0.0.5:5080;transport=tcp"
    assert target_for(1, "webrtc", "https://hop.example.gov.vn/56").url == "https://hop.example.gov.vn/56"
    assert target_for(1, "sip", "kh@10.56.0.1", sip_transport="tcp").transport == "tcp"
    assert target_for(1, "sip", "sip:kh@10.56.0.1;transport=udp", sip_transport="tcp").transport == "udp"
    assert target_for(1, "sip", "sips:kh@10.56.0.1", sip_transport="udp").transport == "tls"


@pytest.mark.parametrize("protocol, dial", [
    ("other", "sip:x@10.0.0.1"), ("sip", ""), ("webrtc", "  "), ("sip", "sip:x@bad host"),
    ("sip", "sip:x@10.0.0.1;transport=ws"), ("h323", "84241234"), ("h323", "10.0.0.1:99999"),
    ("webrtc", "hop.example.gov.vn/56"), ("webrtc", "https://hop.example.gov.vn:port/"), ("fax", "123")])
def test_what_cannot_be_probed_is_kind_none(protocol, dial):
    target = target_for(7, protocol, dial)
    assert (target.key, target.kind) == (7, "none") and target.label


# --- sweeps ------------------------------------------------------------------------------------------

def test_a_sweep_keeps_order_reports_progress_and_bounds_the_probes_in_flight():
    timeout, concurrency = 0.5, 50
    # Answers after 50 ms; a fifth of the dials go to a port that never answers, counted in flight
    # for 0.8 x the timeout (so that the responder's count is a lower bound of the engine's).
    with SipUdpFarm(5, 0.2, delay=0.05, hold=timeout * 0.8) as farm, TcpListener() as h323:
        dials = farm.dials(300)
        targets = [target_for(i, "sip", dial) for i, dial in enumerate(dials)]
        for i in range(300, 320):  # and some of every other kind
            targets.append(target_for(i, ("h323", "h323", "sip", "other", "sip")[i % 5],
                                      (f"127.0.0.1:{h323.port}", f"127.0.0.1:{closed_port('tcp')}",
                                       "sip:x@x.invalid", "", f"sip:x@127.0.0.1:{closed_port()}")[i % 5]))
        done: list[tuple[float, ProbeResult]] = []
        fds_before = len(os.listdir("/proc/self/fd"))
        started = time.monotonic()
        results = sweep(targets, concurrency=concurrency, timeout=timeout,
                        progress=lambda r: done.append((time.monotonic() - started, r)))
        elapsed = time.monotonic() - started
        fds_after = len(os.listdir("/proc/self/fd"))

    assert [r.key for r in results] == list(range(320))
    assert sorted(r.key for _, r in done) == list(range(320))  # once per target
    assert farm.options == 300
    assert 20 <= farm.max_in_flight <= concurrency  # the bound holds, and was used
    assert fds_after <= fds_before + 2  # every probe's socket is closed

    for i, result in enumerate(results[:300]):
        if farm.is_silent(i):
            assert (result.state, result.layer) == ("failed", "timeout"), result
        else:
            assert (result.state, result.code) == ("connected", 200), result
            assert result.rtt_ms < timeout * 1000  # silent targets do not hold up the others
    assert sum(farm.is_silent(i) for i in range(300)) == 60
    layers = {results[i].layer for i in range(300, 320)}
    assert layers == {"ok", "refused", "dns", "unsupported"}
    # The first silent dial is number 4; results of later answering dials came in before it timed out.
    first_silent_done = next(t for t, r in done if r.key == 4)
    assert sum(1 for t, r in done if t < first_silent_done and r.key > 4) > 20
    assert elapsed < 10  # about 1 s; only hangs are caught here


def test_a_sweep_of_nothing_and_its_arguments():
    assert sweep([]) == []
    with pytest.raises(ValueError):
        sweep([target_for(1, "other", "")], concurrency=0)
    assert sweep([target_for(1, "other", "")], concurrency=1)[0].state == "unknown"


def test_a_progress_callback_that_raises_stops_the_sweep():
    with SipUdpResponder(200) as responder:
        targets = [sip(responder.port)] * 10

        def boom(result):
            raise RuntimeError("display gone")

        with pytest.raises(RuntimeError, match="display gone"):
            sweep(targets, concurrency=3, timeout=T, progress=boom)


# --- HTTP probes run in the event loop, like the others --------------------------------------------

def test_silent_web_rooms_cost_one_timeout_whatever_their_number():
    # Every one of n web rooms accepts the connection and never answers. All n are in flight at once,
    # so that the sweep takes one timeout; through 64 threads it took n / 64 timeouts.
    n, timeout = 256, 0.5
    with SipTcpResponder(silent=True) as silent:
        targets = [web(f"http://127.0.0.1:{silent.port}/room{i}", key=i) for i in range(n)]
        fds_before = len(os.listdir("/proc/self/fd"))
        started = time.monotonic()
        results = sweep(targets, concurrency=n, timeout=timeout)
        elapsed = time.monotonic() - started
        # The kernel accepted every connection; the responder's handler threads may count the last
        # ones a moment later on a loaded machine.
        counted = time.monotonic() + 5
        while silent.connections < n and time.monotonic() < counted:
            time.sleep(0.05)
        connections = silent.connections
    # The responder's threads (in this process) close their ends when they notice ours closed.
    settled = time.monotonic() + 5
    while len(os.listdir("/proc/self/fd")) > fds_before + 2 and time.monotonic() < settled:
        time.sleep(0.05)
    fds_after = len(os.listdir("/proc/self/fd"))
    assert [r.key for r in results] == list(range(n))
    assert {(r.state, r.layer, r.detail) for r in results} == \
        {("failed", "timeout", "connected, but no HTTP answer within 0.5 s")}
    assert connections == n
    # Through 64 threads the sweep would take n / 64 timeouts (2 s); all in flight at once, one.
    assert timeout <= elapsed < n / 64 * timeout, elapsed
    assert fds_after <= fds_before + 2  # every probe's socket is closed


def test_a_finished_web_probe_leaves_no_socket_open():
    # Counted during the sweep: a socket left to the end of the event loop would be closed there,
    # after up to a sweep's worth of them had piled up.
    concurrency, n = 20, 200
    peak = 0

    def note_fds(result: ProbeResult) -> None:
        nonlocal peak
        peak = max(peak, len(os.listdir("/proc/self/fd")))

    with SipTcpResponder(silent=True) as silent, HttpServer(tls=True) as untrusted:
        targets = [web(f"http://127.0.0.1:{silent.port}/" if i % 2 else untrusted.url("/"), key=i) for i in range(n)]
        fds_before = len(os.listdir("/proc/self/fd"))
        results = sweep(targets, concurrency=concurrency, timeout=0.2, progress=note_fds)
    assert {r.layer for r in results} == {"timeout", "tls"}
    # Ours and the responders' ends of the connections in flight, and some slack for the responders'
    # threads, which close their ends a little later.
    assert peak - fds_before <= 4 * concurrency, peak - fds_before


def test_http_probes_take_no_thread():
    seen: set[str] = set()

    def note_threads(result: ProbeResult) -> None:
        seen.update(t.name for t in threading.enumerate() if t.name.startswith("probe"))

    with HttpServer({"/": 200}) as server, SipTcpResponder(silent=True) as silent:
        targets = [web(server.url("/") if i % 2 else f"http://127.0.0.1:{silent.port}/", key=i) for i in range(40)]
        results = sweep(targets, concurrency=20, timeout=T, progress=note_threads)
    assert sum(r.state == "connected" for r in results) == 20
    assert seen == set()  # no probe thread (the engine's threads all start with "probe")


def test_http_probes_keep_to_the_concurrency_bound():
    concurrency = 20
    with HttpServer({"/": 200}, delay=0.1) as server:
        targets = [web(server.url(f"/?{i}"), key=i) for i in range(120)]
        started = time.monotonic()
        results = sweep(targets, concurrency=concurrency, timeout=2.0)
        elapsed = time.monotonic() - started
        in_flight = server.max_in_flight
    assert all((r.state, r.code) == ("connected", 200) for r in results)
    assert concurrency * 0.75 <= in_flight <= concurrency  # the bound holds, and was used
    assert elapsed >= 120 / concurrency * 0.1 * 0.9


def test_the_bound_is_shared_by_every_kind():
    # n silent web rooms and n silent SIP ports, n at a time: two rounds of one timeout each. Web
    # probes outside the bound would make it one.
    n, timeout = 40, 0.4
    with SipTcpResponder(silent=True) as silent_web, SilentUdpPort() as silent_sip:
        targets = []
        for i in range(n):
            targets.append(web(f"http://127.0.0.1:{silent_web.port}/", key=2 * i))
            targets.append(target_for(2 * i + 1, "sip", f"sip:ep@127.0.0.1:{silent_sip.port}"))
        started = time.monotonic()
        results = sweep(targets, concurrency=n, timeout=timeout)
        elapsed = time.monotonic() - started
    assert all(r.layer == "timeout" for r in results)
    assert 2 * timeout * 0.95 <= elapsed < 4 * timeout, elapsed
