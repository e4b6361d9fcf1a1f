"""Notifications owed after a state change, kept as rows until sent (see services)."""
