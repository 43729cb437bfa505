"""Broadcast SMS: one text to a filtered audience of an event's contacts (unit subtree, tier,
current state, readiness, roles), previewed with its cost, queued through the outbox, stopped
while it runs, its progress counted per outbox status."""
