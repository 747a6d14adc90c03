from django.apps import AppConfig

from taskhub.tenancy.roles import Role, register_permissions


class AccountsConfig(AppConfig):
    name = "taskhub.accounts"
    label = "accounts"

    def ready(self) -> None:
        register_permissions(
            {
                "api_key.manage": Role.ADMIN,
            }
        )
        from taskhub.accounts import schema  # noqa: F401, PLC0415 - registers the OpenAPI extensions
