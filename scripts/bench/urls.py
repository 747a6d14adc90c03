"""The benchmark's URL conf (scripts.bench.settings only): the production routes plus the bare view."""

from django.urls import path

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as production_urlpatterns
from scripts.bench.bare import project_list_bare

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns = [
    # Before the production routes: they end in a catch-all JSON 404.
    path("bench/bare/organizations/<uuid:organization_id>/projects/", project_list_bare, name="bench-bare-projects"),
    *production_urlpatterns,
]
