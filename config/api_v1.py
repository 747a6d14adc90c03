"""Routes of API version 1, gathered from each app."""

from django.urls import include, path

urlpatterns = [
    path("", include("taskhub.accounts.urls")),
    path("", include("taskhub.organizations.urls")),
    path("", include("taskhub.projects.urls")),
    path("", include("taskhub.tasks.urls")),
    path("", include("taskhub.audit.urls")),
]
