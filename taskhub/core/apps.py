from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "taskhub.core"
    label = "core"
