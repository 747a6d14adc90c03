import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

from taskhub.core import errors, rls

logger = logging.getLogger(__name__)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class RequestIdMiddleware:
    """Give every request an id: the caller's ``X-Request-ID`` when well-formed, else a new one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        if response.status_code == 400 and not _is_json(response) and _host_is_disallowed(request):
            response = _json_bad_request(request, response)
        response["X-Request-ID"] = request_id
        return response


# Django answers a disallowed Host itself (and logs it as django.security.DisallowedHost):
# through handler400, JSON, without DEBUG; with DEBUG, its HTML debug page with the settings
# dump. That page never leaves: the body becomes the JSON 400, the security headers stay.
def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _host_is_disallowed(request: HttpRequest) -> bool:
    try:
        request.get_host()
    except DisallowedHost:
        return True
    return False


def _json_bad_request(request: HttpRequest, original: HttpResponse) -> HttpResponse:
    response = errors.bad_request(request)
    for header, value in original.items():
        if header.lower() not in ("content-type", "content-length"):
            response[header] = value
    return response


class StaffRowLevelSecurityBypassMiddleware:
    """Let signed-in staff see every tenant's rows in the Django admin, and nobody else.

    The admin is the platform's own tool and crosses tenants by design; this is the one
    request path that may, and it does so through ``rls.bypass`` so the reason is logged.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            request.path.startswith(settings.ADMIN_URL_PREFIX)
            and user is not None
            and user.is_active
            and user.is_staff
            and rls.enabled()
        ):
            try:
                with rls.bypass(f"django admin, staff user {user.pk}"):
                    return self.get_response(request)
            except rls.PlatformUnavailable as exc:
                # One role without BYPASSRLS (a single-role platform): the admin shows what that
                # role sees, which is no tenant's rows, and says why in the log.
                logger.warning("%s", exc)
        return self.get_response(request)
