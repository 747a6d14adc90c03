"""Property: whatever three organizations do over the API, none ever sees or changes another's rows.

A hypothesis state machine drives the real API through the Django test client: each
organization's owner creates, updates, deletes, lists (with filters and search) and
retrieves projects and tasks, and tries the other organizations' ids in URLs and in body
references. A model records what each organization owns. After every step:

- no response to organization X contains an id, or a string, that another organization owns
  (every string an organization writes carries its own tag);
- every cross-organization attempt answered 404 (an id in the URL) or 400 (an id in the body);
- the database holds exactly the rows the model says, per organization: so a refused
  attempt changed nothing anywhere.

Each example runs in a savepoint that is rolled back at its end, so examples start clean
and the organizations are new each time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import pytest
from django.db import transaction
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from rest_framework.test import APIClient

from taskhub.accounts.models import User
from taskhub.accounts.tokens import token_pair
from taskhub.organizations.models import Membership, Organization
from taskhub.projects.models import Project
from taskhub.tasks.models import Task
from taskhub.tenancy.roles import Role

ORGANIZATIONS = 3
PROJECTS = "/api/v1/projects/"
TASKS = "/api/v1/tasks/"
# Bounded and deterministic for CI: the same examples every run, about 30 s on PostgreSQL here.
settings.register_profile(
    "isolation",
    derandomize=True,
    database=None,
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    print_blob=False,
)
PROFILE = settings.get_profile("isolation")

# Printable text without control characters (NUL is refused with a 400 on purpose, tested elsewhere).
words = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=12)
task_statuses = st.sampled_from(["todo", "in_progress", "done", "cancelled"])
priorities = st.sampled_from(["low", "medium", "high", "urgent"])
project_statuses = st.sampled_from(["active", "archived"])
# Complete, valid PUT bodies: a foreign id must be a 404 even when the body is acceptable.
FULL_BODIES: dict[str, dict[str, Any]] = {
    PROJECTS: {"key": "GOT", "name": "", "description": "", "status": "active"},
    TASKS: {
        "title": "took it",
        "description": "",
        "status": "done",
        "priority": "low",
        "assignee": None,
        "due_date": None,
    },
}


@dataclass
class Org:
    """One organization as the model sees it."""

    tag: str
    organization_id: str
    client: APIClient
    user_ids: list[str]
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys_made: int = 0

    def owned(self) -> set[str]:
        return {self.tag, self.organization_id, *self.user_ids, *self.projects, *self.tasks}


class Counter:
    examples = 0
    checks = 0
    requests = 0


class CrossOrganizationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        Counter.examples += 1
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        self.orgs = [self._organization() for _ in range(ORGANIZATIONS)]
        # Every organization starts with a project, so the first steps already have rows to cross into.
        for org in self.orgs:
            self._create_project(org, "first", "active")

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    @staticmethod
    def _organization() -> Org:
        tag = f"tag{uuid4().hex[:10]}"
        organization = Organization.objects.create(name=f"{tag} org", slug=tag)
        owner, member = (
            User.objects.create(username=f"{tag}-{role}", email=f"{role}@{tag}.example") for role in ("o", "m")
        )
        owner_membership = Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
        Membership.objects.create(organization=organization, user=member, role=Role.MEMBER)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair(owner_membership)['access']}")
        return Org(
            tag=tag, organization_id=str(organization.pk), client=client, user_ids=[str(owner.pk), str(member.pk)]
        )

    # Helpers.

    def _others(self, org: Org) -> list[Org]:
        return [other for other in self.orgs if other is not org]

    def _foreign_ids(self, org: Org) -> list[str]:
        return [value for other in self._others(org) for value in (*other.projects, *other.tasks)]

    def _send(
        self, org: Org, method: str, url: str, body: dict[str, Any] | None = None, sent: tuple[str, ...] = ()
    ) -> Any:
        Counter.requests += 1
        response = (
            getattr(org.client, method)(url, body, format="json")
            if body is not None
            else getattr(org.client, method)(url)
        )
        assert response.status_code < 500, (method, url, response.status_code, response.content[:300])
        self._assert_no_leak(org, response, sent)
        return response

    def _assert_no_leak(self, org: Org, response: Any, sent: tuple[str, ...]) -> None:
        if response.status_code == 204:
            return
        body = response.json()
        # A list echoes its query in next/previous links; only the rows count.
        text = json.dumps(body["results"] if isinstance(body, dict) and "results" in body else body, ensure_ascii=False)
        for other in self._others(org):
            leaked = {value for value in other.owned() - set(sent) if value in text}
            assert not leaked, f"{org.tag} was shown {sorted(leaked)[:3]} of {other.tag}"

    def _pick(self, data: st.DataObject, values: Any) -> Any:
        return data.draw(st.sampled_from(list(values)))

    # Own work.

    @rule(index=st.integers(0, ORGANIZATIONS - 1), name=words, status=project_statuses)
    def create_project(self, index: int, name: str, status: str) -> None:
        self._create_project(self.orgs[index], name, status)

    def _create_project(self, org: Org, name: str, status: str) -> None:
        org.keys_made += 1
        body = {"key": f"P{org.keys_made}", "name": f"{org.tag} {name}", "status": status}
        response = self._send(org, "post", PROJECTS, body)
        assert response.status_code == 201, response.content
        created = response.json()
        org.projects[created["id"]] = {"key": body["key"], "name": body["name"].strip(), "status": status}

    @precondition(lambda self: any(org.projects for org in self.orgs))
    @rule(data=st.data(), name=words)
    def rename_project(self, data: st.DataObject, name: str) -> None:
        org = self._pick(data, [org for org in self.orgs if org.projects])
        project_id = self._pick(data, org.projects)
        response = self._send(org, "patch", f"{PROJECTS}{project_id}/", {"name": f"{org.tag} {name}"})
        assert response.status_code == 200, response.content
        org.projects[project_id]["name"] = f"{org.tag} {name}".strip()

    @precondition(lambda self: any(org.projects for org in self.orgs))
    @rule(data=st.data())
    def delete_project(self, data: st.DataObject) -> None:
        org = self._pick(data, [org for org in self.orgs if org.projects])
        project_id = self._pick(data, org.projects)
        assert self._send(org, "delete", f"{PROJECTS}{project_id}/").status_code == 204
        del org.projects[project_id]
        org.tasks = {task_id: task for task_id, task in org.tasks.items() if task["project"] != project_id}

    @precondition(lambda self: any(org.projects for org in self.orgs))
    @rule(data=st.data(), title=words, priority=priorities)
    def create_task(self, data: st.DataObject, title: str, priority: str) -> None:
        org = self._pick(data, [org for org in self.orgs if org.projects])
        project_id = self._pick(data, org.projects)
        assignee = self._pick(data, [None, *org.user_ids])
        body = {"project": project_id, "title": f"{org.tag} {title}", "priority": priority, "assignee": assignee}
        response = self._send(org, "post", TASKS, body)
        assert response.status_code == 201, response.content
        created = response.json()
        numbers = [task["number"] for task in org.tasks.values() if task["project"] == project_id]
        assert created["number"] > max(numbers, default=0)
        org.tasks[created["id"]] = {
            "project": project_id,
            "number": created["number"],
            "title": body["title"].strip(),
            "assignee": assignee,
            "status": "todo",
        }

    @precondition(lambda self: any(org.tasks for org in self.orgs))
    @rule(data=st.data(), status=task_statuses)
    def update_task(self, data: st.DataObject, status: str) -> None:
        org = self._pick(data, [org for org in self.orgs if org.tasks])
        task_id = self._pick(data, org.tasks)
        assignee = self._pick(data, [None, *org.user_ids])
        response = self._send(org, "patch", f"{TASKS}{task_id}/", {"status": status, "assignee": assignee})
        assert response.status_code == 200, response.content
        org.tasks[task_id].update(status=status, assignee=assignee)

    @precondition(lambda self: any(org.tasks for org in self.orgs))
    @rule(data=st.data())
    def delete_task(self, data: st.DataObject) -> None:
        org = self._pick(data, [org for org in self.orgs if org.tasks])
        task_id = self._pick(data, org.tasks)
        assert self._send(org, "delete", f"{TASKS}{task_id}/").status_code == 204
        del org.tasks[task_id]

    @precondition(lambda self: any(org.projects or org.tasks for org in self.orgs))
    @rule(data=st.data())
    def retrieve_own(self, data: st.DataObject) -> None:
        org = self._pick(data, [org for org in self.orgs if org.projects or org.tasks])
        rows = [(PROJECTS, row_id) for row_id in org.projects] + [(TASKS, row_id) for row_id in org.tasks]
        base, row_id = self._pick(data, rows)
        response = self._send(org, "get", f"{base}{row_id}/")
        assert response.status_code == 200, response.content
        expected = org.projects.get(row_id) or org.tasks[row_id]
        assert response.json()[("name" if base == PROJECTS else "title")] == expected.get("name", expected.get("title"))

    @rule(
        index=st.integers(0, ORGANIZATIONS - 1),
        data=st.data(),
        resource=st.sampled_from([PROJECTS, TASKS]),
        search=st.one_of(st.none(), words),
    )
    def list_with_filters(self, index: int, data: st.DataObject, resource: str, search: str | None) -> None:
        org = self.orgs[index]
        query: dict[str, str] = {"page_size": "100"}
        if search is not None:
            query["search"] = search
        sent: tuple[str, ...] = ()
        if resource == TASKS:
            # Filters that name another organization's project or user find nothing (or a 400).
            references = [None, *org.projects, *org.user_ids, *self._foreign_ids(org), *self._foreign_users(org)]
            reference = self._pick(data, references)
            if reference is not None:
                query["project" if reference in org.projects or reference in self._foreign_ids(org) else "assignee"] = (
                    reference
                )
                sent = (reference,)
            if data.draw(st.booleans()):
                query["status"] = data.draw(task_statuses)
        elif data.draw(st.booleans()):
            query["status"] = data.draw(project_statuses)
        query["ordering"] = self._pick(data, ["-created_at", "created_at", "-updated_at"])
        if search is not None:
            sent += (search,)
        response = self._send(
            org, "get", resource + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items()), sent=sent
        )
        assert response.status_code in (200, 400), response.content
        if response.status_code != 200:
            return
        own = org.projects if resource == PROJECTS else org.tasks
        ids = [row["id"] for row in response.json()["results"]]
        assert set(ids) <= set(own)
        if set(query) == {"page_size", "ordering"}:
            assert set(ids) == set(own)

    # Crossing into another organization.

    def _foreign_users(self, org: Org) -> list[str]:
        return [user_id for other in self._others(org) for user_id in other.user_ids]

    @precondition(lambda self: any(self._foreign_ids(org) for org in self.orgs))
    @rule(
        data=st.data(),
        method=st.sampled_from(["get", "patch", "put", "delete"]),
    )
    def touch_a_foreign_id(self, data: st.DataObject, method: str) -> None:
        org = self._pick(data, [org for org in self.orgs if self._foreign_ids(org)])
        row_id = self._pick(data, self._foreign_ids(org))
        owner = next(other for other in self._others(org) if row_id in other.projects or row_id in other.tasks)
        base = PROJECTS if row_id in owner.projects else TASKS
        body = None if method in ("get", "delete") else FULL_BODIES[base] | {"name": f"{org.tag} took it"}
        response = self._send(org, method, f"{base}{row_id}/", body, sent=(row_id,))
        assert response.status_code == 404, (method, response.status_code, response.content)
        if base == PROJECTS:
            response = self._send(org, "get", f"{PROJECTS}{row_id}/tasks/", sent=(row_id,))
            assert response.status_code == 404, response.content

    @precondition(lambda self: any(org.projects for org in self.orgs))
    @rule(data=st.data())
    def reference_a_foreign_row(self, data: st.DataObject) -> None:
        org = self._pick(data, [org for org in self.orgs if org.projects])
        foreign_projects = [p for other in self._others(org) for p in other.projects]
        choices = [("project", p) for p in foreign_projects] + [("assignee", u) for u in self._foreign_users(org)]
        name, value = self._pick(data, choices)
        if name == "project":
            body: dict[str, Any] = {"project": value, "title": f"{org.tag} smuggled"}
            response = self._send(org, "post", TASKS, body, sent=(value,))
        elif org.tasks and data.draw(st.booleans()):
            task_id = self._pick(data, org.tasks)
            response = self._send(org, "patch", f"{TASKS}{task_id}/", {"assignee": value}, sent=(value,))
        else:
            body = {"project": self._pick(data, org.projects), "title": f"{org.tag} smuggled", "assignee": value}
            response = self._send(org, "post", TASKS, body, sent=(value,))
        assert response.status_code == 400, response.content
        assert name in response.json().get("errors", {}), response.content

    # After every step: the database is exactly the model, organization by organization.

    @invariant()
    def database_matches_the_model(self) -> None:
        Counter.checks += 1
        for org in self.orgs:
            projects = {
                str(p.pk): {"key": p.key, "name": p.name, "status": p.status}
                for p in Project.objects.filter(organization_id=org.organization_id)
            }
            assert projects == org.projects
            tasks = {
                str(t.pk): {
                    "project": str(t.project_id),
                    "number": t.number,
                    "title": t.title,
                    "assignee": None if t.assignee_id is None else str(t.assignee_id),
                    "status": t.status,
                }
                for t in Task.objects.filter(organization_id=org.organization_id)
            }
            assert tasks == org.tasks


@pytest.mark.django_db
def test_no_sequence_of_operations_crosses_organizations():
    Counter.examples = Counter.checks = Counter.requests = 0
    started = time.monotonic()
    run_state_machine_as_test(CrossOrganizationMachine, settings=PROFILE)
    elapsed = time.monotonic() - started
    # The figures quoted in docs/security.md; -s shows them.
    # The invariant runs once before the first step of each example and after every step.
    steps = Counter.checks - Counter.examples
    figures = f"{Counter.examples} examples, {steps} steps, {Counter.requests} requests, {elapsed:.1f} s"
    print(f"\nisolation property: {figures}")  # noqa: T201
    assert Counter.examples >= PROFILE.max_examples
