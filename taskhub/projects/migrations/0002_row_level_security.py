from django.db import migrations

from taskhub.core.rls import EnableRowLevelSecurity


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0001_initial'),
    ]

    operations = [
        EnableRowLevelSecurity("project", form=1),
    ]
