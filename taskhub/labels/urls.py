from django.urls import include, path

urlpatterns = [
    path("", include("taskhub.labels.apis")),
]
