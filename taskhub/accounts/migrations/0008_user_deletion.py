"""What deleting a user needs from the database: usernames unique case-insensitively, and foreign
keys to the user that act in the database.

Django emulates ``on_delete`` in Python: for SET_NULL it runs its own UPDATE, which under
row-level security reaches only the rows of the organization in context. A task a deleted user
created in an organization they had left would keep pointing at them, and the delete would fail
at commit. So every foreign key to the user gets the action its field declares, in PostgreSQL
(``ON DELETE SET NULL`` or ``CASCADE``): referential actions run as the table's owner, past
row-level security. ``taskhub/accounts/tests/test_account_deletion.py`` checks that every such
key agrees with its field, so a later migration that rebuilds one is caught.

Two usernames that differ only in case make the constraint fail: the migration names them.
"""

from django.db import migrations, models
from django.db.models.functions import Lower

ACTIONS = {"SET_NULL": "SET NULL", "CASCADE": "CASCADE"}


def user_foreign_keys(apps, user_table):
    """Yield (table, column, referenced column, action) for every foreign key to the user table."""
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.local_fields:
            remote = getattr(field, "remote_field", None)
            if remote is None or not field.many_to_one or not getattr(field, "db_constraint", False):
                continue
            if remote.model._meta.db_table != user_table:
                continue
            action = ACTIONS.get(remote.on_delete.__name__)
            if action is not None:
                yield model._meta.db_table, field.column, field.target_field.column, action


def _set_actions(apps, schema_editor, *, declared):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    user_table = apps.get_model("accounts", "User")._meta.db_table
    quote = schema_editor.quote_name
    with connection.cursor() as cursor:
        for table, column, target, action in user_foreign_keys(apps, user_table):
            cursor.execute(
                """
                SELECT c.conname FROM pg_constraint c
                JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                WHERE c.contype = 'f' AND c.conrelid = %s::regclass AND c.confrelid = %s::regclass
                  AND array_length(c.conkey, 1) = 1 AND a.attname = %s
                """,
                [quote(table), quote(user_table), column],
            )
            for (name,) in cursor.fetchall():
                on_delete = action if declared else "NO ACTION"
                schema_editor.execute(
                    f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}, ADD CONSTRAINT {quote(name)} "
                    f"FOREIGN KEY ({quote(column)}) REFERENCES {quote(user_table)} ({quote(target)}) "
                    f"ON DELETE {on_delete} DEFERRABLE INITIALLY DEFERRED"
                )


def forwards(apps, schema_editor):
    _set_actions(apps, schema_editor, declared=True)


def backwards(apps, schema_editor):
    _set_actions(apps, schema_editor, declared=False)


def refuse_username_duplicates(apps, schema_editor):
    user = apps.get_model("accounts", "User")
    names = (
        user.objects.annotate(folded=Lower("username"))
        .values("folded")
        .annotate(count=models.Count("id"))
        .filter(count__gt=1)
        .values_list("folded", flat=True)
    )
    clashes = sorted(names)
    if clashes:
        raise RuntimeError(
            "Usernames must be unique regardless of case; rename one of each of these before migrating: "
            + ", ".join(clashes[:20])
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_outstanding_tokens_hashed"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("audit", "0004_verified_context"),
        ("comments", "0001_initial"),
        ("labels", "0001_initial"),
        ("organizations", "0006_organizationexport"),
        ("projects", "0004_verified_context"),
        ("tasks", "0005_updated_since_index"),
        ("token_blacklist", "0013_alter_blacklistedtoken_options_and_more"),
    ]

    operations = [
        migrations.RunPython(refuse_username_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
        ),
        migrations.RunPython(forwards, backwards),
    ]
