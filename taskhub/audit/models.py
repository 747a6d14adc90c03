import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

# The ``prev_hash`` of an organization's first event.
GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    """Who did what to which object of an organization, when, from where; one link of its chain.

    Rows are evidence: never updated, deleted only by the retention purge (taskhub.audit.chain,
    docs/audit.md). They outlive what they name, so no column is a database foreign key: the
    organization, the user and the API key may be deleted and the event still says who it was.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No constraint and no cascade: deleting the organization keeps its log (row-level security
    # still scopes the rows by this column).
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # The ids as they were when the event was written, kept after the user or key is gone.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # Kept as text so the event still says who it was after the user or key is gone.
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    # Set by the chain when the event is appended, never after: it is part of the hash.
    created_at = models.DateTimeField(default=timezone.now)
    # The event's place in its organization's chain (1, 2, ...), the hash of the event before it
    # (GENESIS_HASH for the first) and its own hash over its canonical encoding.
    seq = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    # The export writes a chain in its order, so the import verifies it as it streams (organizations.export).
    export_order = "seq"

    class Meta:
        constraints = [
            # One event per place: two appends that raced past the lock could not both land.
            models.UniqueConstraint(fields=["organization", "seq"], name="audit_org_seq_unique"),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="audit_org_created_idx"),
            models.Index(fields=["organization", "action"], name="audit_org_action_idx"),
            models.Index(fields=["organization", "target_type", "target_id"], name="audit_org_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"


class ChainHead(models.Model):
    """The last link of an organization's chain: the row an append locks, so appends never fork.

    Not evidence (the events are): a cache of the last event's place, hash and time, which
    verification compares with the events (a removed tail shows) and appends lock FOR UPDATE.
    Kept after the organization is deleted, like its events.
    """

    # The organization is the key. No constraint and no cascade: kept after the organization, like its events.
    organization = models.OneToOneField(
        "organizations.Organization",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    # The last event's time: the next one is never earlier, so time and place agree.
    created_at = models.DateTimeField(null=True, blank=True)

    # Derived from the events, which the export carries: an import rebuilds it.
    exported = False

    def __str__(self) -> str:
        return f"audit chain of {self.organization_id}"
