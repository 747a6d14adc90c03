"""Sample rows for drills, load and demos, contributed by each app for its own tables.

``seed_tenants`` makes organizations, members, keys, invitations, projects and tasks, then calls
every seeder registered here (from the apps' ``AppConfig.ready()``, in INSTALLED_APPS order) for
each organization, inside the same platform transaction. A new resource seeds its own table, so
the backup drill (which wants rows in every tenant table) needs no edit.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from taskhub.core.actor import Actor

Seeder = Callable[..., None]
_SEEDERS: list[Seeder] = []


def register_seeder(seeder: Seeder) -> None:
    """Add ``seeder(organization_id=..., actor=...)`` to what ``seed_tenants`` runs per organization."""
    if seeder not in _SEEDERS:
        _SEEDERS.append(seeder)


def run_seeders(*, organization_id: UUID, actor: Actor) -> None:
    for seeder in _SEEDERS:
        seeder(organization_id=organization_id, actor=actor)
