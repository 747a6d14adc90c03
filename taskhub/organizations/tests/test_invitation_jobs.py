"""The invitation email's job row (PostgreSQL, the queue on): in the request's transaction, never a token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from taskhub.core import jobs
from taskhub.core.errors import DomainError
from taskhub.organizations.models import Invitation
from taskhub.organizations.services import invitations
from taskhub.tenancy.roles import Role
from tests.support.queue import queued_job_arguments

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the queue lives in PostgreSQL")

URL = "/api/v1/invitations/"


@pytest.mark.django_db(transaction=True)
def test_an_invitation_leaves_one_job_naming_it_its_organization_and_request_but_no_token(
    job_queue, clients_a, tenant_a
):
    response = clients_a[Role.ADMIN].post(
        URL, {"email": "queued@example.com"}, format="json", HTTP_X_REQUEST_ID="req-inv-1"
    )

    assert response.status_code == 201, response.content
    assert response.json()["delivery_status"] == "queued"
    assert response["X-Request-ID"] == "req-inv-1"
    invitation = Invitation.objects.get()
    assert queued_job_arguments() == [
        (
            "organizations.send_invitation_email",
            {
                "organization_id": str(tenant_a.organization.pk),
                "request_id": "req-inv-1",
                "invitation_id": str(invitation.pk),
            },
        )
    ]
    # Nothing in the job can open the invitation: not even the hash it holds until the job sends.
    args = json.dumps(queued_job_arguments()[0][1])
    assert invitation.token_hash not in args
    assert "token" not in args


@pytest.mark.django_db(transaction=True)
def test_a_request_that_fails_after_queueing_the_email_leaves_no_job(job_queue, clients_a, monkeypatch):
    enqueue = jobs.enqueue
    queued: list[int | None] = []

    def enqueue_then_fail(*args: Any, **kwargs: Any) -> int | None:
        queued.append(enqueue(*args, **kwargs))
        raise DomainError("Something after the job went wrong.", code="late_failure")

    monkeypatch.setattr(invitations.jobs, "enqueue", enqueue_then_fail)
    response = clients_a[Role.ADMIN].post(URL, {"email": "lost@example.com"}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "late_failure"
    assert len(queued) == 1
    assert queued[0] is not None
    assert not Invitation.objects.exists()
    assert queued_job_arguments() == []


@pytest.mark.django_db(transaction=True)
def test_a_resend_while_the_email_job_waits_makes_it_due_now_instead_of_a_second_email(job_queue, clients_a):
    client = clients_a[Role.ADMIN]
    invitation_id = client.post(URL, {"email": "twice@example.com"}, format="json").json()["id"]
    # The first attempt failed; the job waits for its retry in ten minutes.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_jobs SET scheduled_at = now() + interval '10 minutes'")
    for _ in range(2):
        response = client.post(f"{URL}{invitation_id}/resend/")
        assert response.status_code == 202, response.content
        assert response.json()["delivery_status"] == "queued"
    with connection.cursor() as cursor:
        cursor.execute("SELECT task_name, args->>'invitation_id', scheduled_at FROM procrastinate_jobs")
        assert cursor.fetchall() == [("organizations.send_invitation_email", invitation_id, None)]


@pytest.mark.django_db(transaction=True)
def test_a_resend_after_the_email_failed_for_good_queues_a_new_job(job_queue, clients_a):
    client = clients_a[Role.ADMIN]
    invitation_id = client.post(URL, {"email": "again@example.com"}, format="json").json()["id"]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_jobs SET status = 'failed'")
    response = client.post(f"{URL}{invitation_id}/resend/", HTTP_X_REQUEST_ID="req-resend")
    assert response.status_code == 202, response.content
    rows = queued_job_arguments()
    assert [(name, args["invitation_id"]) for name, args in rows] == [
        ("organizations.send_invitation_email", invitation_id)
    ] * 2
    assert rows[1][1]["request_id"] == "req-resend"
