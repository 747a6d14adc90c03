"""The OpenAPI schema documents the error answers every operation can give, in the one error shape.

drf-spectacular documents only the success answer. Clients (and schemathesis, which checks every
status code against the schema) need the errors too: ``taskhub.core.errors`` gives them all one
body, ``{"detail", "code"}`` plus ``errors`` per field, and this schema class adds them to each
operation by what the operation takes: a body, query parameters, an object in its path, a list,
a credential.
"""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiFilterExtension
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

# The body of every error answer. Built inline: a field named ``errors`` on a Serializer subclass
# would hide the serializer's own ``errors``.
ErrorSerializer = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(help_text="For people."),
        "code": serializers.CharField(help_text="For programs: stable, e.g. `not_found`, `throttled`, `invalid`."),
        "errors": serializers.DictField(
            required=False, help_text="Validation errors: each field's name to a list of `{message, code}`."
        ),
    },
)


BAD_REQUEST = "Invalid input: malformed JSON, a field, filter or parameter that fails validation, a broken rule."
UNAUTHORIZED = "No credential, or one that is invalid, expired or revoked."
FORBIDDEN = "The credential's role does not allow this."
NOT_FOUND = "No such object in the credential's organization (another organization's are not found either)."
CONFLICT = "The change conflicts with the current state, e.g. a slug or email already taken."
PRECONDITION_FAILED = (
    "`If-Match` names a version the object no longer has (`precondition_failed`): GET it again for the current `ETag`."
)
IDEMPOTENCY_KEY_REUSED = (
    "`Idempotency-Key` was first sent with another request (another body, path or method): "
    "`idempotency_key_reused`. A retry must repeat the request; a new request needs a new key."
)
TOO_LARGE = "The body is larger than MAX_REQUEST_BODY_BYTES."
UNSUPPORTED = "The body is not JSON."
THROTTLED = "Too many requests; `Retry-After` says how many seconds to wait."
UNAVAILABLE = "The database is unreachable; `Retry-After` says when to try again."
URI_TOO_LONG = (
    "The request line (path and query) is longer than the HTTP server in front of the application "
    "accepts (gunicorn: 4,094 bytes; nginx: its header buffers). That server answers before the "
    "application, with its own HTML page."
)
# Not in the error shape: no application code runs for it.
URI_TOO_LONG_RESPONSE = {"description": URI_TOO_LONG, "content": {"text/html": {"schema": {"type": "string"}}}}

# The optional header of every tenant POST (views with ``idempotent_posts``; docs/idempotency.md).
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]{1,255}$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "A key of the client's choosing (1 to 255 visible ASCII characters, e.g. a random UUID) that makes a "
        "retry safe. The first 2xx answer is kept for 24 hours per organization and key: the same request sent "
        "again with the key gets it back (same status and body, header `Idempotent-Replayed: true`) and creates "
        "nothing; concurrent duplicates create one object. The key with another body or path: 422 "
        "`idempotency_key_reused`. An error answer is not kept, so a corrected request may reuse the key. An "
        "answer holding a secret shown once (`Cache-Control: no-store`, an API key) is not kept: a retry gets 409 "
        "`idempotency_secret_not_replayable`. A malformed key: 400 `invalid`."
    ),
)

# Who may call an operation, in README's words; each operation's description opens with one.
ANYONE = "Anyone: the credential, if any, travels in the body and the `Authorization` header is ignored."
SIGNED_IN = "A signed-in user (`Authorization: Bearer <access token>`); an API key gets 403 `api_key_bound`."
ANY_CREDENTIAL = "Any credential: a signed-in user's access token or an API key."
VIEWER = "Viewer and up: any member of the organization, and API keys of either role."
MEMBER = "Member and up, and API keys with role `member`; viewers get 403."
ADMIN = "Admin and up (admins and owners). Never an API key: its role is member or viewer."
OWNER = "Owners only."


def operation_description(who: str, what: str, errors: str = "") -> str:
    """An operation's description for the docs: who may call it, what it does, its notable errors.

    Every operation can also answer the errors ``AutoSchema`` lists (401, 429, 503, ...); ``errors``
    names the ones particular to it, with their ``code``.
    """
    parts = [f"**Who may call it:** {who}", what]
    if errors:
        parts.append(f"**Notable errors:** {errors}")
    return "\n\n".join(parts)


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with each operation's error answers in the service's error shape."""

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_answers():
            if str(code) not in responses:
                response = self._get_response_for_code(ErrorSerializer, str(code), direction=direction)
                response["description"] = description
                responses[str(code)] = response
        responses.setdefault("414", dict(URI_TOO_LONG_RESPONSE))
        return responses

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self._idempotent():
            parameters.append(IDEMPOTENCY_KEY)
        return parameters

    def _idempotent(self) -> bool:
        """Whether the operation is a POST that honours ``Idempotency-Key`` (tenant views say so)."""
        return self.method == "POST" and bool(getattr(self.view, "idempotent_posts", False))

    def _get_filter_parameters(self) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super()._get_filter_parameters()
        filter_names = {
            parameter["name"]
            for backend in self.get_filter_backends()
            if issubclass(backend, DjangoFilterBackend)
            for parameter in self._filter_parameters_of(backend)
        }
        for parameter in parameters:
            if parameter["name"] in filter_names:
                # django-filter reads `?status=` (empty) as no filter at all; the schema says so.
                parameter["allowEmptyValue"] = True
        return parameters

    def _filter_parameters_of(self, backend: type) -> list[dict[str, Any]]:
        extension = OpenApiFilterExtension.get_match(backend())
        if extension:
            return list(extension.get_schema_operation_parameters(self))
        return list(backend().get_schema_operation_parameters(self.view))

    def _error_answers(self) -> list[tuple[int, str]]:
        has_body = self.method in ("POST", "PUT", "PATCH")
        has_query = bool(self._get_filter_parameters() or self._get_pagination_parameters())
        has_object = bool(self.path_regex and "(?P<" in self.path_regex) or "{" in self.path
        authenticated = bool(self.get_auth()) and self.get_auth() != [{}]
        answers: list[tuple[int, str]] = []
        # A DELETE can break a rule too (the last owner leaving, revoking a used invitation).
        if has_body or has_query or self.method == "DELETE":
            answers.append((400, BAD_REQUEST))
        # A credential in the header, or one in the body (sign-in, refresh, verify, accept).
        if authenticated or has_body:
            answers += [(401, UNAUTHORIZED), (403, FORBIDDEN)]
        # An object in the path, a list's pagination cursor that was tampered with, or the
        # credential's organization deleted by a request running at the same time.
        if has_object or self._is_list_view() or authenticated:
            answers.append((404, NOT_FOUND))
        if has_body:
            answers += [(409, CONFLICT), (413, TOO_LARGE), (415, UNSUPPORTED)]
        # A view that answers GET with an ETag refuses a write whose If-Match names another version.
        if self.method in ("PUT", "PATCH", "DELETE") and getattr(self.view, "conditional_writes", False):
            answers.append((412, PRECONDITION_FAILED))
        if self._idempotent():
            answers.append((422, IDEMPOTENCY_KEY_REUSED))
        # Answers only this view gives (a GET that finds a conflict), declared on it.
        answers += list(getattr(self.view, "error_answers", ()))
        answers += [(429, THROTTLED), (503, UNAVAILABLE)]
        return answers


# Tags an app describes for itself (``describe_tag`` from its AppConfig.ready()), after the ones
# the settings list: a new resource with its own tag needs no settings edit.
_APP_TAGS: dict[str, str] = {}


def describe_tag(name: str, description: str) -> None:
    """Add an OpenAPI tag and its description to the schema (once per name)."""
    _APP_TAGS[name] = description


def add_app_tags(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: append the tags apps described, in registration order."""
    known = {tag["name"] for tag in result.get("tags", [])}
    extra = [{"name": name, "description": text} for name, text in _APP_TAGS.items() if name not in known]
    if extra:
        result["tags"] = [*result.get("tags", []), *extra]
    return result
