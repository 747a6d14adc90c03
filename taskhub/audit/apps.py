from django.apps import AppConfig

from taskhub.tenancy.roles import Role, register_permissions


class AuditConfig(AppConfig):
    name = "taskhub.audit"
    label = "audit"

    def ready(self) -> None:
        register_permissions(
            {
                "audit.read": Role.ADMIN,
            }
        )
