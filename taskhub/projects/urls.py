from django.urls import include, path

urlpatterns = [
    path("", include("taskhub.projects.apis")),
]
