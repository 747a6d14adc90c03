"""Who a request acts as, and in which organization; set by authentication on ``request.auth``.

Kept apart from the API base (tenancy.py) because authentication classes load while DRF
itself is being imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol
from uuid import UUID

from rest_framework import exceptions
from rest_framework.request import Request

from taskhub.tenancy.roles import Role


class PendingCheck(Protocol):
    """What authentication left to check with values from the cache, for the view's one round trip.

    ``TenantAPIView`` reads ``reads`` in the same cache command that counts the request against
    its throttles, then calls ``settle`` with the values (None for a key not cached; None as a
    whole while the cache fails). ``settle`` returns the context, checked, or raises
    ``taskhub.core.errors.Unauthenticated``.
    """

    @property
    def reads(self) -> tuple[str, ...]: ...

    def settle(self, context: TenantContext, values: list[Any] | None) -> TenantContext: ...


@dataclass(frozen=True)
class TenantContext:
    """The organization a request acts in, and as whom.

    ``pending``: a check of the credential still to do (``PendingCheck``); until it is done the
    context grants nothing (``tenant_of`` refuses it).
    """

    organization_id: UUID
    role: Role
    user_id: UUID | None = None
    api_key_id: UUID | None = None
    label: str = ""
    token_jti: str | None = None
    token_exp: int | None = None
    pending: PendingCheck | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Principal:
    """``request.user`` for a token or key: identity without a database read."""

    user_id: UUID | None
    api_key_id: UUID | None = None
    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False
    is_active: ClassVar[bool] = True
    is_staff: ClassVar[bool] = False

    @property
    def pk(self) -> UUID | None:
        return self.user_id or self.api_key_id

    @property
    def id(self) -> UUID | None:
        return self.pk


def tenant_of(request: Request) -> TenantContext:
    """Return the request's tenant context; without one, refuse (fail closed)."""
    context = request.auth
    if not isinstance(context, TenantContext) or context.pending is not None:
        raise exceptions.NotAuthenticated()
    return context
