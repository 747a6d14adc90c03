from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "taskhub.tenancy"
    label = "tenancy"

    def ready(self) -> None:
        from taskhub.tenancy import checks  # noqa: F401, PLC0415 - registers the RLS system checks
