"""README.md's "A walk through the API", run as written: its bash block against a live server.

The block is taken from README.md as it stands and run with bash (``set -euo pipefail``, every
request ``curl -fsS``, so any answer that is not a success ends it with an error) against
gunicorn on a private PostgreSQL and Redis under production settings
(``throwaway.running_stack``), with ``API`` pointed at that server. The server writes its
emails to files (``servers.FileEmailBackend``) instead of sending them; when the block stops to
ask for an invitation token, as it asks a person reading the ``make run`` console, this test
answers with the token from the email just written to that address.

Like every test that starts servers it runs only in the PostgreSQL pass (``e2e``); the checks of
the block's shape below run everywhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import e2e, throwaway

README = throwaway.REPO / "README.md"
SECTION = "## A walk through the API"
THIS_TEST = "taskhub/accounts/tests/test_readme_walkthrough.py"
# The emails the block waits for, in order: the block reads one token from its input for each.
INVITED = ("charles@example.com", "ada@example.com")
TOKEN_LINE = re.compile(r"^Or paste this invitation token into the app: (\S+)$", re.MULTILINE)
MISSING = [*throwaway.missing_binaries(), *(name for name in ("bash", "curl", "jq") if shutil.which(name) is None)]
SCRIPT_SECONDS = 120


def section() -> str:
    text = README.read_text()
    assert SECTION in text, f"README.md has no {SECTION!r}"
    return text.split(SECTION, 1)[1].split("\n## ", 1)[0]


def walkthrough_block() -> str:
    blocks = re.findall(r"^```bash\n(.*?)^```$", section(), flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, f"expected one bash block in {SECTION!r}, found {len(blocks)}"
    return blocks[0]


def test_the_block_stops_at_the_first_failure_and_names_this_test():
    block = walkthrough_block()
    assert block.startswith("set -euo pipefail\n")
    assert "API=${API:-http://127.0.0.1:8000/api/v1}" in block
    # Every curl fails on an error status, except the one that reads a status on purpose.
    for line in block.splitlines():
        if re.search(r"\bcurl\b", line):
            assert "curl -fsS" in line or "-w '%{http_code}'" in line, line
    assert block.count("read -rp ") == len(INVITED)
    assert f"The same story runs as tests: `{THIS_TEST}`" in section()


def invitation_token(outbox: Path, address: str) -> str | None:
    """The token in the email the server wrote to ``address``, if it has written it yet."""
    for message in sorted(outbox.glob("*.log")):
        text = message.read_text(errors="replace")
        if re.search(rf"^To: {re.escape(address)}$", text, flags=re.MULTILINE):
            found = TOKEN_LINE.search(text)
            if found:
                return found.group(1)
    return None


def answer_prompts(script: subprocess.Popen[bytes], outbox: Path, output: Path, stack: throwaway.Stack) -> None:
    """Feed the block each invitation token as its email arrives; fail if it ends before asking."""
    assert script.stdin is not None
    for address in INVITED:
        deadline = time.monotonic() + SCRIPT_SECONDS
        while (token := invitation_token(outbox, address)) is None:
            if script.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"no email to {address} before the README's block ended or {SCRIPT_SECONDS} s passed:\n"
                    f"{output.read_text()}\n--- gunicorn:\n{stack.app.log_tail()}"
                )
            time.sleep(0.1)
        script.stdin.write(f"{token}\n".encode())
        script.stdin.flush()
    script.stdin.close()


@e2e.mark(MISSING, purpose="to run the README's walk through against a live server")
def test_readme_walkthrough_runs_as_written(tmp_path: Path):
    e2e.require(MISSING, what="the README walk through")
    script_path = tmp_path / "walk.sh"
    script_path.write_text(walkthrough_block())
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    output = tmp_path / "walk.out"
    server_environment = {
        "EMAIL_BACKEND": "tests.support.servers.FileEmailBackend",
        "EMAIL_FILE_PATH": str(outbox),
    }
    with throwaway.running_stack(server_environment=server_environment, worker=True) as stack:
        api = f"http://127.0.0.1:{stack.client.port}/api/v1"
        with output.open("wb") as log:
            script = subprocess.Popen(
                ["bash", str(script_path)],  # noqa: S607 - bash from PATH, as a reader runs it
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=throwaway.child_environment(API=api),
                cwd=tmp_path,
            )
            try:
                answer_prompts(script, outbox, output, stack)
                returncode = script.wait(timeout=SCRIPT_SECONDS)
            finally:
                if script.poll() is None:
                    script.kill()
                    script.wait(timeout=10)
        printed = output.read_text()
        print(f"\nthe README's walk through printed:\n{printed}")  # noqa: T201 - shown with -s
        assert returncode == 0, f"the README's block exited {returncode}:\n{printed}\n{stack.app.log_tail()}"

    # What it printed along the way: Ada in Navy as a viewer, Charles refused after his removal,
    # the labelled task found by its label, its comment, and the audit trail of it all.
    assert re.search(r'"organization": "navy",\s+"role": "viewer"', printed), printed
    assert "Charles after his removal: 401" in printed
    assert "1 Punch the cards high" in printed
    assert "comment: The loom cards need a second pass." in printed
    for action in (
        "organization.created",
        "invitation.accepted",
        "api_key.created",
        "member.removed",
        "label.created",
        "task.created",
        "comment.created",
    ):
        assert action in printed, printed
