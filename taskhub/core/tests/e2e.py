"""When a test that runs real servers or a browser runs, skips, or fails for a missing program.

- CI's SQLite pass (``TASKHUB_TEST_SQLITE=1``) runs no servers: skipped.
- Outside CI, a missing program (nginx, pgbouncer, initdb, chromium...) skips the module.
- In CI (``CI=true``) a missing program fails it: ``.ci/run`` installs them, and a test that
  matters must not quietly stop running there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def marks(missing: Sequence[str], *, purpose: str = "to run private servers") -> list[pytest.MarkDecorator]:
    """The module's ``pytestmark``: skip in the SQLite pass, and outside CI when ``missing``."""
    return [
        pytest.mark.skipif(os.environ.get("TASKHUB_TEST_SQLITE") == "1", reason="the SQLite pass runs no servers"),
        pytest.mark.skipif(bool(missing) and not IN_CI, reason=f"needs {', '.join(missing)} {purpose}"),
    ]


def require(missing: Sequence[str], *, what: str) -> None:
    """Fail (only reached in CI, where ``marks`` does not skip) when a needed program is missing."""
    if missing:
        pytest.fail(f"CI=true and {', '.join(missing)} missing: {what} must run in CI (.ci/run installs it)")
