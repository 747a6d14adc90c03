from django.apps import AppConfig

from taskhub.tenancy.roles import Role, register_permissions


class LabelsConfig(AppConfig):
    name = "taskhub.labels"
    label = "labels"

    def ready(self) -> None:
        register_permissions(
            {
                "label.read": Role.VIEWER,
                "label.write": Role.MEMBER,
                # Deleting a label takes it off every task that carries it.
                "label.delete": Role.ADMIN,
            }
        )
