from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from taskhub.accounts.models import ApiKey, User

admin.site.register(User, UserAdmin)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "organization", "role", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix", "organization__slug"]
    exclude = ["key_hash"]
    readonly_fields = ["prefix", "last_used_at", "created_by"]
    raw_id_fields = ["organization"]
