"""Production cannot route the benchmark: its URL conf is config.urls, and config.urls has no bench route.

The bench's bare view reads any organization without a credential; only the bench's own settings
(scripts/bench/settings.py, ROOT_URLCONF scripts.bench.urls) route it. Under the production
settings, in a fresh process as a deployed worker starts: ROOT_URLCONF is config.urls, no route of
the whole resolver tree mentions bench or leads into scripts/ or tests/, the bare view's path falls
through to the JSON 404, its name does not reverse, and loading every route imported nothing from
scripts/ or tests/. In-process the same holds for config.urls itself. import-linter keeps product
modules from importing scripts/ and tests/; a dotted path in a string (ROOT_URLCONF, a backend) is
no import, so the last test reads every product module's string constants for one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, resolve, reverse

from tests.support.servers import REPO, fresh_process_json

BARE_PATH = "/bench/bare/organizations/00000000-0000-0000-0000-000000000001/projects/"
BARE_NAME = "bench-bare-projects"
# A module of the benchmark or of the tests, named in a string: "scripts.bench.urls", "tests.support.x".
NOT_PRODUCT = re.compile(r"^(scripts|tests)(\.\w+)+$")

PROBE = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.urls import NoReverseMatch, get_resolver, resolve, reverse


def walk(resolver, prefix=""):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if hasattr(pattern, "url_patterns"):
            yield from walk(pattern, route)
        else:
            yield [route, pattern.name, pattern.lookup_str]


routes = list(walk(get_resolver()))
try:
    reverse(BARE_NAME, kwargs={"organization_id": "00000000-0000-0000-0000-000000000001"})
    reversed_bare = True
except NoReverseMatch:
    reversed_bare = False
print(json.dumps({
    "root_urlconf": settings.ROOT_URLCONF,
    "routes": routes,
    "bare_path_view": resolve(BARE_PATH).func.__module__,
    "reversed_bare": reversed_bare,
    "loaded": sorted(name for name in sys.modules if name.split(".")[0] in ("scripts", "tests")),
}))
""".replace("BARE_NAME", repr(BARE_NAME)).replace("BARE_PATH", repr(BARE_PATH))


def _probe(settings_module: str) -> dict[str, Any]:
    """Load ``settings_module`` and every route in a fresh process (nothing of this test's imports in it)."""
    return fresh_process_json(PROBE, settings_module=settings_module)


def _benchy(routes: list[list[Any]]) -> list[list[Any]]:
    """Routes whose path, name or view has anything to do with the benchmark or the tests."""
    return [
        [route, name, view]
        for route, name, view in routes
        if "bench" in route or "bench" in (name or "") or NOT_PRODUCT.match(view.rsplit(".", 1)[0])
    ]


@pytest.mark.parametrize("settings_module", ["config.settings.production", "config.settings.local"])
def test_production_and_local_settings_route_config_urls_with_no_bench_route(settings_module):
    probe = _probe(settings_module)

    assert probe["root_urlconf"] == "config.urls"
    assert len(probe["routes"]) > 10, "the resolver walk found no routes"
    assert _benchy(probe["routes"]) == []
    assert probe["bare_path_view"] == "taskhub.core.errors"
    assert probe["reversed_bare"] is False
    assert probe["loaded"] == []


def test_the_bench_settings_differ_from_production_only_by_the_bare_route():
    """The control: the probe does see the bench route where it exists."""
    probe = _probe("scripts.bench.settings")

    assert probe["root_urlconf"] == "scripts.bench.urls"
    assert [name for _, name, _ in _benchy(probe["routes"])] == [BARE_NAME]
    assert probe["bare_path_view"] == "scripts.bench.bare"
    assert probe["reversed_bare"] is True
    production = _probe("config.settings.production")
    assert [route for route in probe["routes"] if route[1] != BARE_NAME] == production["routes"]


def _walk(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, str | None, str]]:
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.name, pattern.lookup_str


def test_config_urls_has_no_bench_route():
    routes = [list(route) for route in _walk(get_resolver("config.urls"))]

    assert routes
    assert _benchy(routes) == []
    assert resolve(BARE_PATH, urlconf="config.urls").func.__module__ == "taskhub.core.errors"
    with pytest.raises(NoReverseMatch):
        reverse(BARE_NAME, urlconf="config.urls", kwargs={"organization_id": "00000000-0000-0000-0000-000000000001"})


def _product_modules() -> Iterator[str]:
    for top in ("config", "taskhub"):
        for path in sorted((REPO / top).rglob("*.py")):
            relative = path.relative_to(REPO)
            if "tests" not in relative.parts and "migrations" not in relative.parts:
                yield str(relative)


def test_no_product_module_names_a_bench_or_test_module_in_a_string():
    named = [
        f"{module}:{node.lineno}: {node.value!r}"
        for module in _product_modules()
        for node in ast.walk(ast.parse((REPO / module).read_text(), filename=module))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and NOT_PRODUCT.match(node.value)
    ]

    assert named == []
