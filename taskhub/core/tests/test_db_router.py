"""The read-replica router: reads leave the primary only outside transactions, writes never do."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.utils import load_backend
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from taskhub.core import db_router
from taskhub.core.db_router import ReplicaRouter


@pytest.fixture(autouse=True)
def unpinned() -> Iterator[None]:
    db_router.unpin()
    yield
    db_router.unpin()


def test_without_replicas_the_router_leaves_every_decision_to_django():
    router = ReplicaRouter()
    assert router.replicas == []
    assert router.db_for_read(Group) is None
    assert router.db_for_write(Group) is None
    assert router.allow_relation(Group(), Group()) is None
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "auth") is None
    assert not db_router.pinned()


@pytest.mark.django_db(transaction=True)
def test_reads_go_to_a_replica_only_outside_a_transaction():
    router = ReplicaRouter(replicas=["replica_0", "replica_1"])
    assert router.db_for_read(Group) in {"replica_0", "replica_1"}
    with transaction.atomic():
        assert router.db_for_read(Group) == DEFAULT_DB_ALIAS
        with transaction.atomic():
            assert router.db_for_read(Group) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Group) in {"replica_0", "replica_1"}


def test_writes_always_go_to_the_primary_and_pin_the_request_to_it():
    router = ReplicaRouter(replicas=["replica_0"])
    read_from_replica = Group(name="x")
    read_from_replica._state.db = "replica_0"
    assert router.db_for_write(Group, instance=read_from_replica) == DEFAULT_DB_ALIAS
    # Read-your-writes: the rest of the request reads from the primary...
    assert router.db_for_read(Group) == DEFAULT_DB_ALIAS
    # ...until the next request starts.
    db_router.unpin()
    assert router.db_for_read(Group) == "replica_0"
    with db_router.primary():
        assert router.db_for_read(Group) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Group) == "replica_0"


def test_related_reads_of_a_primary_instance_stay_on_the_primary():
    router = ReplicaRouter(replicas=["replica_0"])
    instance = Group(name="x")
    instance._state.db = DEFAULT_DB_ALIAS
    assert router.db_for_read(Group, instance=instance) == DEFAULT_DB_ALIAS


def test_relations_across_primary_and_replicas_are_allowed_and_replicas_never_migrate():
    router = ReplicaRouter(replicas=["replica_0"])
    one, two = Group(), Group()
    one._state.db, two._state.db = DEFAULT_DB_ALIAS, "replica_0"
    assert router.allow_relation(one, two) is True
    assert router.allow_migrate("replica_0", "auth") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "auth") is None


class RecordingRouter(ReplicaRouter):
    """Decides as ReplicaRouter with one replica, records it, and runs every query on default."""

    def __init__(self) -> None:
        super().__init__(replicas=["replica_0"])
        self.reads: list[tuple[str, str]] = []

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        decision = super().db_for_read(model, **hints)
        self.reads.append((model._meta.label, str(decision)))
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        super().db_for_write(model, **hints)
        return DEFAULT_DB_ALIAS


@pytest.mark.django_db
def test_a_tenant_requests_reads_all_stay_on_the_primary():
    client = APIClient()
    username = f"router{secrets.token_hex(4)}"
    registered = client.post(
        "/api/v1/auth/register/",
        {
            "username": username,
            "email": f"{username}@example.com",
            "password": f"replica-{secrets.token_urlsafe(12)}",
            "organization_name": "Replica Inc",
        },
        format="json",
    )
    assert registered.status_code == 201, registered.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {registered.json()['access']}")
    recorder = RecordingRouter()
    with override_settings(DATABASE_ROUTERS=[recorder]):
        for path in ("/api/v1/projects/", "/api/v1/tasks/", "/api/v1/audit-events/"):
            db_router.unpin()  # as at the start of a real request
            assert client.get(path).status_code == 200
    tenant_reads = [read for read in recorder.reads if read[0].split(".")[0] in {"projects", "tasks", "audit"}]
    assert tenant_reads, recorder.reads
    assert {decision for _, decision in recorder.reads} == {DEFAULT_DB_ALIAS}, recorder.reads


@pytest.fixture
def mirror_replica() -> Iterator[str]:
    """replica_0: a second connection to the test database, as a streaming replica would be.

    Made by hand rather than through settings.DATABASES, so the test database setup (made once
    per session) needs no second database; the router is told about it explicitly.
    """
    alias = "replica_0"
    settings_dict = {**connections[DEFAULT_DB_ALIAS].settings_dict, "TEST": {"MIRROR": DEFAULT_DB_ALIAS}}
    connections[alias] = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    try:
        with override_settings(DATABASE_ROUTERS=[ReplicaRouter(replicas=[alias])]):
            yield alias
    finally:
        connections[alias].close()
        del connections[alias]


@pytest.mark.django_db(transaction=True)
def test_reads_outside_transactions_are_served_by_the_mirror_replica(mirror_replica):
    name = f"replica-{secrets.token_hex(4)}"
    Group.objects.create(name=name)
    db_router.unpin()  # a new request
    with (
        CaptureQueriesContext(connections[mirror_replica]) as on_replica,
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary,
    ):
        assert Group.objects.filter(name=name).exists()
    assert len(on_replica.captured_queries) == 1
    assert len(on_primary.captured_queries) == 0
    with (
        CaptureQueriesContext(connections[mirror_replica]) as on_replica,
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary,
        transaction.atomic(),
    ):
        assert Group.objects.filter(name=name).exists()
    assert len(on_replica.captured_queries) == 0
    assert len(on_primary.captured_queries) >= 1
    # The write goes to the primary even for a row read from the replica.
    group = Group.objects.get(name=name)
    db_router.unpin()
    group = Group.objects.get(name=name)
    assert group._state.db == mirror_replica
    group.delete()
    assert not Group.objects.using(DEFAULT_DB_ALIAS).filter(name=name).exists()
