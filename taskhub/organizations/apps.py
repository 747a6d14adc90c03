from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "taskhub.organizations"
    label = "organizations"

    def ready(self) -> None:
        from taskhub.organizations import checks  # noqa: F401, PLC0415 - registers the RLS system check
