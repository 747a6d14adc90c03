"""``python -m scripts.bench --only servers``: the list of 50 under other server settings, against the app as deployed.

The reference is the stack's own gunicorn: sync workers, ``deploy/gunicorn.conf.py`` (max_requests
1000, jitter 100), every middleware of the production settings. Each variant is a second gunicorn
of the app with the same worker count, started for its comparison and stopped after it, differing
in one thing: gunicorn options on the command line (which win over the config file) or one
middleware left out (``BENCH_WITHOUT_MIDDLEWARE``, read by scripts/bench/settings.py). The two take
turns round after round, so the ratio of their requests/s is the variant's effect.

- worker class: gthread with 2 and 4 threads per process; sync with ``preload_app``;
- recycling: ``max_requests`` 0 (never) and 100 (jitter 10) against the deployed 1000;
- middleware: one run per middleware with that one removed. A removal another middleware depends
  on shows as non-2xx answers: its figure is then no cost.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scripts.bench.load import Result, Spec
from scripts.bench.scenarios import PAGE, PROJECTS, Comparison, Load, Runner
from scripts.bench.stack import BenchStack
from tests.support.servers import REPO, run

DEPLOYED = "as deployed"
PRELOAD_NOTE = (
    "preload_app imports the app once in the master and forks it: workers start faster and share "
    "memory copy-on-write, but a code deploy then needs a full restart (or USR2 for a new master, "
    "then QUIT to the old one): HUP re-forks workers from the master's old code"
)
GTHREAD_NOTE = "gthread keeps client connections alive (keepalive 5 s); sync workers close each after one request"
ADMIN_MIDDLEWARE = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
)
_MIDDLEWARE = (
    "import json, django; django.setup(); from django.conf import settings; print(json.dumps(settings.MIDDLEWARE))"
)


@dataclass
class Variant:
    group: str
    name: str
    args: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass
class Measured:
    """A variant's rounds against the deployed server's, or why it could not be measured."""

    variant: Variant
    comparison: Comparison | None
    failure: str = ""

    @property
    def reference(self) -> Result | None:
        return self.comparison.total(DEPLOYED) if self.comparison else None

    @property
    def result(self) -> Result | None:
        return self.comparison.total(self.variant.name) if self.comparison else None

    @property
    def ratio(self) -> float | None:
        return self.comparison.ratio(self.variant.name, DEPLOYED) if self.comparison else None

    @property
    def round_ratios(self) -> list[float]:
        return self.comparison.round_ratios(self.variant.name, DEPLOYED) if self.comparison else []

    def line(self) -> str:
        title = f"{self.variant.group}: {self.variant.name}"
        if self.result is None or self.reference is None:
            return f"{title}: not measured: {self.failure}"
        rounds = ", ".join(f"{value:.2f}" for value in self.round_ratios)
        broken = f"; {self.result.errors} non-2xx or socket errors: no cost figure" if self.result.errors else ""
        return (
            f"{title}: {self.result.rps:.0f} req/s vs {self.reference.rps:.0f} as deployed = {self.ratio:.2f}x "
            f"(rounds {rounds}){broken}"
        )


def middleware(stack: BenchStack) -> list[str]:
    """The app's MIDDLEWARE under the bench settings, as its workers load it."""
    output = run([sys.executable, "-c", _MIDDLEWARE], timeout=120, env=stack.environment(), cwd=REPO)
    return list(json.loads(output.strip().splitlines()[-1]))


def variants(middleware: list[str]) -> list[Variant]:
    admin = {"BENCH_WITHOUT_MIDDLEWARE": ",".join(ADMIN_MIDDLEWARE)}
    return [
        Variant(
            "worker class", "gthread, 2 threads", ("--worker-class", "gthread", "--threads", "2"), note=GTHREAD_NOTE
        ),
        Variant(
            "worker class", "gthread, 4 threads", ("--worker-class", "gthread", "--threads", "4"), note=GTHREAD_NOTE
        ),
        Variant("worker class", "sync, preload_app", ("--preload",), note=PRELOAD_NOTE),
        Variant("recycling", "max_requests 0 (never)", ("--max-requests", "0")),
        Variant("recycling", "max_requests 100, jitter 10", ("--max-requests", "100", "--max-requests-jitter", "10")),
        *(
            Variant(
                "middleware",
                f"without {path.rsplit('.', 1)[-1]}",
                environment={"BENCH_WITHOUT_MIDDLEWARE": path},
                note=path,
            )
            for path in middleware
        ),
        *(
            # SessionMiddleware cannot go alone (AuthenticationMiddleware needs it): the three the
            # admin's pages need, which the API's token requests do not, together.
            [Variant("middleware", "without the admin's session, auth and messages", environment=admin, note="")]
            if all(path in middleware for path in ADMIN_MIDDLEWARE)
            else []
        ),
    ]


def chosen(every: list[Variant], wanted: str) -> list[Variant]:
    """The variants whose group or name contains one of ``wanted``'s comma-separated words (all when empty)."""
    words = [word.strip().lower() for word in wanted.split(",") if word.strip()]
    if not words:
        return every
    return [
        variant
        for variant in every
        if any(word in f"{variant.group} {variant.name} {variant.note}".lower() for word in words)
    ]


def measure(stack: BenchStack, runner: Runner, token: str, every: list[Variant]) -> list[Measured]:
    """Each variant against the deployed server, in turns; printed as it goes."""
    specs = [Spec("GET", f"{PROJECTS}?page_size={PAGE}")]
    measured = []
    for index, variant in enumerate(every, start=1):
        try:
            with stack.variant(str(index), args=variant.args, extra=variant.environment) as server:
                comparison = runner.rotate(
                    f"list projects, {variant.name}",
                    [
                        Load(DEPLOYED, stack.base_url, specs, token),
                        Load(variant.name, f"http://127.0.0.1:{server.port}", specs, token),
                    ],
                )
            measured.append(Measured(variant, comparison))
        except (RuntimeError, TimeoutError) as exc:
            # A middleware others depend on (sessions before authentication): the app does not
            # even answer /health/live/ without it.
            error = _last_error(stack.root / f"variant-{index}.log")
            measured.append(Measured(variant, None, f"{str(exc).splitlines()[0]}{error}"))
        print(f"  {measured[-1].line()}", flush=True)
    return measured


def _last_error(log: Path) -> str:
    """The exception of the last ERROR line gunicorn's log holds (JSON lines), as '': <exception>'."""
    errors = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("level") == "ERROR":
                errors.append(str(record.get("exc_info") or record.get("message", "")).strip().splitlines()[-1])
    return f": {errors[-1]}" if errors else ""


def table(measured: list[Measured]) -> str:
    lines = [
        f"| {'group':<12} | {'variant':<48} | {'req/s':>7} | {'deployed':>8} | ratio | non-2xx | rounds |",
        f"|{'-' * 14}|{'-' * 50}|{'-' * 9}|{'-' * 10}|-------|---------|--------|",
    ]
    for entry in measured:
        if entry.result is None or entry.reference is None:
            lines.append(f"| {entry.variant.group:<12} | {entry.variant.name:<48} | not measured: {entry.failure} |")
            continue
        rounds = ", ".join(f"{value:.2f}" for value in entry.round_ratios)
        lines.append(
            f"| {entry.variant.group:<12} | {entry.variant.name:<48} | {entry.result.rps:>7.1f} "
            f"| {entry.reference.rps:>8.1f} | {entry.ratio:>5.2f} | {entry.result.errors:>7} | {rounds} |"
        )
    notes = sorted(
        {entry.variant.note for entry in measured if entry.variant.group != "middleware" and entry.variant.note}
    )
    return "\n".join(lines + [f"Note: {note}." for note in notes])
