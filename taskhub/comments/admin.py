from django.contrib import admin
from django.http import HttpRequest

from taskhub.comments.models import Comment


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "task", "organization", "author", "api_key", "created_at"]
    search_fields = ["body", "organization__slug"]
    raw_id_fields = ["organization", "task", "author", "api_key"]

    # Written and edited through the API only, by their author, and audited there.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
