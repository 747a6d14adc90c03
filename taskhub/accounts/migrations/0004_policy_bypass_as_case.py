"""The tenant policy's bypass as a CASE, so the planner estimates tenant queries right (taskhub.core.rls)."""

from django.db import migrations

from taskhub.core.rls import RewriteRowLevelSecurityPolicy


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_row_level_security"),
    ]

    operations = [
        RewriteRowLevelSecurityPolicy(
            "apikey",
            extra="prefix = NULLIF(current_setting('app.api_key_prefix', true), '')",
            form=2,
            previous_form=1,
        ),
    ]
