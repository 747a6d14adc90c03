"""The ``data`` of the product's events: one shape for every resource.

``object`` is the resource as its GET shows it (its serializer's output, through
``taskhub.core.representation.represent``), so a receiver parses one shape per resource
whether it reads the API or an event:

- ``<resource>.created``, ``member.added``, ``invitation.accepted``: ``{"object": {...}}``;
- ``<resource>.updated``, ``member.role_changed``: ``{"object": {...}, "changes": {field:
  {"before": old, "after": new}}}``, the object as it is after the change and only the fields
  whose value changed (``updated_at``, which every change moves, left out);
- ``<resource>.deleted``, ``member.removed``: ``{"object": {...}}``, its last representation.

A write that changes nothing sends nothing: the services return before they emit. Services
pass these as functions (``data=lambda: object_payload(task)``): ``emit`` builds the data only
when a webhook receives the event, so an organization without webhooks never pays for it. A
deletion emits just before it deletes, in the same transaction, while the object has its id.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from taskhub.core.representation import represent

# Moves with every change; a receiver reads it in ``object``.
_NOT_A_CHANGE = frozenset({"updated_at"})


def object_payload(instance: Model) -> dict[str, Any]:
    """``data`` naming ``instance`` as the API shows it; for a deletion, call it before deleting."""
    return {"object": represent(instance)}


def change_payload(before: dict[str, Any], instance: Model) -> dict[str, Any]:
    """``data`` of an update: ``instance`` now, and each field that differs from ``before`` (its ``represent`` then)."""
    after = represent(instance)
    changes = {
        name: {"before": before.get(name), "after": value}
        for name, value in after.items()
        if name not in _NOT_A_CHANGE and before.get(name) != value
    }
    return {"object": after, "changes": changes}
