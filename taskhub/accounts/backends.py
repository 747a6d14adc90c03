"""Django's authentication backend with the password check through the guard."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from taskhub.accounts import guard
from taskhub.accounts.models import User
from taskhub.core.errors import TooManyRequests, Unauthenticated
from taskhub.core.http import client_ip


class GuardedModelBackend(ModelBackend):
    """ModelBackend (permissions included) whose ``authenticate`` counts failures like the API's sign-in.

    Whatever calls ``django.contrib.auth.authenticate`` (the admin's login, a future form) shares
    the guard's counts; a locked-out attempt raises PermissionDenied, which stops Django from
    asking any other backend.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            return guard.authenticate(
                username=username, password=password, ip=client_ip(request) if request is not None else None
            )
        except Unauthenticated:
            return None
        except TooManyRequests as exc:
            raise PermissionDenied(exc.detail) from exc
