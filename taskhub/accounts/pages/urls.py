"""The account pages, at the site's root: /account/<page>/ (config/urls.py includes them)."""

from django.urls import path

from taskhub.accounts.pages import views

app_name = "account-pages"

urlpatterns = [
    path("accept-invitation/", views.accept_invitation, name="accept-invitation"),
    path("verify-email/", views.verify_email, name="verify-email"),
    path("reset-password/", views.reset_password, name="reset-password"),
]
