"""Reminders: rules per event (anchor + offset, channel, audience, template), when they fire, whom
they reach, what they cost, and the readiness confirmations they collect."""
