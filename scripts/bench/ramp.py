"""``python -m scripts.bench.ramp`` (``make load``): ramp locustfile.py's users to failure on a private stack.

Starts the same stack as make bench, seeds the small size, runs Locust headless with the
RampToFailure shape, and prints the breaking point: the first step whose error rate or p99
crossed the threshold, and the last step before it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from scripts.bench.stack import bench_stack
from tests.support.servers import REPO

ORGANIZATIONS = 10


def main() -> None:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.ramp", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2 * cores + 1)
    parser.add_argument("--step-users", type=int, default=5)
    parser.add_argument("--step-seconds", type=int, default=15)
    parser.add_argument("--max-users", type=int, default=300)
    parser.add_argument("--max-error-rate", type=float, default=0.01)
    parser.add_argument("--max-p99-ms", type=float, default=1000)
    arguments = parser.parse_args()
    with bench_stack(workers=arguments.workers) as stack:
        stack.seed(organizations=ORGANIZATIONS, projects=1000, tasks=1)
        environment = {
            **os.environ,
            "TASKHUB_RAMP": "1",
            "TASKHUB_PASSWORD": stack.password,
            "TASKHUB_ORGANIZATIONS": str(ORGANIZATIONS),
            "RAMP_STEP_USERS": str(arguments.step_users),
            "RAMP_STEP_SECONDS": str(arguments.step_seconds),
            "RAMP_MAX_USERS": str(arguments.max_users),
            "RAMP_MAX_ERROR_RATE": str(arguments.max_error_rate),
            "RAMP_MAX_P99_MS": str(arguments.max_p99_ms),
        }
        command = [
            sys.executable, "-m", "locust", "-f", str(REPO / "locustfile.py"), "--headless",
            "--host", stack.base_url, "--only-summary", "--loglevel", "WARNING",
        ]  # fmt: skip
        print(f"Ramping: +{arguments.step_users} users every {arguments.step_seconds} s on {arguments.workers} workers")
        process = subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        breaking = None
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith("ramp breaking point: "):
                breaking = json.loads(line.removeprefix("ramp breaking point: "))
        process.wait()
    if breaking is None:
        raise SystemExit("Locust ended without a breaking point; see its output above.")
    last = breaking.get("last_good") or {}
    crossed = "crossed a threshold" if breaking["crossed"] else "reached --max-users without crossing a threshold"
    print(
        f"Breaking point: {breaking['users']} users {crossed}: {breaking['rps']} req/s, "
        f"error rate {breaking['error_rate']:.2%}, p50 {breaking['p50_ms']} ms, p99 {breaking['p99_ms']} ms "
        f"(sign-in p50 {breaking['sign_in_p50_ms']} ms). Last step under the thresholds: "
        f"{last.get('users', 0)} users, {last.get('rps', 0)} req/s, p99 {last.get('p99_ms', 0)} ms."
    )


if __name__ == "__main__":
    main()
