from django.apps import AppConfig

from taskhub.tenancy.roles import Role, register_permissions


class TasksConfig(AppConfig):
    name = "taskhub.tasks"
    label = "tasks"

    def ready(self) -> None:
        register_permissions(
            {
                "task.read": Role.VIEWER,
                "task.write": Role.MEMBER,
                "task.delete": Role.MEMBER,
            }
        )
