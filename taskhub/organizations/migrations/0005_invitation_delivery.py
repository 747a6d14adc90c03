from django.db import migrations, models

DELIVERY_CHOICES = [("queued", "Queued"), ("sent", "Sent"), ("failed", "Failed")]


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0004_verified_context"),
    ]

    operations = [
        # Every invitation made before the job queue had its email sent in its own request (one
        # that could not be sent was rolled back): the column arrives as "sent" for them, as DDL,
        # which row-level security does not filter. New invitations start "queued".
        migrations.AddField(
            model_name="invitation",
            name="delivery_status",
            field=models.CharField(choices=DELIVERY_CHOICES, default="sent", max_length=8),
        ),
        migrations.AlterField(
            model_name="invitation",
            name="delivery_status",
            field=models.CharField(choices=DELIVERY_CHOICES, default="queued", max_length=8),
        ),
        migrations.AddField(
            model_name="invitation",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="invitation",
            name="delivery_error",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
    ]
