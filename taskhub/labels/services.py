"""Writes to labels, each one audited; and the one way a task's set of labels changes."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack
from uuid import UUID

from django.db import transaction

from taskhub.audit.services import audit_record, audit_record_creation, audited_delete, changes_between
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError, refused_by
from taskhub.labels.models import MAX_LABELS_PER_TASK, NAME_UNIQUE, Label, TaskLabel
from taskhub.labels.selectors import sorted_ids
from taskhub.tenancy.services import locked


class LabelChanges(TypedDict, total=False):
    name: str
    color: str
    description: str


def _snapshot(label: Label) -> dict[str, Any]:
    return {"name": label.name, "color": label.color, "description": label.description}


def _name_taken() -> DomainError:
    return DomainError("Another label in this organization has this name.", code="name_taken", field="name")


@transaction.atomic
def label_create(*, organization_id: UUID, actor: Actor, name: str, color: str, description: str = "") -> Label:
    """Create a label whose name no other label of the organization has, whatever the case."""
    # The unique index on (organization, upper(name)) is the check: no statement asks first.
    label = Label(organization_id=organization_id, name=name, color=color.lower(), description=description)
    with refused_by(NAME_UNIQUE, _name_taken):
        label.save(force_insert=True)
    audit_record_creation(
        organization_id=organization_id,
        actor=actor,
        action="label.created",
        target=label,
        fields=_snapshot(label),
    )
    return label


@transaction.atomic
def label_update(*, organization_id: UUID, label_id: UUID, actor: Actor, **fields: Unpack[LabelChanges]) -> Label:
    """Rename a label, recolour it or change its description; the tasks carrying it keep it."""
    unknown = set(fields) - LabelChanges.__optional_keys__
    if unknown:
        raise TypeError(f"label_update got unknown fields: {', '.join(sorted(unknown))}")
    label = locked(Label, organization_id=organization_id, pk=label_id)
    before = _snapshot(label)
    if "color" in fields:
        fields["color"] = fields["color"].lower()
    # A name another label has is the unique index's to refuse (below), as on create.
    for name, value in fields.items():
        setattr(label, name, value)
    changes = changes_between(before, _snapshot(label))
    if not changes:
        return label
    with refused_by(NAME_UNIQUE, _name_taken):
        label.save(update_fields=[*changes, "updated_at"])
    audit_record(organization_id=organization_id, actor=actor, action="label.updated", target=label, changes=changes)
    return label


@transaction.atomic
def label_delete(*, organization_id: UUID, label_id: UUID, actor: Actor) -> None:
    """Delete a label and take it off every task that carries it (their ``updated_at`` stays)."""
    label = locked(Label, organization_id=organization_id, pk=label_id)
    audited_delete(
        organization_id=organization_id, actor=actor, action="label.deleted", target=label, fields=_snapshot(label)
    )


def task_labels_replace(
    *, organization_id: UUID, task_id: UUID, current: list[UUID], label_ids: list[UUID]
) -> list[UUID]:
    """Make ``label_ids`` the labels of a task that now carries ``current``; return them as a task shows them.

    The caller holds the task's row lock and audits the change. Repeated ids count once; more
    than ``MAX_LABELS_PER_TASK`` is a 400, and so is an id that is no label of the organization
    (another organization's included), naming it. The labels added are locked until the
    transaction ends, so a label deleted meanwhile is either refused here or finds this task's
    new row when it deletes the ones that carry it.
    """
    wanted = sorted_ids(label_ids)
    if len(wanted) > MAX_LABELS_PER_TASK:
        raise DomainError(
            f"A task carries at most {MAX_LABELS_PER_TASK} labels; {len(wanted)} were given.",
            code="too_many",
            field="labels",
        )
    carried = set(current)
    added = [label_id for label_id in wanted if label_id not in carried]
    removed = [label_id for label_id in current if label_id not in set(wanted)]
    if added:
        found = set(
            Label.objects.select_for_update(no_key=True)
            .filter(organization_id=organization_id, pk__in=added)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        missing = [str(label_id) for label_id in added if label_id not in found]
        if missing:
            raise DomainError(
                f"No label of this organization has the id {', '.join(missing)}.",
                code="does_not_exist",
                field="labels",
            )
    if removed:
        TaskLabel.objects.filter(organization_id=organization_id, task_id=task_id, label_id__in=removed).delete()
    if added:
        TaskLabel.objects.bulk_create(
            TaskLabel(organization_id=organization_id, task_id=task_id, label_id=label_id) for label_id in added
        )
    return wanted


def seed_labels(*, organization_id: UUID, actor: Actor) -> None:
    """Sample labels, carried by the organization's first tasks (``seed_tenants``, taskhub.tenancy.seeding)."""
    from taskhub.tasks.models import Task  # noqa: PLC0415 - tasks import this module

    labels = [
        label_create(organization_id=organization_id, actor=actor, name=name, color=color)
        for name, color in (("Bug", "#d73a4a"), ("Feature", "#0e8a16"))
    ]
    tasks = Task.objects.filter(organization_id=organization_id).order_by("created_at", "pk")[:3]
    for task in tasks:
        task_labels_replace(
            organization_id=organization_id, task_id=task.pk, current=[], label_ids=[label.pk for label in labels]
        )
