"""The tenant boundary: who is calling, in which organization, and the one API base for tenant data.

Authentication (taskhub.accounts.authentication) turns a token or API key into a
``TenantContext`` on ``request.auth``. ``TenantAPIView`` is the only way an endpoint reads
tenant rows: it owns ``get_queryset`` and ``get_object``, hands the organization to a
selector explicitly, and refuses subclasses that try to replace either.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, ClassVar
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import QuerySet
from rest_framework import exceptions, generics, permissions
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.views import APIView

from taskhub.core import read_ahead, rls, throttling
from taskhub.core.actor import Actor
from taskhub.core.errors import Unauthenticated
from taskhub.core.http import client_ip, request_id
from taskhub.tenancy import idempotency
from taskhub.tenancy.context import TenantContext, tenant_of
from taskhub.tenancy.roles import role_allows


def actor_of(request: Request) -> Actor:
    """Return who is acting, for the audit log."""
    context = tenant_of(request)
    return Actor(
        user_id=context.user_id,
        api_key_id=context.api_key_id,
        label=context.label,
        ip=client_ip(request),
        request_id=request_id(request),
    )


NO_ORGANIZATION = UUID(int=0)

# What a subclass may override to change behaviour: the selector here, these on the resource bases.
RESOURCE_HOOKS = ("scope", "service_arguments", "perform_create", "created_body")

# The modules whose classes own the sealed names: a class from anywhere else may not define them.
BASE_MODULES = frozenset({"taskhub.tenancy.api", "taskhub.tenancy.resources"})


class RolePermission(permissions.BasePermission):
    """Allow a request when the caller's role holds the view's permission for the method."""

    message = "Your role in this organization does not allow this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        context = tenant_of(request)
        method = "GET" if request.method == "HEAD" else (request.method or "")
        required = getattr(view, "permission_by_method", {}).get(method)
        if required is not None:
            return role_allows(context.role, required)
        if method == "OPTIONS":
            return True
        # A method the view does not serve goes on to its 405; one it serves but did not map
        # is allowed to no one.
        return method not in view.allowed_methods


class TenantAPIView(generics.GenericAPIView[Any]):
    """Base for every endpoint over tenant data.

    Subclasses set ``selector`` (a function taking ``organization_id`` keyword and returning
    that organization's queryset) and ``permission_by_method`` (HTTP method to a permission
    name from roles.MINIMUM_ROLE). They may not override ``get_queryset``, ``get_object`` or
    the permission classes.
    """

    permission_classes = [RolePermission]
    permission_by_method: ClassVar[dict[str, str]] = {}
    selector: ClassVar[Callable[..., QuerySet[Any]]]
    lookup_field = "pk"
    lookup_url_kwarg = "id"
    # Read by the schema: a POST here honours Idempotency-Key (docs/idempotency.md) and may answer 422.
    idempotent_posts: ClassVar[bool] = True
    # The Idempotency-Key this request holds, from initial() until the answer is settled in dispatch().
    _idempotency: idempotency.Reservation | None = None
    # A GET that needs one snapshot across statements (or a server-side cursor) sets this: it then
    # runs in a transaction, as writes do.
    read_in_transaction: ClassVar[bool] = False
    # What lives as long as the request's dispatch: its transaction (writes) and its tenant context.
    _scope: ExitStack
    # Read by authentication: this view completes a credential's check (``TenantContext.pending``)
    # in the cache round trip that counts its throttles.
    settles_credentials: ClassVar[bool] = True
    # The throttles' refusals, when counted with the credential's check.
    _throttle_waits: list[float | None] | None = None

    # Owned here for every tenant endpoint: the queryset, the lookup, the permission check, the
    # transaction and context, and the list pipeline (only the resource bases may define ``list``).
    _SEALED = (
        "get_queryset",
        "get_object",
        "permission_classes",
        "check_permissions",
        "initial",
        "dispatch",
        "handle_exception",
        "perform_authentication",
        "check_throttles",
        "filter_queryset",
        "list",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        TenantAPIView._refuse_overrides(cls, cls._SEALED, owner="TenantAPIView", hooks=("selector", *RESOURCE_HOOKS))
        if "selector" in cls.__dict__ and not isinstance(cls.__dict__["selector"], staticmethod):
            cls.selector = staticmethod(cls.__dict__["selector"])

    @staticmethod
    def _refuse_overrides(view: type, names: tuple[str, ...], *, owner: str, hooks: tuple[str, ...]) -> None:
        """Refuse ``view`` when it, or any class it mixes in ahead of the tenancy bases, defines ``names``.

        The whole MRO counts: a mixin listed before the base (DRF's ``ListModelMixin`` defines
        ``list``) overrides the base as surely as the class body does.
        """
        for klass in view.__mro__:
            if klass.__module__ in BASE_MODULES:
                break
            # The resource bases copy their own handlers onto a class to document them (drf-spectacular's
            # extend_schema_view); a copy is not an override.
            documented = klass.__dict__.get("_documented", ())
            overridden = [name for name in names if name in klass.__dict__ and name not in documented]
            if overridden:
                where = view.__name__ if klass is view else f"{view.__name__} (through {klass.__qualname__})"
                raise TypeError(
                    f"{where} may not override {', '.join(overridden)}: {owner} owns them. "
                    f"Change behaviour through the hooks: {', '.join(hooks)}."
                )

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # A write is one transaction: an error anywhere rolls every change back. With an
        # Idempotency-Key, the answer is kept (or the placeholder dropped) in the same
        # transaction that made the change, so both commit or neither does.
        # A read runs in autocommit: each statement is its own transaction and carries the tenant
        # context with it (rls.carried, entered in initial()), so a read of one statement is one
        # round trip to PostgreSQL, with no BEGIN, COMMIT or health check of its own.
        with ExitStack() as self._scope:
            # Inside a caller's transaction (a test's) a read gets a savepoint too, so its error
            # cannot abort the caller's transaction.
            atomic = (
                request.method not in permissions.SAFE_METHODS
                or self.read_in_transaction
                or connections[DEFAULT_DB_ALIAS].in_atomic_block
            )
            if atomic:
                self._scope.enter_context(transaction.atomic())
            response = super().dispatch(request, *args, **kwargs)
            if self._idempotency is not None:
                idempotency.settle(self._idempotency, response)
            if atomic and response.status_code >= 400:
                # An error answer changes nothing. DRF's exception handler marks the transaction
                # for rollback only under ATOMIC_REQUESTS; this transaction is the request's own.
                transaction.set_rollback(True)
            return response

    def handle_exception(self, exc: Exception) -> Any:
        # A retry of a POST already answered: the kept answer, not the handler's.
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)
        context = request.auth
        if not isinstance(context, TenantContext) or context.pending is None:
            return
        # One cache round trip for the request: the throttles' counts, what the credential's check
        # reads (a token's revocation) and what a write will read (read_ahead). So the request is
        # counted before its permissions are checked (a refused request counts, as a throttled one does).
        reads, ahead = context.pending.reads, self._read_ahead_keys(context)
        self._throttle_waits, values = throttling.count(self.get_throttles(), request, self, reads=(*reads, *ahead))
        self._keep_read_ahead(ahead, None if values is None else values[len(reads) :])
        try:
            request.auth = context.pending.settle(context, None if values is None else values[: len(reads)])
        except Unauthenticated as exc:
            raise exceptions.AuthenticationFailed(exc.detail, code=exc.code) from exc

    def _read_ahead_keys(self, context: TenantContext) -> tuple[str, ...]:
        if self.request.method in permissions.SAFE_METHODS:
            return ()
        return read_ahead.write_keys(context.organization_id)

    def _keep_read_ahead(self, keys: tuple[str, ...], values: list[Any] | None) -> None:
        if keys and values is not None:
            self._scope.enter_context(read_ahead.scope(dict(zip(keys, values, strict=True))))

    def check_throttles(self, request: Request) -> None:
        # Every throttle in one cache round trip, not one each (counted already when authentication
        # left a check for that round trip).
        waits = self._throttle_waits
        if waits is None:
            context = request.auth
            if isinstance(context, TenantContext):
                ahead = self._read_ahead_keys(context)
                waits, values = throttling.count(self.get_throttles(), request, self, reads=ahead)
                self._keep_read_ahead(ahead, values)
            else:
                waits = throttling.refusals(self.get_throttles(), request, self)
        if waits:
            # As DRF's own check: the longest wait, or None (no Retry-After) when none is known.
            raise exceptions.Throttled(max((wait for wait in waits if wait is not None), default=None))

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # The organization only: a user's memberships elsewhere stay invisible here too. Carried
        # by the first statement of each transaction, so it costs no round trip of its own.
        self._scope.enter_context(
            rls.carried(
                organization_id=self.tenant.organization_id,
                skip_health_check=not connections[DEFAULT_DB_ALIAS].in_atomic_block,
            )
        )
        # After the context, so the key's row is under row-level security like any tenant row.
        # Without the header: no statement at all.
        if idempotency.applies(request, self):
            self._idempotency = idempotency.reserve(request, organization_id=self.tenant.organization_id)

    @property
    def tenant(self) -> TenantContext:
        return tenant_of(self.request)

    @property
    def actor(self) -> Actor:
        return actor_of(self.request)

    def get_queryset(self) -> QuerySet[Any]:
        selector = getattr(type(self), "selector", None)
        if selector is None:
            raise TypeError(f"{type(self).__name__} has no selector.")
        if getattr(self, "swagger_fake_view", False):
            # Schema generation only needs the model: ask for an organization that cannot exist.
            return selector(organization_id=NO_ORGANIZATION).none()
        return selector(organization_id=self.tenant.organization_id)

    def get_object(self) -> Any:
        # get_queryset is already limited to the organization: another tenant's id is a 404.
        return self._lookup(lock=False)

    def _lookup(self, *, lock: bool) -> Any:
        """The object the URL names, in the organization; ``lock`` holds its row until the request ends."""
        queryset = self.get_queryset()
        if lock and queryset.db and connections[queryset.db].features.has_select_for_update_of:
            # NO KEY UPDATE, as taskhub.tenancy.services.locked says why.
            queryset = queryset.select_for_update(no_key=True, of=("self",))
        value = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        instance = get_object_or_404(queryset, **{self.lookup_field: value})
        self.check_object_permissions(self.request, instance)
        return instance
