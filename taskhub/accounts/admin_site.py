"""The admin site, with its sign-in and its password change through the password guard."""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.auth.views import PasswordChangeView
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

from taskhub.accounts import guard
from taskhub.core.errors import DomainError, TooManyRequests, Unauthenticated
from taskhub.core.http import client_ip


def _locked_out(what: str, exc: TooManyRequests) -> ValidationError:
    return ValidationError(
        "%(what)s; try again in %(seconds)s seconds.",
        code="locked_out",
        params={"what": what, "seconds": exc.retry_after},
    )


class GuardedAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form, counted with the API's sign-ins and saying when it is locked out."""

    def clean(self) -> dict[str, Any]:
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is not None and password:
            ip = client_ip(self.request) if self.request is not None else None
            try:
                user = guard.authenticate(username=username, password=password, ip=ip)
            except TooManyRequests as exc:
                raise _locked_out("Too many failed sign-in attempts", exc) from exc
            except Unauthenticated as exc:
                raise self.get_invalid_login_error() from exc
            user.backend = "taskhub.accounts.backends.GuardedModelBackend"
            self.user_cache = user
            self.confirm_login_allowed(user)
        return self.cleaned_data


class GuardedPasswordChangeForm(AdminPasswordChangeForm):
    """The admin's own password change: the old password is confirmed under the guard's limits."""

    ip: str | None = None

    def clean_old_password(self) -> str:
        old_password: str = self.cleaned_data["old_password"]
        try:
            guard.password_confirm(user=self.user, password=old_password, ip=self.ip, field="old_password")
        except TooManyRequests as exc:
            raise _locked_out("Too many wrong passwords", exc) from exc
        except DomainError as exc:
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect") from exc
        return old_password


class TaskhubAdminSite(AdminSite):
    login_form = GuardedAuthenticationForm

    def password_change(  # type: ignore[override] # a redirect once changed, the form otherwise
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponseBase:
        """Django's view with the guarded form (AdminSite has no setting for the form)."""
        form_class = type("GuardedPasswordChangeForm", (GuardedPasswordChangeForm,), {"ip": client_ip(request)})
        defaults: dict[str, Any] = {
            "form_class": form_class,
            "success_url": reverse("admin:password_change_done", current_app=self.name),
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        if self.password_change_template is not None:
            defaults["template_name"] = self.password_change_template
        request.current_app = self.name
        return PasswordChangeView.as_view(**defaults)(request)
