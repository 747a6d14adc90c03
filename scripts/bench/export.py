"""``python -m scripts.bench.export``: an owner's export of a big organization, through a real worker.

A private PostgreSQL, Redis and gunicorn (scripts.bench.stack) and one ``manage.py worker``. One
organization gets ``--projects`` x ``--tasks`` tasks (200,000 by default, seeded with
generate_series), another a few. Then:

1. the other organization's ``GET /api/v1/projects/`` latency, alone;
2. ``POST organization/exports/`` as the big organization's owner; while the worker writes the
   file, the other organization's requests again, and the worker's RSS from /proc (VmRSS
   sampled, VmHWM: the kernel's own peak);
3. the download over HTTP, streamed to disk;
4. ``import_organization --slug <new> --new-ids`` of the file (its peak RSS sampled likewise);
5. rows and content checksums of every table, source against copy.

Prints the figures (docs/benchmarks.md, "Exports"); ``--json`` also writes them to a file.
Not part of the test suite: the seed alone takes a while.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.bench.stack import BenchStack, bench_stack
from tests.support.servers import REPO, AppServer, WorkerProcess

TARGET_RSS_MB = 150
DIGEST_SCRIPT = """
import json
from taskhub.core import rls
from taskhub.organizations.export import organization_digests
from taskhub.organizations.models import Organization
with rls.bypass("bench: digests"):
    print(json.dumps({slug: organization_digests(organization_id=Organization.objects.get(slug=slug).pk)
                      for slug in %r}))
"""


@dataclass
class ExportStack(BenchStack):
    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"


@contextlib.contextmanager
def export_stack() -> Iterator[ExportStack]:
    with bench_stack(workers=2, kind=ExportStack, prefix="taskhub-bench-export-") as stack:
        assert isinstance(stack, ExportStack)
        yield stack


def status_kb(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` figure in kB (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Sample a process's VmRSS and VmHWM every ``interval`` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.hwm = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.peak_rss = max(self.peak_rss, status_kb(self.pid, "VmRSS"))
            self.hwm = max(self.hwm, status_kb(self.pid, "VmHWM"))
            time.sleep(self.interval)

    def stop(self) -> None:
        self.halt.set()
        self.join()


def latencies(
    app: AppServer, token: str, *, count: int | None = None, until: threading.Event | None = None
) -> list[float]:
    """Milliseconds of ``GET /api/v1/projects/`` as ``token``, ``count`` times or until ``until`` is set."""
    seconds: list[float] = []
    while (count is not None and len(seconds) < count) or (until is not None and not until.is_set()):
        reply = app.client.get("/api/v1/projects/", token=token)
        if reply.status != 200:
            raise RuntimeError(f"GET /api/v1/projects/ answered {reply.status}: {reply.text[:200]}")
        seconds.append(reply.seconds * 1000)
    return seconds


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "requests": len(ordered),
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
    }


def download(port: int, url: str, token: str, target: Path) -> tuple[int, float]:
    """Stream ``url`` to ``target``; return (bytes, seconds)."""
    path = "/" + url.split("//", 1)[-1].split("/", 1)[-1]
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    size = 0
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"download answered {response.status}: {response.read(300)!r}")
        with target.open("wb") as out:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                size += len(chunk)
    finally:
        connection.close()
    return size, time.monotonic() - started


def run_sampled(command: list[str], environment: dict[str, str]) -> tuple[float, int, str]:
    """Run ``command``; return (seconds, peak RSS in kB from its VmHWM, output)."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = Sampler(process.pid)
    sampler.start()
    output, _ = process.communicate(timeout=1800)
    sampler.stop()
    if process.returncode != 0:
        raise RuntimeError(f"{command} exited {process.returncode}:\n{output.decode(errors='replace')[-2000:]}")
    return time.monotonic() - started, sampler.hwm, output.decode(errors="replace")


def main() -> None:  # noqa: PLR0915 - one linear measurement, step by step
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.export", description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=1000, help="per project (200 x 1,000 = 200,000 tasks)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    arguments = parser.parse_args()
    figures: dict[str, Any] = {"tasks": arguments.projects * arguments.tasks}

    with export_stack() as stack:
        print(f"seeding {arguments.projects} x {arguments.tasks} tasks ...", flush=True)
        figures["seed_seconds"] = round(
            stack.seed(organizations=1, projects=arguments.projects, tasks=arguments.tasks, prefix="big"), 1
        )
        stack.seed(organizations=1, projects=20, tasks=5, prefix="other")
        worker = WorkerProcess(stack.root)
        worker.start(stack.environment(), concurrency=2)
        assert worker.process is not None
        pid = worker.process.pid
        owner = stack.token("big-1-owner")
        other = stack.token("other-1-owner")

        latencies(stack.app, other, count=20)  # warm up
        figures["other_tenant_before"] = summary(latencies(stack.app, other, count=200))
        figures["worker_rss_idle_mb"] = round(status_kb(pid, "VmRSS") / 1024, 1)

        sampler = Sampler(pid)
        sampler.start()
        done = threading.Event()
        during: list[float] = []
        load = threading.Thread(target=lambda: during.extend(latencies(stack.app, other, until=done)), daemon=True)
        started = time.monotonic()
        queued = stack.app.client.post("/api/v1/organization/exports/", {}, token=owner)
        if queued.status != 202:
            raise RuntimeError(f"POST organization/exports/ answered {queued.status}: {queued.text[:300]}")
        load.start()
        detail = "/" + queued.headers["location"].split("//", 1)[-1].split("/", 1)[-1]
        while True:
            body = stack.app.client.get(detail, token=owner).body
            if body["status"] in ("ready", "failed"):
                break
            time.sleep(0.2)
        figures["export_seconds"] = round(time.monotonic() - started, 1)
        done.set()
        load.join()
        sampler.stop()
        if body["status"] != "ready":
            raise RuntimeError(f"the export failed: {body['error']}\n{worker.log_tail()}")
        figures["other_tenant_during"] = summary(during)
        figures["worker_rss_peak_sampled_mb"] = round(sampler.peak_rss / 1024, 1)
        figures["worker_vmhwm_mb"] = round(status_kb(pid, "VmHWM") / 1024, 1)
        figures["export_bytes"] = body["size"]
        figures["export_rows"] = body["counts"]

        target = stack.root / "export.ndjson.gz"
        size, seconds = download(stack.app.port, body["download_url"], owner, target)
        figures["download"] = {"bytes": size, "seconds": round(seconds, 2)}

        seconds, peak, _ = run_sampled(
            [sys.executable, "manage.py", "import_organization", str(target), "--slug", "big-copy", "--new-ids"],
            stack.environment(),
        )
        figures["import"] = {"seconds": round(seconds, 1), "peak_rss_mb": round(peak / 1024, 1)}

        output = stack.manage("shell", "-c", DIGEST_SCRIPT % (["big-1", "big-copy"],))
        digests = json.loads(output.strip().splitlines()[-1])
        source, copy = digests["big-1"], digests["big-copy"]
        figures["tables"] = {label: {"rows": source[label][0], "copy_rows": copy[label][0]} for label in source}
        figures["checksums_equal"] = source == copy
        figures["worker_exit_code"] = worker.terminate()

    print(json.dumps(figures, indent=2))
    rss = figures["worker_vmhwm_mb"]
    print(f"worker peak RSS {rss} MB (target < {TARGET_RSS_MB}): {'PASS' if rss < TARGET_RSS_MB else 'FAIL'}")
    print(f"copy's rows and checksums equal the source's: {'PASS' if figures['checksums_equal'] else 'FAIL'}")
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
