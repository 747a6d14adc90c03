from typing import Any

from rest_framework import serializers

from taskhub.organizations.models import ExportStatus


class OrganizationExportQueuedSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(read_only=True)
    status = serializers.ChoiceField(choices=ExportStatus.choices, read_only=True)


class OrganizationExportSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(read_only=True)
    status = serializers.ChoiceField(
        choices=ExportStatus.choices,
        read_only=True,
        help_text="queued, running (a worker is writing it), ready (downloadable), failed, or expired "
        "(its file is deleted EXPORTS_RETENTION_HOURS after it was written).",
    )
    created_at = serializers.DateTimeField(read_only=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    expires_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="When the file is deleted.")
    size = serializers.IntegerField(read_only=True, allow_null=True, help_text="Bytes of the gzip file, once ready.")
    counts = serializers.DictField(
        child=serializers.IntegerField(), read_only=True, help_text="Rows written per table (app_label.model)."
    )
    error = serializers.CharField(read_only=True, help_text="Why it failed; empty otherwise.")
    download_url = serializers.URLField(
        read_only=True, required=False, help_text="Present only while the export is ready."
    )
