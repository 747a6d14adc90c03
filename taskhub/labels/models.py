from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models
from django.db.models.functions import Upper

from taskhub.tenancy.models import TenantModel

LABEL_NAME_MAX_LENGTH = 50
# The name is unique per organization whatever its case (the create relies on it: no check first).
NAME_UNIQUE = "labels_label_org_name_unique"
LABEL_DESCRIPTION_MAX_LENGTH = 500
# Six hex digits after "#"; stored in lower case, so one colour has one spelling.
LABEL_COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}$"
# A task carries at most this many labels; a task list asks for at most this many at once.
MAX_LABELS_PER_TASK = 20


class Label(TenantModel):
    """A name and a colour that tasks of the organization carry, such as "bug" in red."""

    name = models.CharField(max_length=LABEL_NAME_MAX_LENGTH, validators=[MinLengthValidator(1)])
    color = models.CharField(
        max_length=7, validators=[RegexValidator(LABEL_COLOR_PATTERN, "A colour as #RRGGBB, six hex digits.")]
    )
    description = models.CharField(max_length=LABEL_DESCRIPTION_MAX_LENGTH, blank=True)
    # The tasks that carry it; ``task.labels`` from the other side. Written only through TaskLabel
    # rows, which carry the organization (and so row-level security) as every tenant table does.
    tasks = models.ManyToManyField("tasks.Task", through="TaskLabel", related_name="labels", blank=True)

    class Meta:
        constraints = [
            # Case-insensitive even for rows written around the API (admin, shell).
            models.UniqueConstraint(models.F("organization"), Upper("name"), name=NAME_UNIQUE),
        ]
        indexes = [
            models.Index(fields=["organization", "name"], name="label_org_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class TaskLabel(TenantModel):
    """One task carrying one label: the join table, owned by the organization like the two rows it joins."""

    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            # Led by the organization as every index of a tenant table; task and label decide it.
            models.UniqueConstraint(
                fields=["organization", "task", "label"], name="labels_tasklabel_org_task_label_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} {self.label_id}"
