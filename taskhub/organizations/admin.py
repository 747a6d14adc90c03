from django.contrib import admin

from taskhub.organizations.models import Invitation, Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    readonly_fields = ["token_version", "created_at"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "organization__slug"]
    raw_id_fields = ["user", "organization"]
    readonly_fields = ["token_version"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "expires_at", "accepted_at", "revoked_at"]
    search_fields = ["email", "organization__slug"]
    # The hash is useless to staff and is a secret's fingerprint: keep it off the page.
    exclude = ["token_hash"]
    readonly_fields = ["accepted_at", "accepted_by"]
    raw_id_fields = ["organization", "invited_by"]
