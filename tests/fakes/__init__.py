"""Local servers that speak the real protocols the service talks to (SMTP, Twilio's REST API,
SIP/H.323/HTTP responders, a TCP proxy that can be cut): what tests and benchmarks use instead of
mocks."""
