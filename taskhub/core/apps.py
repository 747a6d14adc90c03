from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "taskhub.core"
    label = "core"

    def ready(self) -> None:
        """Register the deploy checks, and every app's jobs (``<app>/jobs.py``, taskhub.core.jobs)."""
        from django.utils.module_loading import autodiscover_modules  # noqa: PLC0415

        from taskhub.core import deploy_checks, jobs  # noqa: F401, PLC0415 - importing registers them

        autodiscover_modules("jobs")
