"""Account emails through the real queue (PostgreSQL): ids in the job's row, never a token; made when sent."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from conftest import PASSWORD
from taskhub.accounts.models import AccountToken, User
from taskhub.accounts.tests.mail import only_token
from tests.support.queue import queued_job_arguments

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the queue lives in PostgreSQL")


@pytest.mark.django_db(transaction=True)
def test_a_sign_up_queues_its_email_with_ids_only_and_the_worker_makes_the_token(job_queue):
    response = APIClient().post(
        "/api/v1/auth/register/",
        {"username": "queued", "email": "queued@example.com", "password": PASSWORD, "organization_name": "Q"},
        format="json",
        HTTP_X_REQUEST_ID="req-signup-1",
    )
    assert response.status_code == 201, response.content
    user = User.objects.get(username="queued")

    assert queued_job_arguments() == [
        (
            "accounts.send_email",
            {
                "kind": "verify_email",
                "user_id": str(user.pk),
                "email": "queued@example.com",
                "request_id": "req-signup-1",
            },
        )
    ]
    assert not AccountToken.objects.exists()
    assert mail.outbox == []

    call_command("worker", "--once", stdout=StringIO())

    token = only_token("queued@example.com", "verify-email")
    assert AccountToken.objects.filter(user=user, purpose="verify_email").count() == 1
    assert APIClient().post("/api/v1/auth/email/verify/", {"token": token}, format="json").status_code == 204


@pytest.mark.django_db(transaction=True)
def test_a_reset_request_queues_the_same_job_for_a_known_and_an_unknown_address_and_only_the_known_gets_mail(
    job_queue, make_user
):
    known = make_user("known", email="known@example.com")
    User.objects.filter(pk=known.pk).update(email_verified=True)
    for email in ("known@example.com", "ghost@example.com"):
        response = APIClient().post("/api/v1/auth/password/reset/", {"email": email}, format="json")
        assert response.status_code == 202

    # The request did the same work for both: one job naming the address; the worker looks it up.
    assert [{**args, "request_id": None} for _, args in queued_job_arguments()] == [
        {"kind": "reset_password", "email": "known@example.com", "request_id": None},
        {"kind": "reset_password", "email": "ghost@example.com", "request_id": None},
    ]
    assert not AccountToken.objects.exists()

    call_command("worker", "--once", stdout=StringIO())

    assert [message.to for message in mail.outbox] == [["known@example.com"]]
    assert AccountToken.objects.filter(user=known, purpose="reset_password").count() == 1
