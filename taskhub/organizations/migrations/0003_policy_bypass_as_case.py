"""The tenant policy's bypass as a CASE, so the planner estimates tenant queries right (taskhub.core.rls)."""

from django.db import migrations

from taskhub.core.rls import RewriteRowLevelSecurityPolicy


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0002_row_level_security"),
    ]

    operations = [
        RewriteRowLevelSecurityPolicy(
            "membership",
            extra="user_id = NULLIF(current_setting('app.user_id', true), '')::uuid",
            form=2,
            previous_form=1,
        ),
        RewriteRowLevelSecurityPolicy(
            "invitation",
            extra="token_hash = NULLIF(current_setting('app.invitation_token_hash', true), '')",
            form=2,
            previous_form=1,
        ),
    ]
