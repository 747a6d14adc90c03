from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "taskhub.core"
    label = "core"

    def ready(self) -> None:
        """Register the deploy checks that ``check --deploy`` and ``preflight`` run."""
        from taskhub.core import deploy_checks  # noqa: F401, PLC0415 - importing registers them
