"""``python -m scripts.bench`` (``make bench``): measure the API at two data sizes and print each target.

Starts a private PostgreSQL, Redis, the app under gunicorn (production settings plus the list
without DRF) and, next to it, the baseline project (scripts/bench/baseline: bare Django and naive
DRF on the same rows); seeds a small size, measures every endpoint with wrk against its baselines
and the sign-in latency, grows the data to the large size, measures again, runs a steady mix, then
prints the results, the baselines, the query plans and the targets. ``--only sign-in`` measures the
sign-in latency alone (about a minute); ``--only servers`` the list of 50 under other gunicorn
worker classes, preload, recycling and without each middleware (scripts/bench/variants.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scripts.bench import context, sign_in, trips, variants
from scripts.bench.load import ensure_wrk
from scripts.bench.report import (
    Target,
    comparisons_table,
    plans_text,
    results_table,
    routes_table,
    targets,
    targets_table,
)
from scripts.bench.scenarios import PAGE, PROJECTS, Runner, Scale, Settings
from scripts.bench.stack import BenchStack, bench_stack

PROJECTS_PER_ORGANIZATION = 1000
TASKS_PER_PROJECT = 1
# Issue #14's goal for one sign-in on an idle server (Argon2id; PBKDF2 took about 600 ms).
SIGN_IN_P50_TARGET_MS = 100


def _arguments() -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k projects, short rounds (about 2 minutes)")
    parser.add_argument("--workers", type=int, default=2 * cores + 1, help="gunicorn workers (default 2 x cores + 1)")
    parser.add_argument("--small", type=int, default=10, help="organizations at the small size (1,000 projects each)")
    parser.add_argument("--large", type=int, default=1000, help="organizations at the large size")
    parser.add_argument(
        "--big", type=int, default=50_000, help="projects of one extra organization at the large size (0: none)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--only",
        choices=["all", "sign-in", "servers"],
        default="all",
        help="sign-in: only the sign-in latency (a minute); servers: the list of 50 per worker class, preload, "
        "max_requests and without each middleware, against the deployed server (about 10 minutes, 6 with --quick)",
    )
    parser.add_argument(
        "--variants",
        default="",
        help="with --only servers: only the variants whose group or name contains one of these comma-separated "
        "words (e.g. gthread,preload,max_requests,Csrf)",
    )
    parser.add_argument(
        "--hasher",
        choices=["argon2id", "pbkdf2"],
        default="argon2id",
        help="the first password hasher: argon2id (production's) or pbkdf2 (as before, to compare)",
    )
    parser.add_argument("--sign-in-samples", type=int, default=sign_in.SAMPLES, help="sequential sign-ins measured")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.large = min(arguments.large, 100)
        arguments.big = min(arguments.big, 20_000)
    return arguments


def _size(organizations: int) -> str:
    projects = organizations * PROJECTS_PER_ORGANIZATION
    return f"{projects // 1_000_000}M" if projects % 1_000_000 == 0 else f"{projects // 1000}k"


def _app_environment(arguments: argparse.Namespace) -> dict[str, str]:
    return {"BENCH_PASSWORD_HASHER": arguments.hasher}


def _sign_in_target(latency: sign_in.SignInLatency) -> Target:
    return Target(
        f"sign-in p50 <= {SIGN_IN_P50_TARGET_MS} ms (sequential, idle server)",
        latency.p50_ms <= SIGN_IN_P50_TARGET_MS and latency.errors == 0,
        f"p50 {latency.p50_ms:.1f} ms, p95 {latency.p95_ms:.1f} ms over {latency.samples}; {latency.hasher}",
    )


def sign_in_only(arguments: argparse.Namespace) -> None:
    """Start the stack, seed one organization, and measure sequential sign-ins alone."""
    started = time.monotonic()
    print(
        f"Taskhub sign-in latency: {os.cpu_count()} cores, {arguments.workers} gunicorn workers, "
        f"hasher {arguments.hasher}, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with bench_stack(workers=arguments.workers, extra=_app_environment(arguments)) as stack:
        stack.seed(organizations=1, projects=1, tasks=0)
        latency = sign_in.measure(stack, samples=arguments.sign_in_samples)
    print(latency.line())
    print(_sign_in_target(latency).row())
    print(f"Took {time.monotonic() - started:.0f} s.")
    if arguments.json:
        arguments.json.write_text(json.dumps({"sign_in": asdict(latency)}, indent=2))


def _settings(arguments: argparse.Namespace, *, pairs: int) -> Settings:
    return Settings(
        wrk=ensure_wrk(),
        connections=2 * arguments.workers,
        round_seconds=3 if arguments.quick else 5,
        pairs=pairs,
        warmup_seconds=1 if arguments.quick else 2,
        depth=PROJECTS_PER_ORGANIZATION // 50 - 2,
    )


def servers_only(arguments: argparse.Namespace) -> None:
    """The list of 50 under each server variant, against the app as deployed (scripts/bench/variants.py)."""
    started = time.monotonic()
    settings = _settings(arguments, pairs=2)
    print(
        f"Taskhub server variants: {os.cpu_count()} cores, {arguments.workers} gunicorn workers each, wrk with "
        f"{settings.connections} connections, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with bench_stack(workers=arguments.workers, extra=_app_environment(arguments)) as stack:
        stack.seed(organizations=arguments.small, projects=PROJECTS_PER_ORGANIZATION, tasks=0)
        every = variants.chosen(variants.variants(variants.middleware(stack)), arguments.variants)
        print(f"{len(every)} variants, each against the deployed server, list of 50 as bench-1-owner", flush=True)
        measured = variants.measure(stack, Runner(stack, settings), stack.token("bench-1-owner"), every)
    print()
    print(variants.table(measured))
    print(f"Took {time.monotonic() - started:.0f} s.")
    if arguments.json:
        document = {
            "workers": arguments.workers,
            "variants": [
                {
                    "group": entry.variant.group,
                    "name": entry.variant.name,
                    "args": list(entry.variant.args),
                    "environment": entry.variant.environment,
                    "ratio": entry.ratio,
                    "round_ratios": entry.round_ratios,
                    "result": {**asdict(entry.result), "rps": entry.result.rps} if entry.result else None,
                    "deployed": {**asdict(entry.reference), "rps": entry.reference.rps} if entry.reference else None,
                    "failure": entry.failure,
                }
                for entry in measured
            ],
        }
        arguments.json.write_text(json.dumps(document, indent=2))


def _comparisons(scale: Scale) -> dict[str, Any]:
    return {
        endpoint: {
            side: {
                **asdict(comparison.total(side)),
                "rps": comparison.total(side).rps,
                "rounds": [result.rps for result in rounds],
            }
            for side, rounds in comparison.rounds.items()
        }
        for endpoint, comparison in scale.comparisons.items()
    }


def _round_trips(stack: BenchStack) -> list[trips.Trips]:
    """Round trips per read of the list, a retrieve and the task list, and per create of a project
    and of a task, counted in this process (trips.py)."""
    token = stack.token("bench-1-owner")
    page = stack.app.client.get(f"{PROJECTS}?page_size={PAGE}", token=token).body["results"]
    paths = [
        f"{PROJECTS}?page_size={PAGE}",
        f"{PROJECTS}{page[0]['id']}/",
        f"/api/v1/tasks/?status=todo&page_size={PAGE}",
    ]
    writes = [
        (PROJECTS, lambda number: {"key": f"RT{number}", "name": f"Round trips {number}"}),
        ("/api/v1/tasks/", lambda number: {"project": page[0]["id"], "title": f"Round trips {number}"}),
    ]
    counted = trips.measure(stack.environment(), token=token, paths=paths, writes=writes)
    for measured in counted:
        print(f"  {measured.line()}", flush=True)
    return counted


def main() -> None:
    arguments = _arguments()
    if arguments.only == "sign-in":
        sign_in_only(arguments)
        return
    if arguments.only == "servers":
        servers_only(arguments)
        return
    started = time.monotonic()
    settings = _settings(arguments, pairs=2 if arguments.quick else 3)
    sustained_seconds = 15 if arguments.quick else 60
    print(
        f"Taskhub benchmark: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{arguments.workers} gunicorn workers, wrk with {settings.connections} connections, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with bench_stack(workers=arguments.workers, extra=_app_environment(arguments), baseline=True) as stack:
        print(f"Servers up and migrated in {time.monotonic() - started:.0f} s (PostgreSQL port {stack.postgres.port})")
        costs = context.measure(stack.environment())
        print(costs.text(), flush=True)
        runner = Runner(stack, settings)
        scales = []
        for index, organizations in enumerate((arguments.small, arguments.large)):
            name = _size(organizations)
            print(
                f"Seeding to {name} projects ({organizations} organizations x {PROJECTS_PER_ORGANIZATION})", flush=True
            )
            # Tasks in the small size only: the large one is about the projects table, and seeding
            # a million tasks as well would double its time.
            seconds = stack.seed(
                organizations=organizations,
                projects=PROJECTS_PER_ORGANIZATION,
                tasks=TASKS_PER_PROJECT if index == 0 else 0,
            )
            scale = Scale(name=name, projects=organizations * PROJECTS_PER_ORGANIZATION, seed_seconds=seconds)
            print(f"Measuring at {name} (seeded in {seconds:.0f} s)", flush=True)
            # The baselines of retrieve and the creates at the small size only (rows they touch are
            # alike at both): the full run stays under ten minutes. The list's at both sizes.
            runner.measure(scale, token_obtain=index == 0, baselines=index == 0)
            if index == 0:
                latency = sign_in.measure(stack, samples=arguments.sign_in_samples)
                print(f"  {latency.line()}", flush=True)
                counted = _round_trips(stack)
            if index == 1 and arguments.big:
                print(f"Adding one organization of {arguments.big} projects", flush=True)
                runner.big_organization(scale, projects=arguments.big)
            scales.append(scale)
        print(f"Steady mix for {sustained_seconds} s at {arguments.workers} workers", flush=True)
        sustained = runner.sustained(sustained_seconds)
        log_text = stack.app.log_text()
        postgres_version = stack.postgres.connect().execute("SHOW server_version").fetchone()[0]
    rows = [*targets(scales, sustained, log_text, arguments.workers, counted), _sign_in_target(latency)]
    total = time.monotonic() - started
    for text in (
        results_table(scales),
        comparisons_table(scales),
        routes_table(log_text),
        plans_text(scales),
        targets_table(rows),
        costs.text(),
    ):
        print()
        print(text)
    print()
    seeding = ", ".join(f"{scale.name} {scale.seed_seconds:.0f} s" for scale in scales)
    print(f"PostgreSQL {postgres_version}; seeding {seeding}; make bench took {total:.0f} s.")
    print(f"Load average at the end (1, 5, 15 min): {', '.join(f'{value:.1f}' for value in os.getloadavg())}.")
    if arguments.json:
        document = {
            "workers": arguments.workers,
            "postgres": postgres_version,
            "seconds": total,
            "scales": [
                {
                    "name": scale.name,
                    "seed_seconds": scale.seed_seconds,
                    "comparisons": _comparisons(scale),
                    "results": {name: {**asdict(result), "rps": result.rps} for name, result in scale.results.items()},
                    "plans": {name: plan.text for name, plan in scale.plans.items()},
                }
                for scale in scales
            ],
            "sustained": {**asdict(sustained), "rps": sustained.rps},
            "sign_in": asdict(latency),
            "targets": [asdict(row) for row in rows],
            "tenant_context": asdict(costs),
            "round_trips": [
                {
                    "method": measured.method,
                    "path": measured.path,
                    "postgresql": {str(number): requests for number, requests in measured.postgresql.items()},
                    "redis": {str(number): requests for number, requests in measured.redis.items()},
                }
                for measured in counted
            ],
        }
        arguments.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
