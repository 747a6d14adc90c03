"""The tenant policies read the verified context, with no bypass branch (taskhub.core.rls, form 3)."""

from django.db import migrations

from taskhub.core.rls import EXTRA, RewriteRowLevelSecurityPolicy


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0003_policy_bypass_as_case"),
        ("core", "0001_tenant_context"),
    ]

    operations = [
        RewriteRowLevelSecurityPolicy(
            "membership",
            extra=EXTRA["user_id"],
            form=3,
            previous_form=2,
            previous_extra="user_id = NULLIF(current_setting('app.user_id', true), '')::uuid",
        ),
        RewriteRowLevelSecurityPolicy(
            "invitation",
            extra=EXTRA["token_hash"],
            form=3,
            previous_form=2,
            previous_extra="token_hash = NULLIF(current_setting('app.invitation_token_hash', true), '')",
        ),
    ]
