import pytest

from taskhub.audit.models import AuditEvent
from taskhub.organizations.models import Membership, Organization
from taskhub.tenancy.roles import Role


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_its_organization(clients_a, tenant_a, role):
    response = clients_a[role].get("/api/v1/organization/")
    assert response.status_code == 200
    assert response.json()["id"] == str(tenant_a.organization.pk)
    assert set(response.json()) == {"id", "name", "slug", "created_at", "updated_at"}


@pytest.mark.django_db
def test_admin_renames_the_organization_and_it_is_audited(clients_a, tenant_a):
    response = clients_a[Role.ADMIN].patch("/api/v1/organization/", {"name": "Renamed", "slug": "renamed"})
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    event = AuditEvent.objects.get(action="organization.updated")
    assert event.changes == {"name": ["Org A", "Renamed"], "slug": ["org-a", "renamed"]}


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_update_the_organization(clients_a, tenant_a, role):
    assert clients_a[role].patch("/api/v1/organization/", {"name": "Nope"}).status_code == 403
    tenant_a.organization.refresh_from_db()
    assert tenant_a.organization.name == "Org A"


@pytest.mark.django_db
def test_a_taken_slug_is_a_conflict(clients_a, tenant_b):
    response = clients_a[Role.OWNER].patch("/api/v1/organization/", {"slug": "org-b"})
    assert response.status_code == 409
    assert response.json()["errors"]["slug"][0]["code"] == "slug_taken"


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.VIEWER])
def test_only_an_owner_deletes_the_organization(clients_a, tenant_a, role):
    assert clients_a[role].delete("/api/v1/organization/").status_code == 403
    assert Organization.objects.filter(pk=tenant_a.organization.pk).exists()


@pytest.mark.django_db
def test_deleting_the_organization_removes_its_rows_and_ends_its_tokens(clients_a, tenant_a, tenant_b):
    assert clients_a[Role.OWNER].delete("/api/v1/organization/").status_code == 204
    assert not Organization.objects.filter(pk=tenant_a.organization.pk).exists()
    assert not Membership.objects.filter(organization_id=tenant_a.organization.pk).exists()
    assert clients_a[Role.VIEWER].get("/api/v1/organization/").status_code == 401
    assert Membership.objects.filter(organization=tenant_b.organization).count() == 4
