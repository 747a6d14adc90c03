"""The tables make bench prints: results per endpoint and size, the baselines, and each target met or its gap."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from scripts.bench.load import Result
from scripts.bench.scenarios import APP, BARE, NAIVE, WITHOUT_DRF, Scale
from scripts.bench.trips import Trips

LIST_ROUTE = "api/v1/projects/"
WITHOUT_DRF_ROUTE = "bench/without-drf/organizations/<uuid:organization_id>/projects/"
# Issue #17: each endpoint against what a Django user writes for it (bare Django), on the same rows.
BASELINE_TARGETS = {
    "list projects": (1.0, "list of 50"),
    "retrieve project": (1.0, "retrieve"),
    "create project": (0.8, "create project"),
    "create task": (0.8, "create task"),
}
# The app's access-log route and method of each compared endpoint (for a gap's measured cause).
ENDPOINT_ROUTES = {
    "list projects": ("GET", LIST_ROUTE, 200),
    "retrieve project": ("GET", "api/v1/projects/<uuid:id>/", 200),
    "create project": ("POST", LIST_ROUTE, 201),
    "create task": ("POST", "api/v1/tasks/", 201),
}
# What each bare Django view sends to PostgreSQL (scripts/bench/baseline/views.py): one statement,
# a task's two (the counter update and the insert) in one transaction.
BARE_STATEMENTS = {"list projects": 1, "retrieve project": 1, "create project": 1, "create task": 2}


def sql_counts(log_text: str, *, route: str, method: str = "GET") -> Counter[int]:
    """Count the app's access log lines for ``route`` by their SQL statement count."""
    counts: Counter[int] = Counter()
    for line in log_text.splitlines():
        if not line.startswith("{") or '"taskhub.access"' not in line:
            continue
        entry = json.loads(line)
        if entry.get("route") == route and entry.get("method") == method and entry.get("status") == 200:
            counts[int(entry["sql_count"])] += 1
    return counts


def routes_table(log_text: str) -> str:
    """Server-side time per route from the app's access log: what wrk's latency adds queueing to."""
    durations: dict[str, list[float]] = {}
    statements: dict[str, Counter[int]] = {}
    for line in log_text.splitlines():
        if not line.startswith("{") or '"taskhub.access"' not in line:
            continue
        entry = json.loads(line)
        name = f"{entry.get('method')} {entry.get('route')} {entry.get('status')}"
        durations.setdefault(name, []).append(float(entry["duration_ms"]))
        statements.setdefault(name, Counter())[int(entry["sql_count"])] += 1
    lines = [
        f"| {'route (server side)':<72} | {'requests':>8} | {'p50 ms':>7} | {'p99 ms':>7} | SQL (count: requests) |",
        f"|{'-' * 74}|{'-' * 10}|{'-' * 9}|{'-' * 9}|------|",
    ]
    for name, values in sorted(durations.items(), key=lambda item: -len(item[1])):
        ordered = sorted(values)
        p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        counts = dict(sorted(statements[name].items()))
        lines.append(f"| {name:<72} | {len(values):>8} | {p50:>7.1f} | {p99:>7.1f} | {counts} |")
    return "\n".join(lines)


def results_table(scales: list[Scale]) -> str:
    lines = [
        f"| {'size':<5} | {'endpoint':<32} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} "
        f"| {'errors':>6} | {'requests':>8} |",
        f"|{'-' * 7}|{'-' * 34}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 8}|{'-' * 10}|",
    ]
    for scale in scales:
        for name, result in scale.results.items():
            lines.append(
                f"| {scale.name:<5} | {name:<32} | {result.rps:>7.1f} | {result.p50_ms:>7.1f} | {result.p99_ms:>7.1f} "
                f"| {result.errors:>6} | {result.requests:>8} |"
            )
    return "\n".join(lines)


def comparisons_table(scales: list[Scale]) -> str:
    """Each compared endpoint: the sides' requests/s and the ratios, totals and round by round."""
    sides = [APP, BARE, NAIVE, WITHOUT_DRF]
    header = " | ".join(f"{side:>15}" for side in sides)
    lines = [
        f"| {'size':<5} | {'endpoint':<16} | {header} | app/bare | app/naive | naive/bare | app/no-DRF "
        "| rounds app/bare |",
        f"|{'-' * 7}|{'-' * 18}|" + "|".join("-" * 17 for _ in sides) + "|----------|-----------|------------|"
        "------------|-----------------|",
    ]
    for scale in scales:
        for endpoint, comparison in scale.comparisons.items():
            rps = " | ".join(
                f"{comparison.total(side).rps:>15.1f}" if side in comparison.rounds else f"{'':>15}" for side in sides
            )

            def ratio(one: str, other: str, width: int, comparison: Any = comparison) -> str:
                present = one in comparison.rounds and other in comparison.rounds
                return f"{comparison.ratio(one, other):>{width}.2f}" if present else " " * width

            rounds = ", ".join(f"{value:.2f}" for value in comparison.round_ratios(APP, BARE))
            lines.append(
                f"| {scale.name:<5} | {endpoint:<16} | {rps} | {ratio(APP, BARE, 8)} | {ratio(APP, NAIVE, 9)} "
                f"| {ratio(NAIVE, BARE, 10)} | {ratio(APP, WITHOUT_DRF, 10)} | {rounds:<15} |"
            )
    return "\n".join(lines)


@dataclass
class Target:
    name: str
    met: bool
    figure: str
    # For a gap: what the run measured of its cause.
    cause: str = ""

    def row(self) -> str:
        figure = self.figure if self.met or not self.cause else f"{self.figure}. Cause measured: {self.cause}"
        return f"| {self.name:<58} | {'met' if self.met else 'GAP':<4} | {figure} |"


def _server_side(log_text: str, endpoint: str) -> str:
    """The app's own view of an endpoint, from its access log: statements and time inside Django."""
    method, route, status = ENDPOINT_ROUTES[endpoint]
    durations: list[float] = []
    statements: Counter[int] = Counter()
    for line in log_text.splitlines():
        if not line.startswith("{") or '"taskhub.access"' not in line:
            continue
        entry = json.loads(line)
        if entry.get("route") == route and entry.get("method") == method and entry.get("status") == status:
            durations.append(float(entry["duration_ms"]))
            statements[int(entry["sql_count"])] += 1
    if not durations:
        return ""
    usual = statements.most_common(1)[0][0]
    return (
        f"{usual} SQL statements per request in the app{' (one round trip)' if method == 'GET' else ''} "
        f"(bare Django {BARE_STATEMENTS[endpoint]}), "
        f"p50 {sorted(durations)[len(durations) // 2]:.1f} ms inside Django under load"
    )


def _cause(endpoint: str, comparison: Any, log_text: str) -> str:
    parts = []
    if WITHOUT_DRF in comparison.rounds:
        parts.append(
            f"app / app without DRF {comparison.ratio(APP, WITHOUT_DRF):.2f}x (DRF, authentication, permissions, "
            f"throttles, filters), app without DRF / bare Django {comparison.ratio(WITHOUT_DRF, BARE):.2f}x "
            "(the app's middleware, tenant context, access log and metrics, cursor links)"
        )
    server_side = _server_side(log_text, endpoint)
    if server_side:
        parts.append(server_side)
    return "; ".join(parts)


def _baseline_targets(scale: Scale, log_text: str) -> list[Target]:
    rows = []
    for endpoint, (minimum, label) in BASELINE_TARGETS.items():
        comparison = scale.comparisons.get(endpoint)
        if comparison is None:
            continue
        ratio = comparison.ratio(APP, BARE)
        rounds = ", ".join(f"{value:.2f}" for value in comparison.round_ratios(APP, BARE))
        app, bare = comparison.total(APP), comparison.total(BARE)
        naive = f"; naive DRF {comparison.ratio(APP, NAIVE):.2f}x" if NAIVE in comparison.rounds else ""
        rows.append(
            Target(
                f"{label} >= {minimum:.1f}x bare Django ({scale.name})",
                ratio >= minimum,
                f"{ratio:.2f}x ({app.rps:.0f} vs {bare.rps:.0f} req/s; rounds {rounds}){naive}",
                _cause(endpoint, comparison, log_text),
            )
        )
    return rows


def _deep(scale: Scale, first_name: str, deep_name: str) -> Target:
    first, deep = scale.results[first_name], scale.results[deep_name]
    return Target(
        f"{deep_name.rsplit(', ', 1)[-1]} <= 1.2x first page ({deep_name.rsplit(', ', 1)[0]}, {scale.name}, p50)",
        deep.p50_ms <= 1.2 * first.p50_ms,
        f"{deep.p50_ms:.1f} ms vs {first.p50_ms:.1f} ms = {deep.p50_ms / first.p50_ms:.2f}x "
        f"(p99 {deep.p99_ms:.1f} vs {first.p99_ms:.1f} ms; req/s {deep.rps:.0f} vs {first.rps:.0f})",
    )


# Round trips per create, as taskhub/tenancy/tests/test_write_round_trips.py pins them.
WRITE_ROUND_TRIPS = {"/api/v1/projects/": 4, "/api/v1/tasks/": 5}


def _trips_targets(trips: list[Trips]) -> list[Target]:
    reads = [measured for measured in trips if measured.method == "GET"]
    writes = [measured for measured in trips if measured.method != "GET"]
    rows = []
    if reads:
        answered = all(set(measured.statuses) == {200} for measured in reads)
        rows += [
            Target(
                "1 round trip to PostgreSQL per read (warm)",
                answered and all(measured.worst_postgresql == 1 for measured in reads),
                "; ".join(f"{measured.path}: {dict(sorted(measured.postgresql.items()))}" for measured in reads)
                + " (round trips: requests)",
            ),
            Target(
                "<= 1 round trip to Redis per read (warm)",
                answered and all(measured.worst_redis <= 1 for measured in reads),
                "; ".join(f"{measured.path}: {dict(sorted(measured.redis.items()))}" for measured in reads),
            ),
        ]
    if writes:
        created = all(set(measured.statuses) == {201} for measured in writes)
        rows.append(
            Target(
                "creates: round trips as the tests pin them (project 4, task 5; Redis 1)",
                created
                and all(
                    measured.worst_postgresql <= WRITE_ROUND_TRIPS.get(measured.path, 0) and measured.worst_redis <= 1
                    for measured in writes
                ),
                "; ".join(
                    f"POST {measured.path}: PostgreSQL {dict(sorted(measured.postgresql.items()))}, "
                    f"Redis {dict(sorted(measured.redis.items()))}"
                    for measured in writes
                )
                + " (round trips: requests)",
            )
        )
    return rows


def targets(
    scales: list[Scale], sustained: Result, log_text: str, workers: int, trips: list[Trips] | None = None
) -> list[Target]:
    small, large = scales[0], scales[-1]
    real_counts = sql_counts(log_text, route=LIST_ROUTE)
    floor_counts = sql_counts(log_text, route=WITHOUT_DRF_ROUTE)
    real_usual = real_counts.most_common(1)[0][0] if real_counts else -1
    floor_usual = floor_counts.most_common(1)[0][0] if floor_counts else -1
    above = sum(count for statements, count in real_counts.items() if statements > floor_usual)
    worst = max(real_counts) if real_counts else -1
    total = sum(real_counts.values())
    within = sum(count for statements, count in real_counts.items() if statements <= 4)
    small_p99, large_p99 = small.results["list projects"].p99_ms, large.results["list projects"].p99_ms
    deep_pages = [("list projects, first page", f"list projects, page {large.deep_page}")]
    if large.big_projects:
        big = f"{large.big_projects // 1000}k-project org"
        deep_pages.append((f"{big}, first page", f"{big}, page {large.big_projects // 2 // 50 + 1}"))
    return [
        *(row for scale in scales for row in _baseline_targets(scale, log_text)),
        *_trips_targets(trips or []),
        Target(
            "0 auth queries on the hot path (list)",
            real_usual == floor_usual,
            f"{real_usual - floor_usual} extra statements vs the list without DRF in {real_counts[real_usual]} of "
            f"{sum(real_counts.values())} list requests; {above} cold-cache requests had more",
        ),
        Target(
            "<= 4 SQL statements per list request (warm)",
            0 <= real_usual <= 4 and within >= 0.99 * total,
            f"{within} of {total} list requests ran <= 4 (statements: requests {dict(sorted(real_counts.items()))}; "
            f"the first request of a token on a cold cache at most {worst})",
        ),
        Target(
            f"p99 at {large.name} <= 1.5x p99 at {small.name} (list)",
            large_p99 <= 1.5 * small_p99,
            f"{large_p99:.1f} ms vs {small_p99:.1f} ms = {large_p99 / small_p99:.2f}x",
        ),
        *(_deep(large, first, deep) for first, deep in deep_pages),
        Target(
            "EXPLAIN: page query is an index scan led by organization_id",
            all(plan.led_by_organization for scale in scales for plan in scale.plans.values()),
            "; ".join(
                f"{scale.name} {name}: {plan.top_scan}, {plan.execution_ms:.2f} ms"
                for scale in scales
                for name, plan in scale.plans.items()
            ),
        ),
        Target(
            f"{sustained.seconds:.0f} s at {workers} workers: 0 non-2xx",
            sustained.errors == 0,
            f"{sustained.non2xx} non-2xx, {sustained.socket_errors} socket errors in {sustained.requests} requests "
            f"({sustained.rps:.0f} req/s, p50 {sustained.p50_ms:.1f} ms, p99 {sustained.p99_ms:.1f} ms)",
        ),
    ]


def targets_table(rows: list[Target]) -> str:
    header = [f"| {'target':<58} | met? | figure |", f"|{'-' * 60}|------|--------|"]
    return "\n".join(header + [row.row() for row in rows])


def plans_text(scales: list[Scale]) -> str:
    lines = []
    for scale in scales:
        for name, plan in scale.plans.items():
            lines.append(
                f"{scale.name} {name}: {plan.top_scan}; Index Cond: {plan.index_condition}; "
                f"Buffers: {plan.buffers}; Execution {plan.execution_ms:.2f} ms; "
                f"led by organization_id: {'yes' if plan.led_by_organization else 'NO'}"
            )
    return "\n".join(lines)
