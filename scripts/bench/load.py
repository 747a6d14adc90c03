"""Drive load with wrk (a separate process) and read back what it measured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("wrk.lua")
INSTALL_HINT = (
    "wrk is missing: install it with `apt-get install -y wrk` (Debian/Ubuntu, as root), "
    "or from https://github.com/wg/wrk, then run make bench again."
)


def ensure_wrk() -> str:
    """Return the path of wrk, installing the Debian package when running as root on Debian."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing the Debian package (apt-get install -y wrk)", flush=True)
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, env=environment, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=environment, check=False)
            subprocess.run(install, env=environment, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(INSTALL_HINT)


@dataclass
class Result:
    """One wrk run: throughput, errors and latency (milliseconds)."""

    requests: int
    seconds: float
    non2xx: int
    status5xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


@dataclass
class Spec:
    """One request of a load: ``body`` may hold ``@KEY``, replaced by a fresh project key each time."""

    method: str
    path: str
    body: str = ""

    def arg(self) -> str:
        return f"{self.method} {self.path} {self.body}".rstrip()


def run_wrk(
    wrk: str, base_url: str, specs: list[Spec], *, token: str | None, seconds: float, connections: int
) -> Result:
    """Run wrk for ``seconds`` with ``connections`` open connections, cycling through ``specs``."""
    command = [
        wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
        "-s", str(LUA), base_url, "--", token or "-", *(spec.arg() for spec in specs),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(lines[-1])
    return Result(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non2xx=data["non2xx"],
        status5xx=data["status5xx"],
        socket_errors=data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )


def combine(results: list[Result]) -> Result:
    """Add up rounds of one load: totals summed, latency the median round's (wrk keeps no raw samples)."""

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    return Result(
        requests=sum(result.requests for result in results),
        seconds=sum(result.seconds for result in results),
        non2xx=sum(result.non2xx for result in results),
        status5xx=sum(result.status5xx for result in results),
        socket_errors=sum(result.socket_errors for result in results),
        p50_ms=median([result.p50_ms for result in results]),
        p90_ms=median([result.p90_ms for result in results]),
        p99_ms=median([result.p99_ms for result in results]),
        max_ms=max(result.max_ms for result in results),
    )
