import django_filters

from taskhub.organizations.models import Membership
from taskhub.tenancy.roles import Role


class MemberFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["role"]
