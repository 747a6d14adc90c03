from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from taskhub.accounts.models import ApiKey, User
from taskhub.accounts.services.auth import user_sessions_end


@admin.register(User)
class TaskhubUserAdmin(UserAdmin):
    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Unticking "active" must end the sessions the user holds, not only future sign-ins.
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_sessions_end(user_id=obj.pk)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "organization", "role", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix", "organization__slug"]
    exclude = ["key_hash"]
    readonly_fields = ["prefix", "last_used_at", "created_by"]
    raw_id_fields = ["organization"]
