"""Routes of API version 1: the routes of every installed taskhub app, in INSTALLED_APPS order.

An app's routes are its ``urls`` module, or else the ``urlpatterns`` of its ``apis`` module. A
new app joins the API by being installed; nothing here names it.
"""

from importlib.util import find_spec

from django.apps import apps
from django.urls import include, path


def _app_urlconfs() -> list[str]:
    found = []
    for config in apps.get_app_configs():
        if not config.name.startswith("taskhub."):
            continue
        for module in ("urls", "apis"):
            if find_spec(f"{config.name}.{module}") is not None:
                found.append(f"{config.name}.{module}")
                break
    return found


urlpatterns = [path("", include(urlconf)) for urlconf in _app_urlconfs()]
