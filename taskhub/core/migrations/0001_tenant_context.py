"""The verified tenant context: schema taskhub_rls, its key table and functions (taskhub.core.rls)."""

from django.db import migrations

from taskhub.core.rls import CreateTenantContext


class Migration(migrations.Migration):
    dependencies: list[tuple[str, str]] = []

    operations = [CreateTenantContext()]
