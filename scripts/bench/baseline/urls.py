"""The baseline project's routes: bare Django under /bare/, naive DRF under /naive/, and a liveness answer."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from scripts.bench.baseline import naive, views

router = SimpleRouter()
router.register("projects", naive.ProjectViewSet, basename="naive-project")
router.register("tasks", naive.TaskViewSet, basename="naive-task")

urlpatterns = [
    path("health/live/", views.live, name="baseline-live"),
    path("bare/organizations/<uuid:organization_id>/projects/", views.project_list, name="bare-project-list"),
    path(
        "bare/organizations/<uuid:organization_id>/projects/<uuid:project_id>/",
        views.project_detail,
        name="bare-project-detail",
    ),
    path(
        "bare/organizations/<uuid:organization_id>/projects/<uuid:project_id>/tasks/",
        views.task_create,
        name="bare-task-create",
    ),
    path("naive/", include(router.urls)),
]
