"""The audit log as a hash chain per organization: linear, verifiable, tamper-evident, kept after deletion.

Runs on SQLite and PostgreSQL. On PostgreSQL the tampering is done as the ``postgres``
superuser over a connection of its own (with the append-only trigger switched off for its
transaction, as only a superuser can), on committed rows; on SQLite, which has no trigger and no
roles, through the ORM. Either way ``verify_audit_chain`` must name the event where the chain
stops holding.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from conftest import TENANT_REQUEST_OVERHEAD, as_app_role
from taskhub.audit import chain
from taskhub.audit.models import GENESIS_HASH, AuditEvent, ChainHead
from taskhub.audit.services import audit_purge, audit_record, os_actor
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.organizations.models import Organization
from taskhub.tenancy.roles import Role

POSTGRESQL = connection.vendor == "postgresql"
URL = "/api/v1/audit-events/"
VERIFY = f"{URL}verify/"


def record(organization: Organization, n: int, action: str = "x.done") -> list[AuditEvent]:
    return [
        audit_record(
            organization_id=organization.pk,
            actor=Actor(user_id=None, label="tester"),
            action=action,
            target=organization,
            changes={"n": [None, i]},
        )
        for i in range(n)
    ]


def verify(*args: str) -> tuple[int, str, str]:
    """Run verify_audit_chain; return its exit status, standard output and standard error."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit_chain", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


# -- the encoding ------------------------------------------------------------------------------


def test_the_canonical_encoding_is_sorted_compact_json_with_utc_microseconds():
    values = {
        "seq": 7,
        "prev_hash": GENESIS_HASH,
        "created_at": datetime(2026, 12, 3, 17, 9, 0, 120, tzinfo=UTC),
        "actor_user_id": None,
        "actor_api_key_id": None,
        "actor_label": "Zoë",
        "action": "task.updated",
        "target_type": "tasks.task",
        "target_id": "42",
        "target_label": "Fix it",
        "changes": {"title": ["Old", "New"], "priority": [1.0, 2]},
        "ip_address": "203.0.113.7",
        "request_id": "req-1",
    }

    encoded = chain.canonical(values)

    assert (
        encoded
        == (
            '{"action":"task.updated","actor_api_key_id":null,"actor_label":"Zoë","actor_user_id":null,'
            '"changes":{"priority":[1,2],"title":["Old","New"]},"created_at":"2026-12-03T17:09:00.000120Z",'
            '"ip_address":"203.0.113.7","prev_hash":"' + GENESIS_HASH + '","request_id":"req-1","seq":7,'
            '"target_id":"42","target_label":"Fix it","target_type":"tasks.task","v":1}'
        ).encode()
    )
    # Pinned: a change to the encoding would orphan every chain already written.
    assert chain.event_hash(values) == "3d3b191175967217548edf849042f623627ff1b95c14aa9f37a0fde11a2c6ae1"


# -- one chain per organization -------------------------------------------------------------------


@pytest.mark.django_db
def test_each_organization_has_its_own_linear_chain(tenant_a, tenant_b):
    for _ in range(3):
        record(tenant_a.organization, 1)
        record(tenant_b.organization, 1)

    for organization in (tenant_a.organization, tenant_b.organization):
        events = list(AuditEvent.objects.filter(organization=organization).order_by("seq"))
        assert [event.seq for event in events] == [1, 2, 3]
        assert events[0].prev_hash == GENESIS_HASH
        assert [event.prev_hash for event in events[1:]] == [event.hash for event in events[:-1]]
        assert all(event.hash == chain.event_hash(chain._values(event)) for event in events)
        assert ChainHead.objects.values_list("seq", "hash").get(organization_id=organization.pk) == (3, events[-1].hash)
        verified = chain.verify(organization.pk)
        assert (verified.ok, verified.count, verified.head_hash) == (True, 3, events[-1].hash)


@pytest.mark.django_db
def test_an_event_committed_between_reading_the_head_and_the_events_is_no_break(tenant_a, monkeypatch):
    """Head and events are two reads: a write landing between them must not look like tampering."""
    organization = tenant_a.organization
    record(organization, 2)
    read_events = chain.stored_events
    calls = []

    def events_after_a_concurrent_write(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            # Another request's event and its head move, after this walk read the head.
            record(organization, 1)
        return read_events(*args, **kwargs)

    monkeypatch.setattr(chain, "stored_events", events_after_a_concurrent_write)
    verified = chain.verify(organization.pk)

    assert (verified.ok, verified.count) == (True, 3)
    assert len(calls) == 2


@pytest.mark.django_db
def test_events_removed_at_the_end_are_still_a_break_after_reading_again(tenant_a):
    organization = tenant_a.organization
    record(organization, 3)
    # The head says 3; the last event is gone (as superuser SQL would leave it).
    ChainHead.objects.filter(organization_id=organization.pk).update(seq=4)

    verified = chain.verify(organization.pk)

    assert not verified.ok
    assert verified.broken is not None
    assert verified.broken.seq == 4


@pytest.mark.django_db
def test_stored_values_hash_as_written_whatever_the_caller_passed(tenant_a):
    # Dates, tuples, whole floats and an IPv6 address come back from the database in another form.
    event = audit_record(
        organization_id=tenant_a.organization.pk,
        actor=Actor(user_id=None, label="x", ip="2001:DB8:0:0::1"),
        action="x.typed",
        target=tenant_a.organization,
        changes={"due": [None, datetime(2027, 1, 1, tzinfo=UTC).date()], "pair": (1.0, 2.5), "nested": {"a": [1]}},
    )

    stored = AuditEvent.objects.values(*chain.HASHED_FIELDS).get(pk=event.pk)
    assert chain.event_hash(stored) == event.hash
    assert chain.verify(tenant_a.organization.pk).ok


@pytest.mark.django_db
def test_an_event_is_never_earlier_than_the_one_before_it(tenant_a, monkeypatch):
    # Another host's clock ahead by a minute wrote the first event.
    ahead = datetime.now(UTC) + timedelta(minutes=1)
    monkeypatch.setattr(chain, "now", lambda: ahead)
    [first] = record(tenant_a.organization, 1)
    monkeypatch.setattr(chain, "now", lambda: ahead - timedelta(minutes=1))

    [second] = record(tenant_a.organization, 1)

    assert second.created_at == first.created_at
    assert chain.verify(tenant_a.organization.pk).ok


# -- verification: the endpoint and the command ------------------------------------------------


def test_admins_get_the_count_and_head_hash(clients_a, tenant_a, clients_b):
    assert clients_a[Role.ADMIN].get(VERIFY).json() == {"count": 0, "head_hash": GENESIS_HASH}
    clients_a[Role.ADMIN].post("/api/v1/api-keys/", {"name": "ci", "role": "viewer"})
    clients_b[Role.ADMIN].post("/api/v1/api-keys/", {"name": "other", "role": "viewer"})
    head = AuditEvent.objects.filter(organization=tenant_a.organization).get()

    for role in (Role.ADMIN, Role.OWNER):
        response = clients_a[role].get(VERIFY)
        assert response.status_code == 200, response.content
        assert response.json() == {"count": 1, "head_hash": head.hash}
    for role in (Role.MEMBER, Role.VIEWER):
        assert clients_a[role].get(VERIFY).status_code == 403


def test_a_pinned_head_is_checked_by_reading_the_event_at_its_place(clients_a, tenant_a):
    record(tenant_a.organization, 2)
    pinned = clients_a[Role.ADMIN].get(VERIFY).json()
    record(tenant_a.organization, 3)

    [event] = clients_a[Role.ADMIN].get(URL, {"seq": pinned["count"]}).json()["results"]

    assert event["hash"] == pinned["head_hash"]
    assert clients_a[Role.ADMIN].get(VERIFY).json()["count"] == 5


def test_verifying_costs_the_request_one_read_per_chunk(clients_a, tenant_a, django_assert_max_num_queries):
    record(tenant_a.organization, 5)
    clients_a[Role.ADMIN].get(VERIFY)

    # The head, then the events in one chunk.
    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 2):
        assert clients_a[Role.ADMIN].get(VERIFY).json()["count"] == 5


@pytest.mark.django_db(transaction=POSTGRESQL)
def test_a_broken_chain_is_a_409_naming_where(clients_a, tenant_a):
    events = record(tenant_a.organization, 3)
    _tamper_orm(events[1], target_label="forged")

    response = clients_a[Role.ADMIN].get(VERIFY)

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "audit_chain_broken"
    assert f"seq 2 (event {events[1].pk})" in body["detail"]


@pytest.mark.django_db
def test_the_command_verifies_every_chain_or_one(tenant_a, tenant_b):
    record(tenant_a.organization, 3)
    record(tenant_b.organization, 2)

    status, out, _ = verify()
    assert status == 0
    assert "Verified 5 audit events in 2 chains" in out
    status, out, _ = verify("--organization", tenant_b.organization.slug)
    assert (status, "Verified 2 audit events in 1 chains" in out) == (0, True)
    status, _, err = verify("--organization", "no-such-slug")
    assert status == 1
    assert "No organization" in err


# -- tampering ---------------------------------------------------------------------------------


def _tamper_orm(event: AuditEvent, **fields: Any) -> None:
    """Change a stored event behind the app's back: as the superuser on PostgreSQL, through the ORM on SQLite."""
    if POSTGRESQL:
        from psycopg.types.json import Jsonb  # noqa: PLC0415

        assignments = ", ".join(f"{name} = %s" for name in fields)
        values = [Jsonb(value) if isinstance(value, dict) else value for value in fields.values()]
        _as_superuser(f"UPDATE audit_auditevent SET {assignments} WHERE id = %s", [*values, event.pk])  # noqa: S608
    else:
        AuditEvent.objects.filter(pk=event.pk).update(**fields)


def _as_superuser(sql: str, parameters: list[Any], *more: tuple[str, list[Any]]) -> None:
    from tests.support.e2e import require_superuser, superuser  # noqa: PLC0415

    require_superuser()
    with superuser(connection.settings_dict["NAME"]) as admin, admin.transaction():
        # What only a superuser may do: switch the append-only trigger off for this transaction.
        admin.execute("SET LOCAL session_replication_role = replica")
        for statement, values in ((sql, parameters), *more):
            admin.execute(statement, values)


def _delete(event: AuditEvent) -> None:
    if POSTGRESQL:
        _as_superuser("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    else:
        AuditEvent.objects.filter(pk=event.pk).delete()


def _swap(first: AuditEvent, second: AuditEvent) -> None:
    if POSTGRESQL:
        update = "UPDATE audit_auditevent SET seq = %s WHERE id = %s"
        _as_superuser(update, [-1, first.pk], (update, [first.seq, second.pk]), (update, [second.seq, first.pk]))
    else:
        AuditEvent.objects.filter(pk=first.pk).update(seq=-1)
        AuditEvent.objects.filter(pk=second.pk).update(seq=first.seq)
        AuditEvent.objects.filter(pk=first.pk).update(seq=second.seq)


def _rehash(event: AuditEvent, **fields: Any) -> None:
    """Edit an event and give it the hash of its new contents: the next link must still break."""
    values = {**chain._values(event), **fields}
    _tamper_orm(event, **fields, hash=chain.event_hash(values))


TAMPERING = {
    # name: (what is done to events 1..5, the seq verification must name, words of the reason)
    "edit a field": (lambda e: _tamper_orm(e[2], target_label="forged"), 3, "do not match its hash"),
    "edit the changes": (lambda e: _tamper_orm(e[1], changes={"n": [None, 99]}), 2, "do not match its hash"),
    "edit and rehash": (lambda e: _rehash(e[2], actor_label="someone else"), 4, "previous hash"),
    "delete one in the middle": (lambda e: _delete(e[2]), 3, "events are missing"),
    "delete the first": (lambda e: _delete(e[0]), 2, "no audit.purged event anchors"),
    "delete the last": (lambda e: _delete(e[4]), 5, "recorded head is seq 5"),
    "swap two": (lambda e: _swap(e[1], e[2]), 2, "previous hash is not the hash of the event at seq 1"),
}


@pytest.mark.django_db(transaction=POSTGRESQL)
@pytest.mark.parametrize("case", list(TAMPERING))
def test_verification_names_the_event_where_tampering_happened(tenant_a, tenant_b, case):
    events = record(tenant_a.organization, 5)
    record(tenant_b.organization, 2)
    change, seq, reason = TAMPERING[case]

    change(events)

    status, _, err = verify()
    assert status == 1
    assert f"organization {tenant_a.organization.pk}: broken at seq {seq} " in err, err
    assert reason in err
    # The other organization's chain holds, and is not reported.
    assert err.count("broken at") == 1
    assert "1 of 2 audit chains broken" in err


# -- deletion keeps the log ----------------------------------------------------------------------


def test_deleting_an_organization_keeps_its_events_and_ends_its_chain(clients_a, tenant_a, tenant_b):
    organization = tenant_a.organization
    clients_a[Role.ADMIN].post("/api/v1/api-keys/", {"name": "ci", "role": "viewer"})
    before = list(AuditEvent.objects.filter(organization=organization).order_by("seq").values_list("id", flat=True))

    assert clients_a[Role.OWNER].delete("/api/v1/organization/").status_code == 204

    assert not Organization.objects.filter(pk=organization.pk).exists()
    kept = list(AuditEvent.objects.filter(organization_id=organization.pk).order_by("seq"))
    assert [event.pk for event in kept[:-1]] == before
    assert kept[-1].action == "organization.deleted"
    assert kept[-1].actor_user_id == tenant_a.owner.pk
    assert kept[-1].changes == {"name": [organization.name, None], "slug": [organization.slug, None]}
    status, out, _ = verify("--organization", str(organization.pk))
    assert status == 0
    assert f"Verified {len(kept)} audit events" in out
    if POSTGRESQL:
        # Row-level security still files the rows under the organization they belonged to.
        with as_app_role(), transaction.atomic():
            rls.set_context(organization_id=tenant_b.organization.pk)
            assert not AuditEvent.objects.filter(organization_id=organization.pk).exists()
            rls.set_context(organization_id=organization.pk)
            assert AuditEvent.objects.filter(organization_id=organization.pk).count() == len(kept)


# -- retention -----------------------------------------------------------------------------------


@pytest.fixture
def days_ago(monkeypatch):
    """Set the chain's clock to ``n`` days before now for the events written next."""

    def set_clock(days: float) -> None:
        moment = datetime.now(UTC) - timedelta(days=days)
        monkeypatch.setattr(chain, "now", lambda: moment)

    return set_clock


@pytest.mark.django_db
def test_the_purge_removes_events_past_retention_and_records_the_cut(tenant_a, tenant_b, days_ago, settings):
    settings.AUDIT_RETENTION_DAYS = 400
    days_ago(500)
    old = record(tenant_a.organization, 3)
    days_ago(10)
    recent = record(tenant_a.organization, 2)
    record(tenant_b.organization, 2)
    days_ago(0)

    out = io.StringIO()
    call_command("purge_audit_events", "--reason", "yearly retention", stdout=out)

    assert "Purged 3 audit events older than 400 days from 1 chains." in out.getvalue()
    left = list(AuditEvent.objects.filter(organization=tenant_a.organization).order_by("seq"))
    assert [event.pk for event in left[:2]] == [event.pk for event in recent]
    purged = left[-1]
    assert (purged.action, purged.seq) == ("audit.purged", 6)
    assert purged.changes["anchor"] == {"seq": 3, "hash": old[-1].hash}
    assert purged.changes["events"] == 3
    assert purged.changes["reason"] == "yearly retention"
    assert purged.actor_label == os_actor().label
    assert AuditEvent.objects.filter(organization=tenant_b.organization).count() == 2
    # The shorter chain verifies from the recorded anchor...
    assert verify()[0] == 0
    assert chain.verify(tenant_a.organization.pk).first_seq == 4


@pytest.mark.django_db
def test_removing_the_first_events_without_the_purge_is_found(tenant_a, days_ago):
    days_ago(500)
    record(tenant_a.organization, 3)
    days_ago(0)
    record(tenant_a.organization, 2)
    audit_purge(person=os_actor(), reason="test")
    first_left = AuditEvent.objects.filter(organization=tenant_a.organization).order_by("seq").first()
    assert first_left is not None
    assert first_left.seq == 4

    with rls.bypass("test"):
        if POSTGRESQL:
            from taskhub.audit.services import _allow_purge  # noqa: PLC0415

            _allow_purge(connection.alias)
        AuditEvent.objects.filter(pk=first_left.pk).delete()

    verified = chain.verify(tenant_a.organization.pk)
    assert verified.broken is not None
    assert verified.broken.seq == 5
    assert "no audit.purged event anchors seq 4" in verified.broken.reason


@pytest.mark.django_db
def test_a_deleted_organizations_chain_goes_whole_once_past_retention(tenant_a, tenant_b, days_ago):
    days_ago(500)
    record(tenant_a.organization, 2)
    record(tenant_b.organization, 2)
    with rls.bypass("test: delete the organization as its owner would"):
        from taskhub.organizations.services.organizations import organization_delete  # noqa: PLC0415

        organization_delete(organization_id=tenant_a.organization.pk, actor=Actor(user_id=None, label="owner"))
    days_ago(0)

    [gone, trimmed] = sorted(audit_purge(person=os_actor(), reason="test"), key=lambda p: p.chain_removed, reverse=True)

    assert (gone.organization_id, gone.events, gone.chain_removed) == (str(tenant_a.organization.pk), 3, True)
    assert not AuditEvent.objects.filter(organization_id=tenant_a.organization.pk).exists()
    assert not ChainHead.objects.filter(organization_id=tenant_a.organization.pk).exists()
    # The living organization keeps its chain, shorter, with the cut recorded.
    assert trimmed.chain_removed is False
    assert list(AuditEvent.objects.filter(organization=tenant_b.organization).values_list("action", flat=True)) == [
        "audit.purged"
    ]
    assert verify()[0] == 0
