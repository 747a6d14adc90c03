"""The tenant policy reads the verified context, with no bypass branch (taskhub.core.rls, form 3)."""

from django.db import migrations

from taskhub.core.rls import RewriteRowLevelSecurityPolicy


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_policy_bypass_as_case"),
        ("core", "0001_tenant_context"),
    ]

    operations = [
        RewriteRowLevelSecurityPolicy("auditevent", form=3, previous_form=2),
    ]
