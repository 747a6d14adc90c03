from django.apps import AppConfig

from taskhub.tenancy.roles import Role, register_permissions


class ProjectsConfig(AppConfig):
    name = "taskhub.projects"
    label = "projects"

    def ready(self) -> None:
        register_permissions(
            {
                "project.read": Role.VIEWER,
                "project.write": Role.MEMBER,
                "project.delete": Role.ADMIN,
            }
        )
        # What webhook payloads show of a project: its GET (taskhub.core.representation).
        from taskhub.core.representation import register_representation  # noqa: PLC0415 - models are loaded now
        from taskhub.projects.models import Project  # noqa: PLC0415
        from taskhub.projects.serializers import ProjectSerializer  # noqa: PLC0415

        register_representation(Project, ProjectSerializer)
