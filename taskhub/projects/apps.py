from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "taskhub.projects"
    label = "projects"
