from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "taskhub.accounts"
    label = "accounts"

    def ready(self) -> None:
        from taskhub.accounts import schema  # noqa: F401, PLC0415 - registers the OpenAPI extensions
