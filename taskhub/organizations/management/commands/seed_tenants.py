"""Fill a database with several organizations' worth of realistic rows (drills, load, demos)."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from taskhub.accounts.models import User
from taskhub.accounts.services.api_keys import api_key_create
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.organizations.models import Invitation, Membership, Organization, slug_matches
from taskhub.organizations.services.invitations import hash_token
from taskhub.organizations.services.organizations import organization_create
from taskhub.projects.models import Project
from taskhub.projects.services import project_create
from taskhub.tasks.models import TaskPriority, TaskStatus
from taskhub.tasks.services import task_create
from taskhub.tenancy.models import IdempotencyRecord
from taskhub.tenancy.roles import Role
from taskhub.tenancy.seeding import run_seeders

MEMBER_ROLES = (Role.ADMIN, Role.MEMBER, Role.VIEWER)


def _user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        # No usable password: seeded accounts sign in only after a password reset.
        # The platform made the address: verified, so a password reset can reach it.
        user = User(username=username, email=f"{username}@example.com", email_verified=True)
        user.set_unusable_password()
        user.save()
    return user


def _kept_answer(organization_id: UUID, project: Project) -> None:
    """The Idempotency-Key record a client's ``POST projects/`` would have left (docs/idempotency.md)."""
    body = {"key": project.key, "name": project.name, "description": project.description}
    IdempotencyRecord.objects.create(
        organization_id=organization_id,
        key=f"seed-{project.pk}",
        method="POST",
        path="/api/v1/projects/",
        request_hash=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
        response_status=201,
        response_body=json.dumps({"id": str(project.pk), **body, "status": project.status}),
    )


class Command(BaseCommand):
    help = (
        "Create N organizations (slug <prefix>-<i>), each with an owner and one user per other role, "
        "M projects of K tasks (each project created as with an Idempotency-Key), an API key and a pending "
        "invitation. Existing slugs are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organizations", type=int, default=3)
        parser.add_argument("--projects", type=int, default=2)
        parser.add_argument("--tasks", type=int, default=5)
        parser.add_argument("--prefix", default="tenant", help="slug prefix of the organizations")

    def handle(self, *args: Any, **options: Any) -> None:
        created = 0
        with rls.bypass("seed_tenants"):
            for index in range(1, options["organizations"] + 1):
                slug = f"{options['prefix']}-{index}"
                if Organization.objects.filter(slug_matches(slug)).exists():
                    continue
                self._organization(slug, index, projects=options["projects"], tasks=options["tasks"])
                created += 1
        self.stdout.write(f"Seeded {created} organization(s).")

    def _organization(self, slug: str, index: int, *, projects: int, tasks: int) -> None:
        owner = _user(f"{slug}-owner")
        # organization_create leaves the transaction acting in the new organization.
        organization, _ = organization_create(name=f"Tenant {index}", slug=slug, owner=owner)
        actor = Actor(user_id=owner.pk, label=owner.username)
        members = [owner]
        for role in MEMBER_ROLES:
            user = _user(f"{slug}-{role.value}")
            Membership.objects.create(organization=organization, user=user, role=role)
            members.append(user)
        api_key_create(organization_id=organization.pk, actor=actor, name=f"{slug} CI", role=Role.MEMBER)
        Invitation.objects.create(
            organization=organization,
            email=f"invitee@{slug}.example.com",
            role=Role.MEMBER,
            token_hash=hash_token(secrets.token_urlsafe(32)),
            invited_by=owner,
            expires_at=timezone.now() + timedelta(days=7),
        )
        statuses, priorities = list(TaskStatus), list(TaskPriority)
        for p in range(1, projects + 1):
            project = project_create(
                organization_id=organization.pk,
                actor=actor,
                key=f"P{p}",
                name=f"Project {p} of {slug}",
                description=f"Seeded project {p}.",
            )
            _kept_answer(organization.pk, project)
            for t in range(1, tasks + 1):
                task_create(
                    organization_id=organization.pk,
                    actor=actor,
                    project_id=project.pk,
                    title=f"Task {t} of {project.key}",
                    description="Seeded.",
                    status=statuses[t % len(statuses)],
                    priority=priorities[t % len(priorities)],
                    assignee_id=members[t % len(members)].pk,
                    due_date=timezone.now().date() + timedelta(days=t),
                )
        # Each app's own tables (labels, comments, ...): taskhub.tenancy.seeding.
        run_seeders(organization_id=organization.pk, actor=actor)
