"""The numbers README.md's configuration table quotes as defaults are the ones the code applies.

Every default that is a number, a rate (``60/min``) or ``True``/``False`` is compared with the
default of each place the code reads that variable (``env.integer("NAME", 60)`` and the like,
found in the source of config/ and taskhub/), so a lifetime, timeout or limit changed in the
code without the README fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
READERS = {"integer", "string", "boolean"}
RATE = re.compile(r"\d+/(?:s|sec|min|hour|day)")


def readme_defaults() -> dict[str, str]:
    """Variable name to the default the README quotes, for the defaults this test can compare."""
    table = (REPO / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    quoted: dict[str, str] = {}
    for row in table.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        names = cells[0].split(", ")
        values = [value.strip("`") for value in cells[1].split(", ")]
        if len(names) != len(values) or not all(re.fullmatch(r"`[A-Z0-9_]+`", name) for name in names):
            continue
        for name, value in zip(names, values, strict=True):
            if comparable(value):
                quoted[name.strip("`")] = value
    return quoted


def comparable(value: str) -> bool:
    return value in ("True", "False") or bool(re.fullmatch(r"\d+(?:\.\d+)?", value) or RATE.fullmatch(value))


def code_defaults() -> dict[str, set[str]]:
    """Variable name to every default the code gives it where it reads it."""
    found: dict[str, set[str]] = {}
    sources = [*(REPO / "config").rglob("*.py"), *(REPO / "taskhub").rglob("*.py")]
    for source in sources:
        if "tests" in source.parts or "migrations" in source.parts:
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            function = node.func
            reader = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
            name, default = node.args[0], node.args[1]
            if reader in READERS and isinstance(name, ast.Constant) and isinstance(default, ast.Constant):
                found.setdefault(str(name.value), set()).add(str(default.value))
    return found


def same(quoted: str, applied: str) -> bool:
    if quoted in ("True", "False") or RATE.fullmatch(quoted):
        return quoted == applied
    try:
        return float(quoted) == float(applied)
    except ValueError:
        return False


def test_every_number_the_configuration_table_quotes_is_the_codes_default():
    quoted = readme_defaults()
    # The table's lifetimes, timeouts, limits and rates are all found (the parsing still works).
    assert {"JWT_ACCESS_TOKEN_LIFETIME_MINUTES", "DB_CONNECT_TIMEOUT", "THROTTLE_SIGN_IN_RATE"} <= set(quoted)
    applied = code_defaults()
    wrong = {
        name: (value, sorted(applied.get(name, set()) or {"(not read with a default)"}))
        for name, value in quoted.items()
        if not applied.get(name) or not all(same(value, default) for default in applied[name])
    }
    assert not wrong, f"README default vs the code's: {wrong}"
