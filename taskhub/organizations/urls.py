from django.urls import include, path

urlpatterns = [
    path("", include("taskhub.organizations.apis.organization")),
    path("", include("taskhub.organizations.apis.exports")),
    path("", include("taskhub.organizations.apis.members")),
    path("", include("taskhub.organizations.apis.invitations")),
]
