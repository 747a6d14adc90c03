import django_filters

from taskhub.projects.models import Project, ProjectStatus


class ProjectFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ProjectStatus.choices)

    class Meta:
        model = Project
        fields = ["status"]
