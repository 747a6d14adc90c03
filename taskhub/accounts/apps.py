from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "taskhub.accounts"
    label = "accounts"
