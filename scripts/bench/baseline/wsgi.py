"""WSGI entry point of the baseline project: ``gunicorn scripts.bench.baseline.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scripts.bench.baseline.settings")

application = get_wsgi_application()
