"""Read replicas: send a read to a replica only when that cannot change what the code sees.

``DATABASE_REPLICA_URLS`` adds ``replica_0``, ``replica_1``, ... to ``DATABASES``
(taskhub/core/env.py). With none configured every method returns None, Django's default: all on
"default". With replicas:

- writes always go to "default", even for an instance that was read from a replica;
- a read goes to "default" while "default" is inside a transaction. Every tenant request runs
  in ``transaction.atomic()`` with its row-level security variables set on the primary's
  connection (taskhub.core.rls, TenantAPIView.dispatch); a replica connection carries no such
  variables, so the same read there would see nothing, or the wrong rows. Reads that belong to
  a transaction must also see its own uncommitted writes, which only the primary has;
- a read goes to "default" after the current request (or ``primary()`` block) has written, so
  a client reads its own writes despite replication lag;
- a read of an object whose related instance came from "default" stays on "default";
- otherwise (read-only paths outside any transaction: non-tenant lookups, reports, exports
  run in their own bypass scope on the primary anyway) a replica, chosen at random.

Migrations run on "default" only; the replicas get them by replication.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.signals import request_started
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA_PREFIX = "replica_"

# True once the current request (or primary() block) has written, or asked for the primary.
_pinned: ContextVar[bool] = ContextVar("taskhub_db_pinned_to_primary", default=False)


def unpin(**_: Any) -> None:
    """Let reads use replicas again: at the start of every request, or by hand."""
    _pinned.set(False)


request_started.connect(unpin, dispatch_uid="taskhub.core.db_router.unpin")


@contextmanager
def primary() -> Iterator[None]:
    """Send every read in the block to the primary (read-your-writes without a transaction)."""
    token = _pinned.set(True)
    try:
        yield
    finally:
        _pinned.reset(token)


def pinned() -> bool:
    return _pinned.get()


class ReplicaRouter:
    """Route reads to replicas when safe; see the module docstring for the rules."""

    def __init__(self, replicas: list[str] | None = None) -> None:
        self._replicas = replicas

    @property
    def replicas(self) -> list[str]:
        if self._replicas is not None:
            return list(self._replicas)
        return sorted(alias for alias in settings.DATABASES if alias.startswith(REPLICA_PREFIX))

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        replicas = self.replicas
        if not replicas:
            return None
        if _pinned.get() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        instance = hints.get("instance")
        if instance is not None and getattr(getattr(instance, "_state", None), "db", None) == DEFAULT_DB_ALIAS:
            return DEFAULT_DB_ALIAS
        return random.choice(replicas)  # noqa: S311 - load spreading, not security

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        if not self.replicas:
            return None
        # The rest of this request reads its own writes from the primary.
        _pinned.set(True)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        if not self.replicas:
            return None
        same_data = {DEFAULT_DB_ALIAS, *self.replicas}
        if obj1._state.db in same_data and obj2._state.db in same_data:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        if db.startswith(REPLICA_PREFIX):
            return False
        return None
