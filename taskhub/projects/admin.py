from django.contrib import admin

from taskhub.projects.models import Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "organization", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["key", "name", "organization__slug"]
    raw_id_fields = ["organization", "created_by"]
    # Numbers already handed out must never be handed out again.
    readonly_fields = ["task_counter"]
