"""Writes of one organization running at once never deadlock on the audit chain's head.

Every audited write holds its organization's chain head from its event to its COMMIT, and at
COMMIT PostgreSQL runs the foreign-key checks Django creates deferred, taking FOR KEY SHARE on the
rows they point at (the organization, a project, a task). A write that locked such a row FOR
UPDATE and then waited for the head deadlocked with them (found by schemathesis: a label created
while an invitation was). Row locks taken to serialize writes are FOR NO KEY UPDATE, which KEY
SHARE does not wait for (taskhub.tenancy.services.locked).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections
from django.test import override_settings
from rest_framework.test import APIClient

from taskhub.tenancy.roles import Role

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and deadlocks are PostgreSQL's")

ROUNDS = 12


@override_settings(INVITATIONS_PER_HOUR=1000, INVITATIONS_PER_USER_PER_DAY=1000)
@pytest.mark.django_db(transaction=True)
def test_concurrent_writes_of_one_organization_never_deadlock(clients_a):
    owner, member = clients_a[Role.OWNER], clients_a[Role.MEMBER]
    project = owner.post("/api/v1/projects/", {"key": "RACE", "name": "Race"}, format="json").json()
    task = member.post("/api/v1/tasks/", {"project": project["id"], "title": "raced"}, format="json").json()
    answers: list[tuple[str, int]] = []

    def writer(name: str, client: APIClient, request: Callable[[APIClient, int], object]) -> threading.Thread:
        def run() -> None:
            try:
                for number in range(ROUNDS):
                    response = request(client, number)
                    answers.append((name, response.status_code))  # type: ignore[attr-defined]
            finally:
                connections.close_all()

        return threading.Thread(target=run, name=name)

    threads = [
        # Inserts whose foreign keys are checked at COMMIT, after the chain head...
        writer("label", member, lambda c, n: c.post("/api/v1/labels/", {"name": f"l{n}", "color": "#123456"})),
        writer("comment", member, lambda c, n: c.post(f"/api/v1/tasks/{task['id']}/comments/", {"body": f"c{n}"})),
        writer("task", member, lambda c, n: c.post("/api/v1/tasks/", {"project": project["id"], "title": f"t{n}"})),
        # ...and writes that lock the rows those keys point at, then take the head.
        writer(
            "invitation",
            owner,
            lambda c, n: c.post("/api/v1/invitations/", {"email": f"race{n}@example.com", "role": "member"}),
        ),
        writer("project", owner, lambda c, n: c.patch(f"/api/v1/projects/{project['id']}/", {"name": f"Race {n}"})),
        writer("task update", owner, lambda c, n: c.patch(f"/api/v1/tasks/{task['id']}/", {"title": f"raced {n}"})),
        writer("organization", owner, lambda c, n: c.patch("/api/v1/organization/", {"name": f"Org {n}"})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    refused = [(name, status) for name, status in answers if status >= 300]
    assert len(answers) == ROUNDS * len(threads)
    assert refused == []
