"""WSGI entry point, production settings unless DJANGO_SETTINGS_MODULE says otherwise."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_wsgi_application()

from django.conf import settings  # noqa: E402 - after the application, which sets Django up

if settings.DB_CHECK_ROLE_AT_STARTUP:
    from taskhub.core.dbroles import refuse_unsafe_runtime_role

    refuse_unsafe_runtime_role()
