"""The benchmark's URL conf (scripts.bench.settings only): the production routes plus the list without DRF."""

from django.urls import path

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as production_urlpatterns
from scripts.bench.without_drf import project_list_without_drf

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns = [
    # Before the production routes: they end in a catch-all JSON 404.
    path(
        "bench/without-drf/organizations/<uuid:organization_id>/projects/",
        project_list_without_drf,
        name="bench-without-drf-projects",
    ),
    *production_urlpatterns,
]
