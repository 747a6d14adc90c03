"""Invitation emails through the real queue: gunicorn, a worker and an SMTP server that comes and goes.

One private stack (PostgreSQL, Redis, gunicorn under production settings, ``manage.py worker``)
sends mail over SMTP to an aiosmtpd server on loopback that this module starts and stops. Retries
are due 1 s, then 2 s after a failure (``JOBS_RETRY_BASE_SECONDS=1``, ``JOBS_RETRY_MAX_SECONDS=2``)
and a worker looks for due jobs every 5 s, so each retry comes within ~7 s. Runs only in the
PostgreSQL pass, like every test that starts servers (``running_stack``)."""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support import throwaway
from tests.support.servers import run

TOKEN = re.compile(r"accept-invitation/\?token=([A-Za-z0-9_-]+)")
JOB = "organizations.send_invitation_email"


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping every message it is given."""

    messages: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content or b""))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Any]:
        with self.lock:
            return [message for message in self.messages if message["To"] == address]


class MailServer:
    """An SMTP server on 127.0.0.1:``port``, started and stopped at will, one mailbox throughout."""

    def __init__(self) -> None:
        self.port = throwaway.free_port()
        self.mailbox = Mailbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@dataclass
class Admin:
    token: str
    organization_id: str


@pytest.fixture(scope="module")
def mail_server() -> Iterator[MailServer]:
    server = MailServer()  # not started: the mail server is down when the tests begin
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(mail_server: MailServer) -> Iterator[throwaway.Stack]:
    environment = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(mail_server.port),
        "EMAIL_TIMEOUT": "5",
        "JOBS_RETRY_BASE_SECONDS": "1",
        "JOBS_RETRY_MAX_SECONDS": "2",
    }
    with throwaway.running_stack(server_environment=environment, worker=True) as running:
        yield running


@pytest.fixture(scope="module")
def admin(stack: throwaway.Stack) -> Admin:
    username = f"inv{secrets.token_hex(4)}"
    reply = stack.client.post(
        "/api/v1/auth/register/",
        {
            "username": username,
            "email": f"{username}@example.com",
            "password": f"mail-{secrets.token_urlsafe(12)}",
            "organization_name": "Mailroom",
        },
    )
    assert reply.status == 201, reply.text
    return Admin(token=reply.body["access"], organization_id=reply.body["organization"]["id"])


def _invite(stack: throwaway.Stack, admin: Admin, email: str, request_id: str) -> dict[str, Any]:
    reply = stack.client.post(
        "/api/v1/invitations/", {"email": email, "role": "member"}, token=admin.token, request_id=request_id
    )
    assert reply.status == 201, reply.text
    assert reply.headers["x-request-id"] == request_id
    return reply.body


def _delivery(stack: throwaway.Stack, admin: Admin, invitation_id: str) -> str:
    reply = stack.client.get("/api/v1/invitations/?page_size=100", token=admin.token)
    assert reply.status == 200, reply.text
    return next(row["delivery_status"] for row in reply.body["results"] if row["id"] == invitation_id)


def _job_lines(stack: throwaway.Stack, message: str, request_id: str) -> list[dict[str, Any]]:
    assert stack.worker is not None
    return [
        line
        for line in stack.worker.log_lines()
        if line.get("job") == JOB and line.get("message") == message and line.get("request_id") == request_id
    ]


def _jobs_command(stack: throwaway.Stack, *arguments: str) -> str:
    return run([sys.executable, "manage.py", "jobs", *arguments], timeout=60, env=stack.environment, cwd=throwaway.REPO)


def test_an_invitation_made_while_the_mail_server_is_down_is_emailed_once_when_it_is_back(stack, admin, mail_server):
    address = "patient@example.com"
    created = _invite(stack, admin, address, request_id="invite-while-mail-down")
    assert created["delivery_status"] == "queued"
    # The worker has tried and failed at least once: the server really was down for it.
    throwaway.wait_until(
        lambda: bool(_job_lines(stack, "job failed; it will be retried", "invite-while-mail-down")),
        timeout=30,
        what="a failed attempt to send the invitation",
        interval=0.2,
    )
    assert _delivery(stack, admin, created["id"]) == "queued"

    mail_server.start()
    throwaway.wait_until(lambda: bool(mail_server.mailbox.to(address)), timeout=60, what="the email", interval=0.2)
    arrived = time.monotonic()
    assert _delivery(stack, admin, created["id"]) == "sent"

    # The worker's lines about this job name the organization and the request that queued it.
    done = _job_lines(stack, "job done", "invite-while-mail-down")
    assert len(done) == 1
    assert done[0]["organization_id"] == admin.organization_id

    body = mail_server.mailbox.to(address)[0].get_payload(decode=True).decode()
    token = TOKEN.search(body)
    assert token, body
    accepted = stack.client.post(
        "/api/v1/invitations/accept/",
        {"token": token[1], "username": "patient", "password": f"mail-{secrets.token_urlsafe(12)}"},
    )
    assert accepted.status == 201, accepted.text
    assert accepted.body["organization"]["id"] == admin.organization_id

    # A few seconds more: nothing sends it a second time (a sent job has no retry left to run).
    time.sleep(max(0.0, arrived + 3 - time.monotonic()))
    assert len(mail_server.mailbox.to(address)) == 1


def test_an_email_that_fails_for_good_is_listed_and_sent_by_a_retry(stack, admin, mail_server):
    # A worker that gives up after 2 runs takes over from the first (which would try 12 times).
    assert stack.worker is not None
    stack.worker.terminate()
    stack.worker = throwaway.WorkerProcess(stack.root, name="worker-2-runs")
    stack.worker.start({**stack.environment, "JOBS_MAX_ATTEMPTS": "2"})
    mail_server.stop()

    address = "unlucky@example.com"
    created = _invite(stack, admin, address, request_id="invite-to-fail")
    throwaway.wait_until(
        lambda: _delivery(stack, admin, created["id"]) == "failed", timeout=30, what="the email to fail for good"
    )
    failed = [json.loads(line) for line in _jobs_command(stack, "list", "--status", "failed").splitlines()]
    assert [(job["task"], job["request_id"], job["attempts"]) for job in failed] == [(JOB, "invite-to-fail", 2)]
    assert failed[0]["organization_id"] == admin.organization_id

    mail_server.start()
    assert f"job {failed[0]['id']}: queued to run again" in _jobs_command(stack, "retry", "--all-failed")
    throwaway.wait_until(lambda: bool(mail_server.mailbox.to(address)), timeout=30, what="the retried email")
    throwaway.wait_until(lambda: _delivery(stack, admin, created["id"]) == "sent", timeout=10, what="sent")
    assert len(mail_server.mailbox.to(address)) == 1
