from django.db import migrations

from taskhub.core.rls import EnableRowLevelSecurity


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0001_initial'),
    ]

    operations = [
        EnableRowLevelSecurity("task", form=1),
    ]
