"""Argon2id first, as OWASP sets it; older PBKDF2 hashes still verify and are upgraded at the next sign-in."""

from __future__ import annotations

import pytest
from argon2 import Type, extract_parameters
from django.contrib.auth.hashers import make_password
from rest_framework.test import APIClient

from config.settings import base
from conftest import PASSWORD
from taskhub.tenancy.roles import Role
from tests.support.servers import fresh_process_json

PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.contrib.auth.hashers import make_password
print(json.dumps({"hashers": settings.PASSWORD_HASHERS, "encoded": make_password("a password")}))
"""


def test_production_hashes_new_passwords_with_argon2id_at_owasps_parameters():
    # In a fresh process, as a deployed worker starts: the settings a test overrides are not in it.
    probe = fresh_process_json(PROBE, settings_module="config.settings.production")
    assert probe["hashers"] == [
        "taskhub.accounts.hashers.Argon2idPasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    algorithm, encoded = probe["encoded"].split("$", 1)
    assert algorithm == "argon2"
    parameters = extract_parameters("$" + encoded)
    # OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB, 2 iterations, parallelism 1.
    assert parameters.type is Type.ID
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (19 * 1024, 2, 1)


@pytest.fixture
def production_hashers(settings):
    settings.PASSWORD_HASHERS = base.PASSWORD_HASHERS


@pytest.fixture
def pbkdf2_user(production_hashers, tenant_a):
    user = tenant_a.users[Role.MEMBER]
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user.save(update_fields=["password"])
    return user


@pytest.mark.django_db
def test_a_pbkdf2_hash_is_upgraded_to_argon2id_at_the_next_sign_in(pbkdf2_user):
    assert pbkdf2_user.password.startswith("pbkdf2_sha256$")
    response = APIClient().post("/api/v1/auth/token/", {"username": pbkdf2_user.username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    pbkdf2_user.refresh_from_db()
    assert pbkdf2_user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    # The new hash verifies: the next sign-in works.
    again = APIClient().post("/api/v1/auth/token/", {"username": pbkdf2_user.username, "password": PASSWORD})
    assert again.status_code == 200


@pytest.mark.django_db
def test_a_wrong_password_leaves_the_pbkdf2_hash_as_it_was(pbkdf2_user):
    stored = pbkdf2_user.password
    response = APIClient().post("/api/v1/auth/token/", {"username": pbkdf2_user.username, "password": "wrong-guess"})
    assert response.status_code == 401
    pbkdf2_user.refresh_from_db()
    assert pbkdf2_user.password == stored
