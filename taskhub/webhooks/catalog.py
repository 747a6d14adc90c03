"""The events a webhook can subscribe to, and the one it cannot (the ping)."""

EVENT_TYPES = (
    "project.created",
    "project.updated",
    "project.deleted",
    "task.created",
    "task.updated",
    "task.deleted",
    "member.added",
    "member.role_changed",
    "member.removed",
    "invitation.accepted",
)
# Every event, present and future.
ALL = "*"
# Sent to one webhook on demand (and when it is created); no subscription needed or possible.
PING = "webhook.ping"


def subscribed(events: list[str], event_type: str) -> bool:
    """Return whether a webhook subscribed to ``events`` receives ``event_type``."""
    return ALL in events or event_type in events
