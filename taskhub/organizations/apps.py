from django.apps import AppConfig

from taskhub.tenancy.roles import Role, register_permissions


class OrganizationsConfig(AppConfig):
    name = "taskhub.organizations"
    label = "organizations"

    def ready(self) -> None:
        register_permissions(
            {
                "organization.read": Role.VIEWER,
                "organization.update": Role.ADMIN,
                "organization.delete": Role.OWNER,
                "organization.export": Role.OWNER,
                "member.read": Role.VIEWER,
                "member.manage": Role.ADMIN,
                "owner.manage": Role.OWNER,
                "invitation.manage": Role.ADMIN,
            }
        )
        from taskhub.organizations.services.exports import seed_exports  # noqa: PLC0415 - models are loaded now
        from taskhub.tenancy.seeding import register_seeder  # noqa: PLC0415

        register_seeder(seed_exports)
