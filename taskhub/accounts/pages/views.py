"""The account pages' views: read the token and the form, call one service, render what happened."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from taskhub.accounts import guard
from taskhub.accounts.pages.forms import TOKEN_MAX_LENGTH, ResetPasswordForm, SignInForm, SignUpForm
from taskhub.accounts.services.account import account_token_peek, email_verify, password_reset_confirm
from taskhub.core import errors
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError, TooManyRequests
from taskhub.core.http import client_ip, request_id
from taskhub.core.throttling import SignInThrottle, refusals
from taskhub.organizations.services.invitations import (
    invitation_accept,
    invitation_accept_new_user,
    invitation_peek,
)
from taskhub.tenancy.roles import Role

View = Callable[[HttpRequest], HttpResponse]

METHODS = ("GET", "HEAD", "POST")
# Stricter than the site's policy (which lets the API docs style inline): nothing but this
# origin's stylesheet and icon, and forms that post back here.
POLICY: dict[str, list[str]] = {
    "default-src": ["'none'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
}
TEMPLATES = "accounts/pages/"
LATER = re.compile(r"[;,.]?\s*(try again later)?\.?\s*$", re.IGNORECASE)
# An invitation the token no longer opens: its page says so instead of showing the forms.
DEAD_INVITATION_CODES = frozenset({"invitation_invalid", "invitation_used", "invitation_revoked", "invitation_expired"})


def _harden(response: HttpResponse) -> HttpResponse:
    """The page's own CSP; never cached, and its URL (which carries the token) never sent to another site.

    ``same-origin``, not ``no-referrer``: under ``no-referrer`` browsers send ``Origin: null``
    with the form, and Django's CSRF check refuses it.
    """
    response._csp_config = POLICY  # type: ignore[attr-defined]  # django-csp reads it
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "same-origin"
    return response


def _page(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    return render(request, TEMPLATES + template, context or {}, status=status)


def csrf_refused(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Answer a refused CSRF check on a page with a page (taskhub.core.errors.csrf_failure calls it)."""
    return _harden(_page(request, "csrf_failure.html", status=403))


def page(view: View) -> View:
    """Serve GET, HEAD and POST; harden the answer; answer CSRF refusals with HTML."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method not in METHODS:
            return errors.method_not_allowed(request, METHODS)
        return _harden(view(request))

    wrapper.csrf_failure = csrf_refused  # type: ignore[attr-defined]
    return wrapper


def _token(request: HttpRequest) -> str:
    """The token from the form, else from the link; blank when missing or too long to be one."""
    token = (request.POST.get("token") or request.GET.get("token") or "").strip()
    return token if len(token) <= TOKEN_MAX_LENGTH else ""


def _wait(seconds: float | None) -> str:
    if not seconds:
        return "later"
    # Below a minute and a half, seconds read better.
    amount, unit = (math.ceil(seconds), "second") if seconds < 90 else (math.ceil(seconds / 60), "minute")
    return f"in {amount} {unit}{'' if amount == 1 else 's'}"


def _too_many(request: HttpRequest, template: str, context: dict[str, Any], exc: TooManyRequests) -> HttpResponse:
    # The page says when: the services' "...; try again later." gives way to the wait itself.
    reason = LATER.sub("", exc.detail)
    context = {**context, "error": f"{reason}. Try again {_wait(exc.retry_after)}."}
    response = _page(request, template, context, status=429)
    if exc.retry_after:
        response["Retry-After"] = str(math.ceil(exc.retry_after))
    return response


def _throttle(request: HttpRequest) -> None:
    """Count a page's POST against the client IP's sign-in budget, the API's sign-in throttle."""
    waits = refusals([SignInThrottle()], request, None)  # type: ignore[arg-type]  # no DRF view here
    if waits:
        raise TooManyRequests("Too many attempts from your address", retry_after=math.ceil(max(w or 1 for w in waits)))


def _invalid_link(request: HttpRequest, page_name: str, detail: str = "") -> HttpResponse:
    return _page(request, "invalid_link.html", {"page": page_name, "detail": detail}, status=400)


@page
def verify_email(request: HttpRequest) -> HttpResponse:
    """Confirm an address (a new account's or a changed one); a GET never uses the token up."""
    token = _token(request)
    if request.method != "POST":
        # A change of address is confirmed here too: the peek finds change_email tokens as well.
        pending = account_token_peek(token=token, purpose="verify_email")
        if pending is None:
            return _invalid_link(request, "verify-email")
        return _page(request, "verify_email.html", {"token": token, "email": pending.email})
    try:
        _throttle(request)
    except TooManyRequests as exc:
        return _too_many(request, "verify_email.html", {"token": token}, exc)
    try:
        user = email_verify(token=token)
    except DomainError as exc:
        if exc.code == "token_invalid":
            return _invalid_link(request, "verify-email")
        # Another account verified this address first (409 email_taken): the link is still unused.
        context = {"title": "This address cannot be confirmed", "detail": exc.detail}
        return _page(request, "message.html", context, status=exc.status_code)
    return _page(request, "verify_email_done.html", {"email": user.email})


@page
def reset_password(request: HttpRequest) -> HttpResponse:
    """Set a new password with the token from a reset email."""
    token = _token(request)
    if account_token_peek(token=token, purpose="reset_password") is None:
        return _invalid_link(request, "reset-password")
    if request.method != "POST":
        return _page(request, "reset_password.html", {"token": token, "form": ResetPasswordForm()})
    return _reset_password_post(request, token)


def _reset_password_post(request: HttpRequest, token: str) -> HttpResponse:
    form = ResetPasswordForm(request.POST)
    context = {"token": token, "form": form}
    try:
        _throttle(request)
        if not form.is_valid():
            return _page(request, "reset_password.html", context, status=400)
        user = password_reset_confirm(token=token, new_password=form.cleaned_data["password"])
    except TooManyRequests as exc:
        return _too_many(request, "reset_password.html", context, exc)
    except DomainError as exc:
        if exc.field == "token":
            return _invalid_link(request, "reset-password")
        # The password validators' messages, on the field they are about.
        form.add_error("password", exc.detail)
        return _page(request, "reset_password.html", context, status=exc.status_code)
    return _page(request, "reset_password_done.html", {"username": user.username})


def _role(role: str) -> str:
    return str(Role(role).label).lower()


def _actor(request: HttpRequest, *, user_id: Any, label: str) -> Actor:
    return Actor(user_id=user_id, label=label, ip=client_ip(request), request_id=request_id(request))


def _accept_existing(request: HttpRequest, token: str, form: SignInForm) -> Any:
    """Check the password (the guard, with its lockout), then join as that user."""
    data = form.cleaned_data
    user = guard.authenticate(username=data["username"], password=data["password"], ip=client_ip(request))
    return invitation_accept(token=token, user_id=user.pk, actor=_actor(request, user_id=user.pk, label=user.username))


def _accept_new(request: HttpRequest, token: str, form: SignUpForm) -> Any:
    data = form.cleaned_data
    return invitation_accept_new_user(
        token=token,
        username=data["username"],
        password=data["password"],
        ip=client_ip(request),
        request_id=request_id(request),
    )


@page
def accept_invitation(request: HttpRequest) -> HttpResponse:
    """Show an invitation and join its organization, signing in or creating an account."""
    token = _token(request)
    invitation = invitation_peek(token=token) if token else None
    if invitation is None:
        return _invalid_link(request, "accept-invitation")
    chosen = request.POST.get("form") if request.method == "POST" else None
    context: dict[str, Any] = {
        "token": token,
        "invitation": {
            "organization": invitation.organization_name,
            "role": _role(invitation.role),
            "email": invitation.email,
        },
        "sign_in": SignInForm(request.POST if chosen == "existing" else None, prefix="existing"),
        "sign_up": SignUpForm(request.POST if chosen == "new" else None, prefix="new"),
        "chosen": chosen,
    }
    if chosen not in ("existing", "new"):
        return _page(request, "accept_invitation.html", context, status=400 if request.method == "POST" else 200)
    return _accept_invitation_post(request, token, context)


def _accept_invitation_post(request: HttpRequest, token: str, context: dict[str, Any]) -> HttpResponse:
    form = context["sign_in"] if context["chosen"] == "existing" else context["sign_up"]
    try:
        _throttle(request)
        if not form.is_valid():
            return _page(request, "accept_invitation.html", context, status=400)
        if isinstance(form, SignInForm):
            acceptance = _accept_existing(request, token, form)
        else:
            acceptance = _accept_new(request, token, form)
    except TooManyRequests as exc:
        return _too_many(request, "accept_invitation.html", context, exc)
    except DomainError as exc:
        if exc.code in DEAD_INVITATION_CODES:
            return _invalid_link(request, "accept-invitation", exc.detail)
        if exc.field in form.fields:
            form.add_error(exc.field, exc.detail)
        else:
            context["error"] = exc.detail
        # A wrong password is a mistake in the form, not a missing credential: 400, a form's error.
        status = HTTPStatus.BAD_REQUEST if exc.status_code == HTTPStatus.UNAUTHORIZED else exc.status_code
        return _page(request, "accept_invitation.html", context, status=status)
    membership = acceptance.membership
    return _page(
        request,
        "accept_invitation_done.html",
        {"organization": membership.organization.name, "role": _role(membership.role), "user": membership.user},
    )
