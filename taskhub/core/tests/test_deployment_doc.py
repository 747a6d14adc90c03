"""DEPLOYMENT.md names what checks each row, and what it names exists.

Every row of its tables says in its "verified" column either that CI checks it, naming a test
file, a command or a check id, or plainly that it is a document, done by hand, or not done.
Every test file, repository path, check id and ``docs/<file>.md, "<section>"`` it names must
exist, so a renamed test or section cannot leave the checklist pointing at nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.throwaway import REPO

DEPLOYMENT = REPO / "DEPLOYMENT.md"
# What a "verified" cell may say instead of naming a check.
NOT_CI = ("doc", "by hand", "not done")
# What names a check: a test file, a command CI runs, a deploy check id.
CHECK = re.compile(r"test_\w+\.py|\.ci/run|`make \w+`|\bE1\d\d\b|\bpreflight\b")
PATH = re.compile(r"`((?:taskhub|tests|deploy|docs|scripts|config|\.github|\.ci)/[\w./-]+)`")
TEST_FILE = re.compile(r"\b(test_\w+\.py)\b")
CHECK_ID = re.compile(r"\bE1\d\d\b")
SECTION = re.compile(r"(docs/[\w-]+\.md), \"([^\"]+)\"")


def _rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in DEPLOYMENT.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) != 3 or cells[0] in {"item", "---"} or set(cells[0]) <= {"-"}:
            continue
        rows.append((cells[0], cells[1], cells[2]))
    return rows


def _deploy_check_ids() -> set[str]:
    text = "".join(path.read_text() for path in (REPO / "taskhub" / "core").glob("*.py"))
    return set(re.findall(r"taskhub\.(E1\d\d)", text))


def test_the_checklist_has_its_tables():
    assert len(_rows()) >= 50, "DEPLOYMENT.md's tables were not found"


def test_every_row_names_its_check_or_says_it_is_not_checked():
    def names_its_check(verified: str) -> bool:
        if "CI" in verified:
            return CHECK.search(verified) is not None
        return any(word in verified for word in NOT_CI)

    vague = [item for item, _, verified in _rows() if not names_its_check(verified)]
    assert not vague, f"rows whose 'verified' names no test, command or check id: {vague}"


def test_every_named_path_exists():
    text = DEPLOYMENT.read_text()
    missing = [path for path in PATH.findall(text) if not (REPO / path.rstrip("/")).exists()]
    assert not missing, missing


def test_every_named_test_file_exists():
    tests = {path.name for top in ("taskhub", "tests") for path in (REPO / top).rglob("test_*.py")}
    missing = sorted(set(TEST_FILE.findall(DEPLOYMENT.read_text())) - tests)
    assert not missing, missing


def test_every_named_check_id_exists():
    missing = sorted(set(CHECK_ID.findall(DEPLOYMENT.read_text())) - _deploy_check_ids())
    assert not missing, missing


def test_every_named_docs_section_exists():
    text = DEPLOYMENT.read_text()
    sections = SECTION.findall(text)
    assert sections
    for document, title in sections:
        headings = re.findall(r"^#+ (.+)$", (REPO / document).read_text(), re.MULTILINE)
        # A section may be named by the start of its heading, up to its colon ("Layer 2").
        assert any(heading == title or heading.startswith(f"{title}:") for heading in headings), (
            f'{document}, "{title}": no such section'
        )


def test_the_checklist_says_what_ci_runs():
    text = DEPLOYMENT.read_text()
    assert "`.ci/run`, also run by `.github/workflows/ci.yml`" in text
    assert Path(REPO / ".ci" / "run").exists()
