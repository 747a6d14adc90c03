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
        # What webhook payloads show of a task: its GET (taskhub.core.representation).
        from taskhub.core.representation import register_representation  # noqa: PLC0415 - models are loaded now
        from taskhub.tasks.models import Task  # noqa: PLC0415
        from taskhub.tasks.serializers import TaskSerializer  # noqa: PLC0415

        register_representation(Task, TaskSerializer)
