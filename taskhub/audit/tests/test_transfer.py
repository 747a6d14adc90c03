"""The organization export carries its audit chain; import_organization verifies it before writing anything.

SQLite and PostgreSQL. (The round trip through deletion, where the kept chain and the file's
are one, is taskhub/organizations/tests/test_export_import.py.)
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from taskhub.audit import chain
from taskhub.audit.models import AuditEvent
from taskhub.organizations.models import Organization

pytestmark = pytest.mark.django_db

AUDIT = "audit.auditevent"


@pytest.fixture
def exported(tmp_path) -> dict[str, Any]:
    call_command("seed_tenants", organizations=1, projects=1, tasks=3, prefix="chain")
    path = tmp_path / "chain-1.ndjson.gz"
    call_command("export_organization", "chain-1", output=str(path), stderr=io.StringIO())
    return {"organization": Organization.objects.get(slug="chain-1"), "path": path}


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(gzip.compress(b"".join(json.dumps(line).encode() + b"\n" for line in lines)))
    return path


def audit_rows(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line["row"] for line in lines if line.get("table") == AUDIT]


def test_the_export_holds_the_chain_in_order(exported):
    rows = audit_rows(lines_of(exported["path"]))
    stored = list(
        AuditEvent.objects.filter(organization=exported["organization"]).order_by("seq").values_list("seq", "hash")
    )

    assert [(row["seq"], row["hash"]) for row in rows] == stored
    assert rows[-1]["action"] == "organization.exported"


def _edit(rows: list[dict[str, Any]]) -> None:
    rows[2]["target_label"] = "forged"


def _drop(rows: list[dict[str, Any]]) -> None:
    rows[2]["__drop__"] = True


def _swap(rows: list[dict[str, Any]]) -> None:
    # The second and third events trade places (each keeps the other's place number).
    second, third = dict(rows[1]), dict(rows[2])
    rows[1].update({**third, "seq": second["seq"]})
    rows[2].update({**second, "seq": third["seq"]})


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (_edit, "seq 3 (event {id}): its contents do not match its hash"),
        (_drop, "seq 3 (event {next}): expected seq 3 after seq 2, found seq 4: events are missing"),
        (_swap, "seq 2 (event {other}): its previous hash is not the hash of the event at seq 1"),
    ],
)
def test_an_import_refuses_a_file_whose_chain_was_tampered_with(exported, tmp_path, change, where):
    lines = lines_of(exported["path"])
    rows = audit_rows(lines)
    ids = {"id": rows[2]["id"], "next": rows[3]["id"], "other": rows[2]["id"]}
    change(rows)
    lines = [line for line in lines if not line.get("row", {}).get("__drop__")]
    if change is _drop:
        lines[-1]["end"]["counts"][AUDIT] -= 1
    crafted = write(tmp_path / "crafted.ndjson.gz", lines)
    before = AuditEvent.objects.count()

    with pytest.raises(CommandError) as refused:
        call_command("import_organization", str(crafted), slug="chain-copy", new_ids=True)

    assert f"the file's audit chain is broken at {where.format(**ids)}" in str(refused.value)
    assert not Organization.objects.filter(slug="chain-copy").exists()
    assert AuditEvent.objects.count() == before


def test_a_file_from_before_the_chain_is_chained_on_import(exported, tmp_path):
    lines = lines_of(exported["path"])
    for row in audit_rows(lines):
        for name in ("seq", "prev_hash", "hash"):
            del row[name]
    old = write(tmp_path / "old.ndjson.gz", lines)

    call_command("import_organization", str(old), slug="chain-old", new_ids=True, stdout=io.StringIO())

    copy = Organization.objects.get(slug="chain-old")
    events = list(AuditEvent.objects.filter(organization=copy).order_by("seq"))
    original = AuditEvent.objects.filter(organization=exported["organization"]).count()
    assert len(events) == original + 1
    assert events[-1].action == "organization.imported"
    assert events[-1].changes["chain"] == f"{original} events chained on import: the file predates the hash chain"
    assert chain.verify(copy.pk).ok
