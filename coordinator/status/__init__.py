"""Connection status during the test and the session: append-only status events (operators,
the endpoints' own contacts, probes), each endpoint's current status derived from them, incidents
and their escalation, the national roll-up."""
