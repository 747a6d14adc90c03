"""A tenant resource declared once: its list and detail endpoints built from a selector and services.

A resource is two small classes::

    class ProjectListApi(TenantListApi):
        selector = project_list
        serializer_class = ProjectSerializer
        permissions = ResourcePermissions(read="project.read", write="project.write")
        create_input = ProjectCreateInputSerializer
        create_service = project_create
        filterset_class = ProjectFilter
        ordering_fields = ["name", "created_at"]
        operations = {"get": Operation(...), "post": Operation(...)}

    class ProjectDetailApi(TenantDetailApi):
        ...
        update_input = ProjectUpdateInputSerializer
        update_service = project_update   # called with project_id=..., actor=..., organization_id=...
        delete_service = project_delete

The bases own the handlers (``get``, ``post``, ``put``, ``patch``, ``delete``), the list
pipeline (filter, search, strict ordering, cursor pagination, rows rendered without model
instances), the object lookup (locked for writes), ETag / If-Match, the 201/200/204 answers
and the OpenAPI operations. A resource changes behaviour only through the hooks named in
``HOOKS``; overriding anything else the bases own is refused at class creation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, NamedTuple

import orjson
from django.db.models import Model, QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.filters import SearchFilter
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.core.errors import DomainError
from taskhub.core.filters import FilterSetBackend, StrictOrderingFilter
from taskhub.core.representation import (
    ROW_JSON,
    JsonText,
    Representation,
    as_rows,
    json_array,
    json_rows,
    representation_of,
)
from taskhub.core.schema import operation_description
from taskhub.tenancy.api import RESOURCE_HOOKS, TenantAPIView

# What a resource may override to change behaviour; everything else the bases define is theirs.
HOOKS = RESOURCE_HOOKS


class PreconditionFailed(DomainError):
    """A write's ``If-Match`` names a version the object no longer has (RFC 9110, 13.1.1)."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    code = "precondition_failed"


class Operation(NamedTuple):
    """An endpoint's documentation: a summary, who may call it, what it does, its notable errors."""

    summary: str
    who: str
    what: str
    errors: str = ""


@dataclass(frozen=True)
class ResourcePermissions:
    """The permission (from the role map) each kind of request needs."""

    read: str
    write: str | None = None
    delete: str | None = None


def etag_of(body: Mapping[str, Any]) -> str:
    """Return a strong ETag for a representation: equal exactly when the JSON would be equal."""
    return etag_of_json(orjson.dumps(body, default=str))


def etag_of_json(encoded: bytes) -> str:
    """The ETag of a representation written as compact JSON (by orjson, or by PostgreSQL: the same bytes)."""
    return f'"{hashlib.sha256(encoded).hexdigest()[:32]}"'


@cache
def _representation(serializer_class: type[serializers.BaseSerializer[Any]]) -> Representation | None:
    """The serializer's ``Representation``, or None when a field reads through a relation; decided once."""
    try:
        return representation_of(serializer_class)  # type: ignore[arg-type]
    except TypeError:
        return None


def _matches(header: str, etag: str) -> bool:
    """Return whether an ``If-Match`` value matches ``etag`` (strong comparison; ``*`` matches any)."""
    candidates = [candidate.strip() for candidate in header.split(",")]
    return "*" in candidates or etag in candidates


class _ResourceBase(TenantAPIView):
    permissions: ClassVar[ResourcePermissions]
    operations: ClassVar[dict[str, Operation]] = {}
    tag: ClassVar[str | None] = None
    _documented: ClassVar[tuple[str, ...]] = ()
    _OWNED: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:
            return
        TenantAPIView._refuse_overrides(cls, cls._OWNED, owner=cls._owner_name(), hooks=HOOKS)
        cls.permission_by_method = cls._permission_map()
        methods = [method.lower() for method in cls.permission_by_method]
        # HEAD is a GET without the body: served only where GET is.
        cls.http_method_names = [*methods, *(["head"] if "get" in methods else []), "options"]
        cls._document()

    @classmethod
    def _owner_name(cls) -> str:
        return next(base.__name__ for base in cls.__mro__ if base.__module__ == __name__)

    @classmethod
    def _permission_map(cls) -> dict[str, str]:
        raise NotImplementedError

    @classmethod
    def _schema_overrides(cls) -> dict[str, dict[str, Any]]:
        return {}

    @classmethod
    def _document(cls) -> None:
        overrides = cls._schema_overrides()
        decorators = {}
        for method, operation in cls.operations.items():
            schema: dict[str, Any] = dict(overrides.get(method, {}))
            if cls.tag:
                schema["tags"] = [cls.tag]
            decorators[method] = extend_schema(
                summary=operation.summary,
                description=operation_description(operation.who, operation.what, operation.errors),
                **schema,
            )
        if decorators:
            extend_schema_view(**decorators)(cls)
        cls._documented = tuple(name for name in decorators if name in cls.__dict__)

    def service_arguments(self) -> dict[str, Any]:
        """Hook: keyword arguments every service call gets besides the organization and actor."""
        return {}

    def represent(self, instance: Any) -> dict[str, Any]:
        representation = _representation(self.get_serializer_class())  # type: ignore[arg-type]
        if representation is None:
            return dict(self.get_serializer(instance).data)
        return representation.instance(instance)


class TenantListApi(_ResourceBase, mixins.ListModelMixin):
    """``GET`` lists the resource (filter, search, strict ordering, cursor pages); ``POST`` creates one."""

    filter_backends = [FilterSetBackend, SearchFilter, StrictOrderingFilter]
    create_input: ClassVar[type[serializers.Serializer[Any]] | None] = None
    create_service: ClassVar[Callable[..., Any] | None] = None
    # The 201 body's shape in the schema when it is not ``serializer_class`` (a secret shown once).
    created_serializer: ClassVar[type[serializers.Serializer[Any]] | None] = None
    # Headers of the 201 answer, e.g. ``Cache-Control: no-store`` for a body that holds a secret.
    created_headers: ClassVar[dict[str, str]] = {}
    _OWNED = ("get", "post", "list", "create", "filter_queryset", "paginate_queryset", "get_paginated_response")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        service = cls.__dict__.get("create_service")
        if service is not None and not isinstance(service, staticmethod):
            cls.create_service = staticmethod(service)
        super().__init_subclass__(**kwargs)

    @classmethod
    def _permission_map(cls) -> dict[str, str]:
        mapping = {"GET": cls.permissions.read}
        if cls.create_input is not None and cls.permissions.write:
            mapping["POST"] = cls.permissions.write
        return mapping

    @classmethod
    def _schema_overrides(cls) -> dict[str, dict[str, Any]]:
        return {
            "post": {"request": cls.create_input, "responses": {201: cls.created_serializer or cls.serializer_class}}
        }

    def get(self, request: Request, **kwargs: Any) -> Response:
        return self.list(request)

    def post(self, request: Request, **kwargs: Any) -> Response:
        return self.create(request)

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.scope(self.get_queryset()))
        representation = _representation(self.get_serializer_class())  # type: ignore[arg-type]
        if representation is None:
            # A field reads through a relation: serializers, one per row, as DRF would.
            page = self.paginate_queryset(queryset)
            data = self.get_serializer(page if page is not None else queryset, many=True).data
            return self.get_paginated_response(data) if page is not None else Response(data)
        # Each row's JSON written by PostgreSQL, where it writes exactly what the serializer would.
        rendered = json_rows(queryset, representation)
        if rendered is not None:
            page = self.paginate_queryset(rendered)
            return self.get_paginated_response(json_array(page if page is not None else rendered))
        # Rows, not model instances; annotations stay in them for the cursor's position.
        rows = as_rows(queryset)
        page = self.paginate_queryset(rows)
        if page is None:
            return Response(representation.rows(rows))
        return self.get_paginated_response(representation.rows(page))

    def create(self, request: Request) -> Response:
        if self.create_input is None:  # pragma: no cover - POST is not routed then
            raise TypeError(f"{type(self).__name__} has no create_input.")
        serializer = self.create_input(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = self.perform_create(dict(serializer.validated_data))
        return Response(self.created_body(instance), status=status.HTTP_201_CREATED, headers=self.created_headers)

    def scope(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Hook: narrow the organization's rows to the ones this URL lists (a parent in the path)."""
        return queryset

    def perform_create(self, fields: dict[str, Any]) -> Any:
        """Hook: create the object from validated input; by default ``create_service``."""
        service = type(self).create_service
        if service is None:
            raise TypeError(f"{type(self).__name__} has no create_service.")
        return service(
            organization_id=self.tenant.organization_id, actor=self.actor, **self.service_arguments(), **fields
        )

    def created_body(self, instance: Any) -> dict[str, Any]:
        """Hook: the 201 body; by default the object as ``serializer_class`` shows it."""
        return self.represent(instance)


class TenantDetailApi(_ResourceBase):
    """``GET`` shows one object with a strong ``ETag``; ``PUT``/``PATCH``/``DELETE`` honour ``If-Match``.

    Services are called with the object's id as ``<service_key>`` (default ``<model name>_id``),
    the organization id and the actor. A write locks the row first, so the ``If-Match``
    comparison and the change see the same version.
    """

    update_input: ClassVar[type[serializers.Serializer[Any]] | None] = None
    update_service: ClassVar[Callable[..., Any] | None] = None
    delete_service: ClassVar[Callable[..., Any] | None] = None
    service_key: ClassVar[str | None] = None
    # PATCH only, when a full replacement makes no sense (a membership has one writable field).
    allow_put: ClassVar[bool] = True
    # False where a DELETE does not make the object go (revoking keeps an invitation in the list,
    # revoked): a GET after it would contradict the 204.
    retrievable: ClassVar[bool] = True
    # Read by the schema: writes here honour If-Match and may answer 412.
    conditional_writes: ClassVar[bool] = True
    _OWNED = ("get", "put", "patch", "delete", "update", "destroy", "retrieve")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        for name in ("update_service", "delete_service"):
            service = cls.__dict__.get(name)
            if service is not None and not isinstance(service, staticmethod):
                setattr(cls, name, staticmethod(service))
        super().__init_subclass__(**kwargs)

    @classmethod
    def _permission_map(cls) -> dict[str, str]:
        mapping = {"GET": cls.permissions.read} if cls.retrievable else {}
        if cls.update_service is not None and cls.update_input is not None and cls.permissions.write:
            mapping["PATCH"] = cls.permissions.write
            if cls.allow_put:
                mapping["PUT"] = cls.permissions.write
        if cls.delete_service is not None and cls.permissions.delete:
            mapping["DELETE"] = cls.permissions.delete
        return mapping

    @classmethod
    def _schema_overrides(cls) -> dict[str, dict[str, Any]]:
        written = {"request": cls.update_input, "responses": {200: cls.serializer_class}}
        return {"put": written, "patch": written, "delete": {"responses": {204: None}}}

    def get(self, request: Request, **kwargs: Any) -> Response:
        return self.retrieve(request)

    def put(self, request: Request, **kwargs: Any) -> Response:
        return self.update(request, partial=False)

    def patch(self, request: Request, **kwargs: Any) -> Response:
        return self.update(request, partial=True)

    def delete(self, request: Request, **kwargs: Any) -> Response:
        return self.destroy(request)

    def retrieve(self, request: Request) -> Response:
        representation = _representation(self.get_serializer_class())  # type: ignore[arg-type]
        value = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        written = None
        if representation is not None:
            written = json_rows(self.get_queryset().filter(**{self.lookup_field: value}), representation)
        if written is None:
            body = self.represent(self.get_object())
            return Response(body, headers={"ETag": etag_of(body)})
        # The object's JSON written by PostgreSQL in the lookup itself; its ETag from those bytes.
        # No object permission to check: the permission classes are sealed (RolePermission, which
        # decides per method, never per object).
        found = list(written)
        if not found:
            raise Http404
        text = found[0][ROW_JSON].encode()
        return Response(JsonText(text), headers={"ETag": etag_of_json(text)})

    def update(self, request: Request, *, partial: bool) -> Response:
        instance = self._checked_object()
        if self.update_input is None or type(self).update_service is None:  # pragma: no cover - not routed then
            raise TypeError(f"{type(self).__name__} cannot update.")
        serializer = self.update_input(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        service = type(self).update_service
        assert service is not None
        updated = service(**self._service_call(instance), **serializer.validated_data)
        body = self.represent(updated)
        return Response(body, headers={"ETag": etag_of(body)})

    def destroy(self, request: Request) -> Response:
        instance = self._checked_object()
        service = type(self).delete_service
        if service is None:  # pragma: no cover - DELETE is not routed then
            raise TypeError(f"{type(self).__name__} cannot delete.")
        service(**self._service_call(instance))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _service_call(self, instance: Model) -> dict[str, Any]:
        key = self.service_key or f"{instance._meta.model_name}_id"
        return {
            "organization_id": self.tenant.organization_id,
            "actor": self.actor,
            key: instance.pk,
            **self.service_arguments(),
        }

    def _checked_object(self) -> Any:
        """Return the object, locked until the request ends, after checking ``If-Match``."""
        instance = self._lookup(lock=True)
        expected = self.request.headers.get("If-Match")
        if expected is not None:
            current = etag_of(self.represent(instance))
            if not _matches(expected, current):
                raise PreconditionFailed(
                    f"The object has changed since you read it: its ETag is now {current}. "
                    "GET it again, reapply your change and send the new ETag."
                )
        return instance
