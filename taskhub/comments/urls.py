from django.urls import include, path

urlpatterns = [
    path("", include("taskhub.comments.apis")),
]
