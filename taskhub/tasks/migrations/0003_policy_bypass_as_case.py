"""The tenant policy's bypass as a CASE, so the planner estimates tenant queries right (taskhub.core.rls)."""

from django.db import migrations

from taskhub.core.rls import RewriteRowLevelSecurityPolicy


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0002_row_level_security"),
    ]

    operations = [
        RewriteRowLevelSecurityPolicy("task", form=2, previous_form=1),
    ]
