import pytest

from taskhub.audit.models import AuditEvent
from taskhub.audit.services import audit_record, changes_between
from taskhub.core.actor import Actor
from taskhub.tenancy.roles import Role


def test_changes_between_keeps_only_changed_fields():
    before = {"name": "Old", "slug": "same", "role": "member"}
    after = {"name": "New", "slug": "same", "role": "admin"}

    assert changes_between(before, after) == {"name": ["Old", "New"], "role": ["member", "admin"]}


def test_changes_between_reports_new_fields_as_from_none():
    assert changes_between({}, {"name": "ci", "role": "viewer"}) == {"name": [None, "ci"], "role": [None, "viewer"]}


def test_changes_between_is_empty_when_nothing_changed():
    assert changes_between({"name": "x"}, {"name": "x"}) == {}


@pytest.mark.django_db
def test_audit_record_stores_who_what_target_and_where(tenant_a):
    admin = tenant_a.users[Role.ADMIN]
    organization = tenant_a.organization
    actor = Actor(user_id=admin.pk, ip="198.51.100.4", request_id="req-12345678")

    event = audit_record(
        organization_id=organization.pk,
        actor=actor,
        action="organization.updated",
        target=organization,
        changes={"name": ["Old", organization.name]},
    )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.organization_id == organization.pk
    assert stored.actor_user_id == admin.pk
    assert stored.actor_api_key_id is None
    # A token carries no label: the username is looked up, so the event outlives the user.
    assert stored.actor_label == admin.username
    assert stored.action == "organization.updated"
    assert stored.target_type == "organizations.organization"
    assert stored.target_id == str(organization.pk)
    assert stored.target_label == str(organization)
    assert stored.changes == {"name": ["Old", organization.name]}
    assert stored.ip_address == "198.51.100.4"
    assert stored.request_id == "req-12345678"
    assert stored.created_at is not None


# What recording an event costs a write: the chain head's locking upsert and the INSERT (whose
# trigger moves the head), on either database. Before the chain it was the INSERT alone
# (docs/audit.md, "Cost").
STATEMENTS_PER_EVENT = 2


@pytest.mark.django_db
def test_audit_record_keeps_the_given_label_and_defaults(tenant_a, django_assert_num_queries):
    organization = tenant_a.organization
    actor = Actor(user_id=None, label="api-key:ci")

    # A labelled actor costs no user lookup: the chain's statements only, the first event's too.
    with django_assert_num_queries(STATEMENTS_PER_EVENT):
        event = audit_record(organization_id=organization.pk, actor=actor, action="x.done", target=organization)
    with django_assert_num_queries(STATEMENTS_PER_EVENT):
        audit_record(organization_id=organization.pk, actor=actor, action="x.again", target=organization)

    assert event.actor_label == "api-key:ci"
    assert event.actor_user_id is None
    assert event.changes == {}
    assert event.ip_address is None
    assert event.request_id == ""


@pytest.mark.django_db
def test_audit_record_truncates_a_long_target_label(tenant_a):
    organization = tenant_a.organization
    organization.name = "N" * 300

    event = audit_record(
        organization_id=organization.pk, actor=Actor(user_id=None), action="x.done", target=organization
    )

    assert len(event.target_label) == 200
    assert event.actor_label == ""
