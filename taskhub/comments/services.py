"""Writes to comments; each one is audited.

The writer of a comment is its ``author`` (a user) or its ``api_key`` (a key with role
member). Only the writer edits it; the writer, an admin or an owner deletes it.
"""

from __future__ import annotations

from typing import Any, TypedDict, Unpack
from uuid import UUID

from django.db import transaction

from taskhub.audit.services import audit_record, audit_record_creation, audited_delete, changes_between
from taskhub.comments.models import Comment
from taskhub.core.actor import Actor
from taskhub.core.errors import Forbidden, NotFound
from taskhub.tasks.models import Task
from taskhub.tenancy.roles import Role
from taskhub.tenancy.services import locked

NOT_AUTHOR = "not_author"


class CommentChanges(TypedDict, total=False):
    body: str


def _snapshot(comment: Comment) -> dict[str, Any]:
    """Return the audited fields by their API names, as JSON values."""
    return {
        "task": str(comment.task_id),
        "author": None if comment.author_id is None else str(comment.author_id),
        "api_key": None if comment.api_key_id is None else str(comment.api_key_id),
        "body": comment.body,
    }


def is_writer(comment: Comment, actor: Actor) -> bool:
    """Return whether ``actor`` wrote ``comment``: its user, or its API key. A comment whose writer is gone has none."""
    if comment.author_id is not None:
        return comment.author_id == actor.user_id
    if comment.api_key_id is not None:
        return comment.api_key_id == actor.api_key_id
    return False


@transaction.atomic
def comment_create(*, organization_id: UUID, actor: Actor, task_id: UUID, body: str) -> Comment:
    """Comment on a task of the organization, as the acting user or API key."""
    # Locked (FOR NO KEY UPDATE) until the request ends: a concurrent delete of the task waits for
    # this comment and deletes it with the task, or went first and the task is not found here.
    task = Task.objects.select_for_update(no_key=True).filter(pk=task_id, organization_id=organization_id)
    if task.values_list("pk", flat=True).first() is None:
        raise NotFound("Task not found.")
    comment = Comment(
        organization_id=organization_id,
        task_id=task_id,
        # An API key acts for no user: the key is the writer.
        author_id=actor.user_id,
        api_key_id=None if actor.user_id is not None else actor.api_key_id,
        body=body,
    )
    comment.save(force_insert=True)
    audit_record_creation(
        organization_id=organization_id,
        actor=actor,
        action="comment.created",
        target=comment,
        fields=_snapshot(comment),
    )
    return comment


@transaction.atomic
def comment_update(
    *, organization_id: UUID, comment_id: UUID, actor: Actor, role: str, **fields: Unpack[CommentChanges]
) -> Comment:
    """Change a comment's body; only its writer may, whatever their ``role`` (an admin's too is refused)."""
    unknown = set(fields) - CommentChanges.__optional_keys__
    if unknown:
        raise TypeError(f"comment_update got unknown fields: {', '.join(sorted(unknown))}")
    comment = locked(Comment, organization_id=organization_id, pk=comment_id)
    if not is_writer(comment, actor):
        raise Forbidden("Only the comment's author may edit it.", code=NOT_AUTHOR)
    changing = {name: value for name, value in fields.items() if getattr(comment, name) != value}
    if not changing:
        return comment
    before = _snapshot(comment)
    for name, value in changing.items():
        setattr(comment, name, value)
    comment.save(update_fields=[*changing, "updated_at"])
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="comment.updated",
        target=comment,
        changes=changes_between(before, _snapshot(comment)),
    )
    return comment


@transaction.atomic
def comment_delete(*, organization_id: UUID, comment_id: UUID, actor: Actor, role: str) -> None:
    """Delete a comment: its writer may, and so may an admin or an owner (moderation)."""
    comment = locked(Comment, organization_id=organization_id, pk=comment_id)
    if not (is_writer(comment, actor) or Role(role).at_least(Role.ADMIN)):
        raise Forbidden("Only the comment's author, an admin or an owner may delete it.", code=NOT_AUTHOR)
    audited_delete(
        organization_id=organization_id,
        actor=actor,
        action="comment.deleted",
        target=comment,
        fields=_snapshot(comment),
    )


def seed_comments(*, organization_id: UUID, actor: Actor) -> None:
    """A sample comment on each of the organization's first tasks (``seed_tenants``, taskhub.tenancy.seeding)."""
    task_ids = Task.objects.filter(organization_id=organization_id).order_by("created_at", "pk")[:3]
    for task_id in task_ids.values_list("pk", flat=True):
        comment_create(organization_id=organization_id, actor=actor, task_id=task_id, body="Seeded comment.")
