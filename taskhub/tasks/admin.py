from django.contrib import admin
from django.http import HttpRequest

from taskhub.tasks.models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "project", "organization", "status", "priority", "due_date"]
    list_filter = ["status", "priority"]
    search_fields = ["title", "project__key", "organization__slug"]
    raw_id_fields = ["organization", "project", "assignee", "created_by"]
    # Handed out from the project's counter on create; editing it could collide.
    readonly_fields = ["number"]

    # A new task needs the next number from its project's counter: the API hands it out.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
