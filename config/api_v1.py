"""Routes of API version 1: the ``urls`` module of every installed taskhub app, in INSTALLED_APPS order.

A new app joins the API by being installed; nothing here names it.
"""

from importlib.util import find_spec

from django.apps import apps
from django.urls import include, path


def _app_urlconfs() -> list[str]:
    names = [config.name for config in apps.get_app_configs() if config.name.startswith("taskhub.")]
    return [f"{name}.urls" for name in names if find_spec(f"{name}.urls") is not None]


urlpatterns = [path("", include(urlconf)) for urlconf in _app_urlconfs()]
