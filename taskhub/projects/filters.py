import django_filters

from taskhub.core.filters import RequestedFilterSet
from taskhub.projects.models import Project, ProjectStatus


class ProjectFilter(RequestedFilterSet):
    status = django_filters.ChoiceFilter(choices=ProjectStatus.choices)

    class Meta:
        model = Project
        fields = ["status"]
