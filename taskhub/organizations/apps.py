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
        # What webhook payloads show of a member and an invitation: their GET (taskhub.core.representation).
        from taskhub.core.representation import register_representation  # noqa: PLC0415
        from taskhub.organizations.models import Invitation, Membership  # noqa: PLC0415
        from taskhub.organizations.serializers.invitations import InvitationSerializer  # noqa: PLC0415
        from taskhub.organizations.serializers.members import MemberSerializer  # noqa: PLC0415

        register_representation(Membership, MemberSerializer)
        register_representation(Invitation, InvitationSerializer)
