"""django.contrib.admin's app, installed with the guarded admin site as ``admin.site``.

Apart from taskhub.accounts.admin_site: INSTALLED_APPS imports this before any model exists.
"""

from django.contrib.admin.apps import AdminConfig


class TaskhubAdminConfig(AdminConfig):
    default_site = "taskhub.accounts.admin_site.TaskhubAdminSite"
