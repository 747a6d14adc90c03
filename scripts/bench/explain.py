"""EXPLAIN (ANALYZE, BUFFERS) of the projects page query, built by the ORM as the endpoint builds it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass


@dataclass
class Plan:
    text: str

    @property
    def scans(self) -> list[str]:
        """Each scan node with its actual rows, e.g. 'Index Scan using project_org_created_idx ... (rows=51)'."""
        found = []
        for line in self.text.splitlines():
            match = re.search(
                r"((?:Bitmap Heap|Bitmap Index|Index Only|Index|Seq) Scan[^(]*).*actual[^)]*rows=(\d+)", line
            )
            if match:
                found.append(f"{match.group(1).strip()} (rows={match.group(2)})")
        return found

    @property
    def top_scan(self) -> str:
        return " <- ".join(self.scans) or "(no scan)"

    @property
    def index_condition(self) -> str:
        match = re.search(r"Index Cond: (.*)", self.text)
        return match.group(1).strip() if match else ""

    @property
    def led_by_organization(self) -> bool:
        return any("Index Scan" in scan for scan in self.scans) and self.index_condition.lstrip("(").startswith(
            "organization_id ="
        )

    @property
    def execution_ms(self) -> float:
        match = re.search(r"Execution Time: ([0-9.]+) ms", self.text)
        return float(match.group(1)) if match else float("nan")

    @property
    def buffers(self) -> str:
        match = re.search(r"Buffers: (.*)", self.text)
        return match.group(1).strip() if match else ""


def _django(environment: dict[str, str]) -> None:
    os.environ.update(environment)
    import django  # noqa: PLC0415 - configured from the stack's environment first

    django.setup()


def position_at(environment: dict[str, str], *, organization_id: str, offset: int) -> str:
    """Return the cursor position (DRF's str of created_at) of the project at ``offset``, newest first."""
    _django(environment)
    from taskhub.core import rls  # noqa: PLC0415
    from taskhub.projects.selectors import project_list  # noqa: PLC0415

    with rls.scoped(organization_id=organization_id):
        project = project_list(organization_id=organization_id).order_by("-created_at")[offset]
    return str(project.created_at)


def explain_page(environment: dict[str, str], *, organization_id: str, position: str | None, size: int) -> Plan:
    """Explain the page query for ``organization_id`` as the app role, RLS variable set as a request sets it."""
    _django(environment)
    from django.db import connection, transaction  # noqa: PLC0415

    from taskhub.core import rls  # noqa: PLC0415
    from taskhub.projects.selectors import project_list  # noqa: PLC0415

    queryset = project_list(organization_id=organization_id).order_by("-created_at")
    if position is not None:
        queryset = queryset.filter(created_at__lt=position)
    sql, params = queryset[: size + 1].query.sql_with_params()
    with transaction.atomic():
        rls.set_context(organization_id=organization_id)
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            return Plan("\n".join(row[0] for row in cursor.fetchall()))
