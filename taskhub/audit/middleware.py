"""Staff reading or changing tenant data in the Django admin: an event in each organization's own chain.

The admin reads across tenants through the platform role (``StaffRowLevelSecurityBypassMiddleware``,
which this middleware runs inside). For each request of a signed-in staff member under the
admin's prefix, every row of a tenant table (and every organization row) the request loads from
the database, saves or deletes is noted, through Django's model signals, whichever page or
widget loaded it (lists, change forms, inlines, deletion summaries, raw-id labels). After the
answer is rendered, each organization touched gets one event in its chain, in the same
transaction as the request's own writes:

- ``platform.viewed`` when its rows were only read, ``platform.changed`` when any was saved or
  deleted;
- the actor is the staff user (label ``staff:<username>``), with the request's IP and id;
- the target is the organization;
- ``changes`` holds the reason (``django admin: GET /admin/tasks/task/<id>/change/``) and, per
  model, how many rows were viewed, changed or deleted with up to ``MAX_IDS`` of their ids.

If recording fails the request fails (500) and its transaction rolls back: staff never see a
tenant's rows without the tenant being told. The signal receivers are connected only while an
admin request runs, so API requests pay nothing for them. docs/audit.md.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models, router, transaction
from django.db.models.signals import post_delete, post_init, post_save
from django.http import HttpRequest, HttpResponse

from taskhub.audit.models import AuditEvent
from taskhub.audit.services import platform_access_record, staff_actor
from taskhub.core.http import client_ip, request_id
from taskhub.tenancy.registry import tenant_model_label, tenant_models

# Ids listed per model and kind in one event; the count says how many there were.
MAX_IDS = 100


@dataclass
class _Access:
    """What one admin request loaded, saved and deleted, by organization."""

    loaded: list[models.Model] = field(default_factory=list)
    changed: dict[str, dict[str, dict[str, models.Model]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(dict))
    )
    deleted: dict[str, dict[str, dict[str, models.Model]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(dict))
    )


_access: ContextVar[_Access | None] = ContextVar("taskhub_audit_platform_access", default=None)


def _organization_of(instance: models.Model) -> str | None:
    if instance._meta.label == tenant_model_label():
        return str(instance.pk) if instance.pk is not None else None
    # A deferred organization_id would cost a query to read: such a row is not noted.
    value = instance.__dict__.get("organization_id")
    return str(value) if value is not None else None


def _loaded(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    access = _access.get()
    if access is not None:
        # Whether it came from the database is known only once it is built (from_db marks it):
        # decided when the request ends.
        access.loaded.append(instance)


def _saved(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if sender is AuditEvent:
        return  # written by the product's own services, each an event already
    access = _access.get()
    organization = _organization_of(instance) if access is not None else None
    if access is not None and organization is not None:
        access.changed[organization][instance._meta.label_lower][str(instance.pk)] = instance


def _deleted(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    access = _access.get()
    organization = _organization_of(instance) if access is not None else None
    if access is not None and organization is not None:
        access.deleted[organization][instance._meta.label_lower][str(instance.pk)] = instance


_SIGNALS: tuple[tuple[Any, Callable[..., None]], ...] = (
    (post_init, _loaded),
    (post_save, _saved),
    (post_delete, _deleted),
)
_lock = threading.Lock()
_listening = 0


def _watched() -> list[type[models.Model]]:
    from django.apps import apps  # noqa: PLC0415

    return [*tenant_models(), apps.get_model(tenant_model_label())]


def _listen() -> None:
    global _listening  # noqa: PLW0603 - one count per process, under the lock
    with _lock:
        if _listening == 0:
            for model in _watched():
                for signal, receiver in _SIGNALS:
                    signal.connect(
                        receiver, sender=model, weak=False, dispatch_uid=f"audit-platform-{model._meta.label}"
                    )
        _listening += 1


def _stop_listening() -> None:
    global _listening  # noqa: PLW0603
    with _lock:
        _listening -= 1
        if _listening == 0:
            for model in _watched():
                for signal, _receiver in _SIGNALS:
                    signal.disconnect(sender=model, dispatch_uid=f"audit-platform-{model._meta.label}")


def _summary(rows: dict[str, dict[str, models.Model]]) -> dict[str, dict[str, Any]]:
    return {label: {"count": len(ids), "ids": sorted(ids)[:MAX_IDS]} for label, ids in sorted(rows.items())}


def record_access(request: HttpRequest, access: _Access) -> int:
    """Append one event per organization ``access`` touched; return how many were appended."""
    viewed: dict[str, dict[str, dict[str, models.Model]]] = defaultdict(lambda: defaultdict(dict))
    for instance in access.loaded:
        organization = _organization_of(instance) if not instance._state.adding else None
        if organization is not None and instance.pk is not None:
            viewed[organization][instance._meta.label_lower][str(instance.pk)] = instance
    touched = sorted(set(viewed) | set(access.changed) | set(access.deleted))
    if not touched:
        return 0
    person = staff_actor(request.user, ip=client_ip(request), request_id=request_id(request))
    reason = f"django admin: {request.method} {request.path}"
    # One transaction with the request's writes (the platform's, under the bypass); organizations in
    # a fixed order, so two staff requests lock their chains in the same order.
    with transaction.atomic(using=router.db_for_write(AuditEvent)):
        for organization in touched:
            kinds = {
                "viewed": viewed.get(organization, {}),
                "changed": access.changed.get(organization, {}),
                "deleted": access.deleted.get(organization, {}),
            }
            details = {kind: _summary(found) for kind, found in kinds.items() if found}
            platform_access_record(
                organization_id=organization,
                person=person,
                action="platform.changed" if kinds["changed"] or kinds["deleted"] else "platform.viewed",
                reason=reason,
                target=_organization_row(organization, kinds),
                details=details,
            )
    return len(touched)


def _organization_row(organization_id: str, kinds: dict[str, dict[str, dict[str, models.Model]]]) -> models.Model:
    """The organization as the request loaded it (with its name), or a stand-in naming it by id alone
    (it may be deleted: its events are kept)."""
    from django.apps import apps  # noqa: PLC0415

    label = tenant_model_label().lower()
    for rows in kinds.values():
        if organization_id in rows.get(label, {}):
            return rows[label][organization_id]
    return apps.get_model(tenant_model_label())(pk=organization_id)


def _is_staff_in_admin(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(
        request.path.startswith(settings.ADMIN_URL_PREFIX) and user is not None and user.is_active and user.is_staff
    )


class PlatformAccessAuditMiddleware:
    """Record staff access to tenant rows in the admin (see the module doc); other requests pass through."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _is_staff_in_admin(request):
            return self.get_response(request)
        access = _Access()
        token = _access.set(access)
        _listen()
        try:
            response = self.get_response(request)
        finally:
            _access.reset(token)
            _stop_listening()
        record_access(request, access)
        return response
