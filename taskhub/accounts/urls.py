from django.urls import include, path

urlpatterns = [
    path("auth/", include("taskhub.accounts.apis.auth")),
    path("auth/", include("taskhub.accounts.apis.account")),
    path("", include("taskhub.accounts.apis.api_keys")),
]
