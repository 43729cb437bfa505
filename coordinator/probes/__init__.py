"""Reachability probes of videoconference endpoints (SIP OPTIONS, H.323 TCP connect, HTTP GET) through real sockets."""
