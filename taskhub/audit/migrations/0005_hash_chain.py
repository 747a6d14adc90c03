"""The audit log as a hash chain per organization, kept after the organization is deleted, append-only.

- ``seq``, ``prev_hash``, ``hash`` on every event; the events already stored are chained here,
  per organization, oldest first (taskhub.audit.chain);
- ``ChainHead``: the row an append locks (row-level security like every tenant table);
- no database foreign key from an event to its organization, user or API key, and no cascade:
  the events outlive all three;
- ``created_at`` set by the chain (not ``auto_now_add``): it is hashed;
- the trigger that moves the head to each event inserted, and the append-only trigger
  (taskhub.audit.database); ``migrate`` then takes UPDATE, DELETE and TRUNCATE from the app role
  (taskhub.core.dbroles.apply_grants).
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from taskhub.audit.database import AdvanceHeadOnInsert, MakeAppendOnly
from taskhub.core.rls import EnableRowLevelSecurity

GENESIS_HASH = "0" * 64
BATCH = 1000


def chain_existing_events(apps, schema_editor):
    from taskhub.audit.chain import event_hash  # noqa: PLC0415 - the encoding is versioned: v1 stays v1

    AuditEvent = apps.get_model("audit", "AuditEvent")
    ChainHead = apps.get_model("audit", "ChainHead")
    table = AuditEvent._meta.db_table
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        # The owner obeys the forced policy too, and has no tenant context here: for this
        # transaction it reads every organization's events (DDL is transactional).
        schema_editor.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    organizations = AuditEvent.objects.values_list("organization_id", flat=True).distinct().order_by()
    for organization_id in sorted(set(organizations), key=str):
        seq, previous, last_at = 0, GENESIS_HASH, None
        batch = []
        for event in AuditEvent.objects.filter(organization_id=organization_id).order_by("created_at", "id"):
            seq += 1
            event.seq, event.prev_hash = seq, previous
            event.hash = previous = event_hash({name: getattr(event, name) for name in _hashed()})
            last_at = event.created_at
            batch.append(event)
            if len(batch) >= BATCH:
                AuditEvent.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])
                batch = []
        AuditEvent.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])
        ChainHead.objects.create(organization_id=organization_id, seq=seq, hash=previous, created_at=last_at)
    if postgresql:
        schema_editor.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')


def _hashed():
    from taskhub.audit.chain import HASHED_FIELDS  # noqa: PLC0415

    return HASHED_FIELDS


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_user_deletion"),
        ("audit", "0004_verified_context"),
        ("core", "0001_tenant_context"),
        ("organizations", "0007_organization_slug_ci_unique"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ChainHead",
            fields=[
                (
                    "organization",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="organizations.organization",
                    ),
                ),
                ("seq", models.BigIntegerField(default=0)),
                ("hash", models.CharField(default=GENESIS_HASH, max_length=64)),
                ("created_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        EnableRowLevelSecurity("chainhead"),
        migrations.AlterField(
            model_name="auditevent",
            name="organization",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="organizations.organization",
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor_api_key",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="accounts.apikey",
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor_user",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(model_name="auditevent", name="seq", field=models.BigIntegerField(null=True)),
        migrations.AddField(model_name="auditevent", name="prev_hash", field=models.CharField(max_length=64, null=True)),
        migrations.AddField(model_name="auditevent", name="hash", field=models.CharField(max_length=64, null=True)),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(model_name="auditevent", name="seq", field=models.BigIntegerField()),
        migrations.AlterField(model_name="auditevent", name="prev_hash", field=models.CharField(max_length=64)),
        migrations.AlterField(model_name="auditevent", name="hash", field=models.CharField(max_length=64)),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("organization", "seq"), name="audit_org_seq_unique"),
        ),
        AdvanceHeadOnInsert("auditevent", "chainhead"),
        MakeAppendOnly("auditevent"),
    ]
