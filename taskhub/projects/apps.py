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
