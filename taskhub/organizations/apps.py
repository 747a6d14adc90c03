from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "taskhub.organizations"
    label = "organizations"
