"""What is measured at one data size: each endpoint, real against bare, first page against deep page."""

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


@dataclass
class Settings:
    wrk: str
    connections: int
    round_seconds: float
    pairs: int
    warmup_seconds: float
    depth: int


@dataclass
class Scale:
    """Everything measured at one data size."""

    name: str
    projects: int
    seed_seconds: float
    results: dict[str, Result] = field(default_factory=dict)
    pair_ratios: list[float] = field(default_factory=list)
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

    def run(self, specs: list[Spec], *, token: str | None, seconds: float) -> Result:
        return run_wrk(
            self.settings.wrk,
            self.stack.base_url,
            specs,
            token=token,
            seconds=seconds,
            connections=self.settings.connections,
        )

    def warm(self, specs: list[Spec], *, token: str | None) -> None:
        self.run(specs, token=token, seconds=self.settings.warmup_seconds)

    def alternate(
        self, first: list[Spec], second: list[Spec], *, token: str | None
    ) -> tuple[list[Result], list[Result]]:
        """Run ``first`` and ``second`` in turns, ``pairs`` times each, after warming both."""
        self.warm(first, token=token)
        self.warm(second, token=token)
        ones, twos = [], []
        for _ in range(self.settings.pairs):
            ones.append(self.run(first, token=token, seconds=self.settings.round_seconds))
            twos.append(self.run(second, token=token, seconds=self.settings.round_seconds))
        return ones, twos

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

    def measure(self, scale: Scale, *, token_obtain: bool) -> None:
        stack, results = self.stack, scale.results
        token = stack.token("bench-1-owner")
        organization = organization_of(token)
        first = [Spec("GET", f"{PROJECTS}?page_size={PAGE}")]
        bare = [Spec("GET", f"/bench/without-drf/organizations/{organization}/projects/?page_size={PAGE}")]

        reals, bares = self.alternate(first, bare, token=token)
        results["list projects"], results["bare view"] = combine(reals), combine(bares)
        scale.pair_ratios = [real.rps / other.rps for real, other in zip(reals, bares, strict=True) if other.rps]
        print(f"  list projects vs bare: {_line(results['list projects'])} | {_line(results['bare view'])}")

        deep_path, scale.deep_page, position = deep_page(stack, token, self.settings.depth)
        firsts, deeps = self.alternate(first, [Spec("GET", deep_path)], token=token)
        results["list projects, first page"] = combine(firsts)
        results[f"list projects, page {scale.deep_page}"] = combine(deeps)
        print(f"  first vs page {scale.deep_page}: {_line(combine(firsts))} | {_line(combine(deeps))}")

        page = stack.app.client.get(first[0].path, token=token).body["results"]
        results["list tasks ?status=todo"] = self.single(
            [Spec("GET", f"/api/v1/tasks/?status=todo&page_size={PAGE}")], token=token
        )
        results["retrieve project"] = self.single([Spec("GET", f"{PROJECTS}{row['id']}/") for row in page], token=token)
        # In another organization: the measured one keeps its 1,000 projects at every size.
        results["create project"] = self.single(
            [Spec("POST", PROJECTS, '{"key": "@KEY", "name": "Created by the benchmark"}')],
            token=stack.token("bench-3-owner"),
        )
        if token_obtain:
            bodies = [
                json.dumps({"username": f"bench-{index}-member", "password": stack.password}) for index in range(1, 6)
            ]
            results["token obtain"] = self.sign_in([Spec("POST", "/api/v1/auth/token/", body) for body in bodies])
        for name in ("list tasks ?status=todo", "retrieve project", "create project", "token obtain"):
            if name in results:
                print(f"  {name}: {_line(results[name])}")

        environment = stack.environment()
        scale.plans["first page"] = explain_page(environment, organization_id=organization, position=None, size=PAGE)
        scale.plans[f"page {scale.deep_page}"] = explain_page(
            environment, organization_id=organization, position=position, size=PAGE
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


def _line(result: Result) -> str:
    return f"{result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, {result.errors} errors"
