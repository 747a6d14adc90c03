"""Layer 3: every routed endpoint, walked as one organization against another's rows."""

import pytest
from django.test import override_settings
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from config.urls import urlpatterns as root_urlpatterns
from conftest import as_platform_role
from taskhub.projects.models import Project
from taskhub.tenancy.api import TenantAPIView
from taskhub.tenancy.roles import Role
from tests.support.isolation import Tenancy, api_routes, populate, tenancy_of, walk


@pytest.fixture
def world(tenant_a, tenant_b, clients_a, clients_b) -> tuple[Tenancy, Tenancy]:
    for tenant, clients in ((tenant_a, clients_a), (tenant_b, clients_b)):
        populate(clients, str(tenant.users[Role.MEMBER].pk))
    users_a = [tenant_a.users[role].pk for role in (Role.OWNER, Role.ADMIN, Role.VIEWER, Role.MEMBER)]
    users_b = [tenant_b.users[role].pk for role in (Role.OWNER, Role.ADMIN, Role.VIEWER, Role.MEMBER)]
    return tenancy_of(tenant_a.organization.pk, users_a), tenancy_of(tenant_b.organization.pk, users_b)


@pytest.mark.django_db
def test_no_endpoint_crosses_from_one_organization_into_another(world, clients_a):
    own, foreign = world
    assert len(foreign.all_ids()) >= 12, "organization B must hold rows in every table"
    walker = walk(client=clients_a[Role.OWNER], own=own, foreign=foreign)
    assert walker.problems == []
    # Proof the walk covered the API rather than a corner of it.
    assert walker.routes >= 20
    assert walker.requests >= 300


class LeakyProjectList(TenantAPIView):
    """Forgets the organization: a list of every tenant's projects."""

    selector = staticmethod(lambda organization_id: Project.objects.all())
    permission_by_method = {"GET": "project.read"}

    def get(self, request: Request) -> Response:
        with as_platform_role():
            return Response([{"id": str(pk)} for pk in Project.objects.values_list("pk", flat=True)])


class LeakyProjectDetail(TenantAPIView):
    """Looks a project up by id alone."""

    selector = staticmethod(lambda organization_id: Project.objects.all())
    permission_by_method = {"GET": "project.read"}

    def get(self, request: Request, id: str) -> Response:
        with as_platform_role():
            project = Project.objects.filter(pk=id).first()
        if project is None:
            return Response(status=404)
        return Response({"id": str(project.pk), "name": project.name})


urlpatterns = [
    path("api/v1/leaky-projects/", LeakyProjectList.as_view()),
    path("api/v1/leaky-projects/<uuid:id>/", LeakyProjectDetail.as_view()),
    *root_urlpatterns,
]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_the_walk_catches_an_endpoint_nobody_wrote_a_test_for(world, clients_a):
    own, foreign = world
    assert any(route.template.startswith("api/v1/leaky-projects/") for route in api_routes())
    problems = walk(client=clients_a[Role.OWNER], own=own, foreign=foreign).problems
    leaky = [problem for problem in problems if "leaky-projects" in problem]
    assert any(problem.startswith("GET /api/v1/leaky-projects/:") for problem in leaky), problems
    assert any("for another organization's id" in problem for problem in leaky), problems
    assert len(leaky) == len(problems), "only the leaky endpoints may fail"
