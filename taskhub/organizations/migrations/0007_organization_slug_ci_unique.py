"""Organization slugs unique case-insensitively; names without control or format characters.

Before the constraint, slugs equal but for case are made distinct: the oldest organization keeps
its slug, each later one gets the first free ``<slug>-2``, ``<slug>-3``... Names are cleaned the
way ``organization_create`` cleans them from now on; a name with nothing left takes its slug.
"""

import django.db.models.functions.text
from django.db import migrations, models

from taskhub.core.text import single_line


def clean_names_and_slugs(apps, schema_editor):
    Organization = apps.get_model("organizations", "Organization")
    organizations = list(Organization.objects.order_by("created_at", "pk"))
    # Every slug in use, so a new "-2" never lands on another organization's slug.
    used = {organization.slug.lower() for organization in organizations}
    kept: set[str] = set()
    for organization in organizations:
        fields = []
        name = single_line(organization.name) or organization.slug
        if name != organization.name:
            organization.name = name
            fields.append("name")
        if organization.slug.lower() in kept:
            suffix = 2
            while f"{organization.slug[:54]}-{suffix}".lower() in used:
                suffix += 1
            organization.slug = f"{organization.slug[:54]}-{suffix}"
            used.add(organization.slug.lower())
            fields.append("slug")
        kept.add(organization.slug.lower())
        if fields:
            organization.save(update_fields=fields)


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0006_organizationexport"),
    ]

    operations = [
        migrations.RunPython(clean_names_and_slugs, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="organization",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("slug"), name="organizations_organization_slug_ci_unique"
            ),
        ),
    ]
