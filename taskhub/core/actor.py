from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Actor:
    """Who is writing, and from where: what services need to record an audit event."""

    user_id: UUID | None
    api_key_id: UUID | None = None
    label: str = ""
    ip: str | None = None
    request_id: str = ""
