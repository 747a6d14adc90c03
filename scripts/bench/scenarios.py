"""What is measured at one data size: each endpoint against its baselines, first page against deep page.

Every comparison takes its sides in turns, round after round (app, bare Django, naive DRF, ...),
after warming each: the machine's noise then moves them alike, and each round's ratio is kept
next to the ratio of the totals.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from scripts.bench.explain import Plan, explain_page, position_at
from scripts.bench.load import Result, Spec, combine, run_wrk
from scripts.bench.stack import BenchStack

PAGE = 50
PROJECTS = "/api/v1/projects/"
# The sides of a comparison.
APP = "app"
BARE = "bare Django"
NAIVE = "naive DRF"
WITHOUT_DRF = "app without DRF"
# Bodies of the creates: "@KEY" is a fresh random key (wrk.lua).
PROJECT_BODY = '{"key": "@KEY", "name": "Created by the benchmark"}'
TASK_TITLE = "Created by the benchmark"


@dataclass
class Settings:
    wrk: str
    connections: int
    round_seconds: float
    pairs: int
    warmup_seconds: float
    depth: int


@dataclass
class Load:
    """One side of a comparison: which server, which requests (cycled), with which credential."""

    side: str
    base_url: str
    specs: list[Spec]
    token: str | None = None


@dataclass
class Comparison:
    """One endpoint measured on several sides in turns: each side's rounds, in the order they ran."""

    endpoint: str
    rounds: dict[str, list[Result]]

    def total(self, side: str) -> Result:
        return combine(self.rounds[side])

    def ratio(self, side: str, other: str) -> float:
        """``side``'s requests/s over ``other``'s, over all their rounds."""
        below = self.total(other).rps
        return self.total(side).rps / below if below else 0.0

    def round_ratios(self, side: str, other: str) -> list[float]:
        """The same ratio round by round: the n-th round of ``side`` against the n-th of ``other``."""
        return [one.rps / two.rps for one, two in zip(self.rounds[side], self.rounds[other], strict=True) if two.rps]

    def line(self, side: str, other: str) -> str:
        rounds = ", ".join(f"{value:.2f}" for value in self.round_ratios(side, other))
        return f"{side} / {other} {self.ratio(side, other):.2f}x (rounds {rounds})"


@dataclass
class Scale:
    """Everything measured at one data size."""

    name: str
    projects: int
    seed_seconds: float
    results: dict[str, Result] = field(default_factory=dict)
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    deep_page: int = 0
    big_projects: int = 0
    big_seed_seconds: float = 0.0


def organization_of(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["org"])


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def deep_page(stack: BenchStack, token: str, depth: int) -> tuple[str, int, str | None]:
    """Follow ``next`` links ``depth`` times (or to the last page with a next link); return path, page, position."""
    path, page = f"{PROJECTS}?page_size={PAGE}", 1
    for _ in range(depth):
        reply = stack.app.client.get(path, token=token)
        following = reply.body.get("next") if reply.status == 200 else None
        if not following:
            break
        next_reply = stack.app.client.get(_relative(following), token=token)
        if not next_reply.body.get("next"):
            # Keep a page with a next link: the same shape of answer as the first page.
            break
        path, page = _relative(following), page + 1
    cursor = parse_qs(urlsplit(path).query).get("cursor")
    position = None
    if cursor:
        tokens = parse_qs(base64.b64decode(cursor[0]).decode("ascii"))
        position = tokens.get("p", [None])[0]
    return path, page, position


class Runner:
    def __init__(self, stack: BenchStack, settings: Settings) -> None:
        self.stack = stack
        self.settings = settings

    def run(self, specs: list[Spec], *, token: str | None, seconds: float, base_url: str | None = None) -> Result:
        return run_wrk(
            self.settings.wrk,
            base_url or self.stack.base_url,
            specs,
            token=token,
            seconds=seconds,
            connections=self.settings.connections,
        )

    def warm(self, specs: list[Spec], *, token: str | None) -> None:
        self.run(specs, token=token, seconds=self.settings.warmup_seconds)

    def rotate(self, endpoint: str, loads: list[Load]) -> Comparison:
        """Warm each load, then run them in turns, ``pairs`` rounds each."""
        for load in loads:
            self.run(load.specs, token=load.token, seconds=self.settings.warmup_seconds, base_url=load.base_url)
        rounds: dict[str, list[Result]] = {load.side: [] for load in loads}
        for _ in range(self.settings.pairs):
            for load in loads:
                rounds[load.side].append(
                    self.run(load.specs, token=load.token, seconds=self.settings.round_seconds, base_url=load.base_url)
                )
        return Comparison(endpoint, rounds)

    def alternate(
        self, first: list[Spec], second: list[Spec], *, token: str | None
    ) -> tuple[list[Result], list[Result]]:
        """Run ``first`` and ``second`` (both on the app) in turns, ``pairs`` times each, after warming both."""
        comparison = self.rotate(
            "", [Load("first", self.stack.base_url, first, token), Load("second", self.stack.base_url, second, token)]
        )
        return comparison.rounds["first"], comparison.rounds["second"]

    def single(self, specs: list[Spec], *, token: str | None) -> Result:
        self.warm(specs, token=token)
        return self.run(specs, token=token, seconds=self.settings.round_seconds * 2)

    def sign_in(self, specs: list[Spec]) -> Result:
        """Token obtain: a deliberately slow password hash, so one connection per worker and longer."""
        return run_wrk(
            self.settings.wrk,
            self.stack.base_url,
            specs,
            token=None,
            seconds=max(10.0, self.settings.round_seconds * 3),
            connections=self.settings.connections // 2 or 1,
        )

    def compare(self, scale: Scale, endpoint: str, loads: list[Load]) -> Comparison:
        """Measure ``endpoint`` on each side in turns; the app's total goes in the results as ``endpoint``."""
        comparison = self.rotate(endpoint, loads)
        scale.comparisons[endpoint] = comparison
        for load in loads:
            name = endpoint if load.side == APP else f"{endpoint}: {load.side}"
            scale.results[name] = comparison.total(load.side)
        sides = " | ".join(f"{load.side} {_line(comparison.total(load.side))}" for load in loads)
        print(f"  {endpoint}: {sides}", flush=True)
        for load in loads[1:]:
            print(f"    {comparison.line(APP, load.side)}", flush=True)
        if NAIVE in comparison.rounds and BARE in comparison.rounds:
            print(f"    {comparison.line(NAIVE, BARE)}", flush=True)
        return comparison

    def measure(self, scale: Scale, *, token_obtain: bool, baselines: bool) -> None:
        """Every endpoint at this size; ``baselines``: retrieve and the creates against bare Django and naive DRF too.

        The list of 50 is measured against its baselines at every size.
        """
        stack, results = self.stack, scale.results
        app, baseline = stack.base_url, stack.baseline_url
        token = stack.token("bench-1-owner")
        organization = organization_of(token)
        first = [Spec("GET", f"{PROJECTS}?page_size={PAGE}")]
        self.compare(
            scale,
            "list projects",
            [
                Load(APP, app, first, token),
                Load(BARE, baseline, [Spec("GET", f"/bare/organizations/{organization}/projects/?page_size={PAGE}")]),
                Load(NAIVE, baseline, [Spec("GET", f"/naive/projects/?page_size={PAGE}")], token),
                Load(
                    WITHOUT_DRF,
                    app,
                    [Spec("GET", f"/bench/without-drf/organizations/{organization}/projects/?page_size={PAGE}")],
                ),
            ],
        )

        deep_path, scale.deep_page, position = deep_page(stack, token, self.settings.depth)
        firsts, deeps = self.alternate(first, [Spec("GET", deep_path)], token=token)
        results["list projects, first page"] = combine(firsts)
        results[f"list projects, page {scale.deep_page}"] = combine(deeps)
        print(f"  first vs page {scale.deep_page}: {_line(combine(firsts))} | {_line(combine(deeps))}", flush=True)

        ids = [row["id"] for row in stack.app.client.get(first[0].path, token=token).body["results"]]
        results["list tasks ?status=todo"] = self.single(
            [Spec("GET", f"/api/v1/tasks/?status=todo&page_size={PAGE}")], token=token
        )
        print(f"  list tasks ?status=todo: {_line(results['list tasks ?status=todo'])}", flush=True)
        # Writes go to another organization: the measured one keeps its 1,000 projects at every size.
        writer = stack.token("bench-3-owner")
        if baselines:
            self._compare_retrieve_and_creates(scale, token, organization, ids, writer)
        else:
            results["retrieve project"] = self.single([Spec("GET", f"{PROJECTS}{id_}/") for id_ in ids], token=token)
            results["create project"] = self.single([Spec("POST", PROJECTS, PROJECT_BODY)], token=writer)
            for name in ("retrieve project", "create project"):
                print(f"  {name}: {_line(results[name])}", flush=True)
        if token_obtain:
            bodies = [
                json.dumps({"username": f"bench-{index}-member", "password": stack.password}) for index in range(1, 6)
            ]
            results["token obtain"] = self.sign_in([Spec("POST", "/api/v1/auth/token/", body) for body in bodies])
            print(f"  token obtain: {_line(results['token obtain'])}", flush=True)

        environment = stack.environment()
        scale.plans["first page"] = explain_page(environment, organization_id=organization, position=None, size=PAGE)
        scale.plans[f"page {scale.deep_page}"] = explain_page(
            environment, organization_id=organization, position=position, size=PAGE
        )

    def _compare_retrieve_and_creates(
        self, scale: Scale, token: str, organization: str, ids: list[str], writer: str
    ) -> None:
        app, baseline = self.stack.base_url, self.stack.baseline_url
        self.compare(
            scale,
            "retrieve project",
            [
                Load(APP, app, [Spec("GET", f"{PROJECTS}{id_}/") for id_ in ids], token),
                Load(
                    BARE, baseline, [Spec("GET", f"/bare/organizations/{organization}/projects/{id_}/") for id_ in ids]
                ),
                Load(NAIVE, baseline, [Spec("GET", f"/naive/projects/{id_}/") for id_ in ids], token),
            ],
        )
        home = organization_of(writer)
        # Tasks go to 50 projects in turn: one project's counter row would serialize every create.
        projects = [
            row["id"] for row in self.stack.app.client.get(f"{PROJECTS}?page_size={PAGE}", token=writer).body["results"]
        ]
        task = json.dumps({"title": TASK_TITLE})
        self.compare(
            scale,
            "create task",
            [
                Load(APP, app, [Spec("POST", "/api/v1/tasks/", _task_body(id_)) for id_ in projects], writer),
                Load(
                    BARE,
                    baseline,
                    [Spec("POST", f"/bare/organizations/{home}/projects/{id_}/tasks/", task) for id_ in projects],
                ),
                Load(NAIVE, baseline, [Spec("POST", "/naive/tasks/", _task_body(id_)) for id_ in projects], writer),
            ],
        )
        self.compare(
            scale,
            "create project",
            [
                Load(APP, app, [Spec("POST", PROJECTS, PROJECT_BODY)], writer),
                Load(BARE, baseline, [Spec("POST", f"/bare/organizations/{home}/projects/", PROJECT_BODY)]),
                Load(NAIVE, baseline, [Spec("POST", "/naive/projects/", PROJECT_BODY)], writer),
            ],
        )

    def big_organization(self, scale: Scale, *, projects: int) -> None:
        """One organization of ``projects`` projects next to the rest: its first page against a page halfway down."""
        stack, results = self.stack, scale.results
        scale.big_projects = projects
        scale.big_seed_seconds = stack.seed(organizations=1, projects=projects, tasks=0, prefix="big")
        token = stack.token("big-1-owner")
        organization = organization_of(token)
        environment = stack.environment()
        page = projects // 2 // PAGE
        position = position_at(environment, organization_id=organization, offset=page * PAGE - 1)
        cursor = base64.b64encode(urlencode({"p": position}).encode("ascii")).decode("ascii")
        first = [Spec("GET", f"{PROJECTS}?page_size={PAGE}")]
        deep = [Spec("GET", f"{PROJECTS}?{urlencode({'cursor': cursor, 'page_size': PAGE})}")]
        firsts, deeps = self.alternate(first, deep, token=token)
        results[f"{projects // 1000}k-project org, first page"] = combine(firsts)
        results[f"{projects // 1000}k-project org, page {page + 1}"] = combine(deeps)
        print(f"  {projects}-project organization, first vs page {page + 1}:")
        print(f"    {_line(combine(firsts))} | {_line(combine(deeps))}")
        scale.plans[f"{projects // 1000}k-project org, first page"] = explain_page(
            environment, organization_id=organization, position=None, size=PAGE
        )
        scale.plans[f"{projects // 1000}k-project org, page {page + 1}"] = explain_page(
            environment, organization_id=organization, position=position, size=PAGE
        )

    def sustained(self, seconds: float) -> Result:
        """A read-mostly mix at full concurrency for ``seconds``: what a steady minute looks like."""
        token = self.stack.token("bench-2-owner")
        page = self.stack.app.client.get(f"{PROJECTS}?page_size={PAGE}", token=token).body["results"]
        specs = [
            Spec("GET", f"{PROJECTS}?page_size={PAGE}"),
            Spec("GET", f"{PROJECTS}{page[0]['id']}/"),
            Spec("GET", f"/api/v1/tasks/?status=todo&page_size={PAGE}"),
            Spec("GET", f"{PROJECTS}{page[1]['id']}/"),
            Spec("GET", f"{PROJECTS}?page_size=20"),
            Spec("GET", f"/api/v1/tasks/?project={page[2]['id']}"),
            Spec("GET", f"{PROJECTS}{page[3]['id']}/"),
            Spec("GET", f"{PROJECTS}?page_size={PAGE}&status=active"),
            Spec("POST", PROJECTS, '{"key": "@KEY", "name": "Created by the benchmark"}'),
            Spec("GET", f"{PROJECTS}{page[4]['id']}/"),
        ]
        self.warm(specs, token=token)
        return self.run(specs, token=token, seconds=seconds)


def _task_body(project_id: str) -> str:
    return json.dumps({"project": project_id, "title": TASK_TITLE})


def _line(result: Result) -> str:
    return f"{result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, {result.errors} errors"
