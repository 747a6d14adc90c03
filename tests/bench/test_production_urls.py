"""Production cannot route the benchmark: its URL conf is config.urls, and config.urls has no bench route.

The bench's list without DRF reads any organization without a credential; only the bench's own
settings (scripts/bench/settings.py, ROOT_URLCONF scripts.bench.urls) route it. Under the
production settings, in a fresh process as a deployed worker starts: ROOT_URLCONF is config.urls,
no route of the whole resolver tree mentions bench or leads into scripts/ or tests/, that view's
path falls through to the JSON 404, its name does not reverse, and loading every route imported
nothing from scripts/ or tests/. The baseline project's paths (scripts/bench/baseline: bare Django
and naive DRF, which read any organization too) all fall through to the same 404, and the sample
paths tried are shown to reach every route of the baseline's own URL conf. In-process the same
holds for config.urls itself. import-linter keeps product modules from importing scripts/ and
tests/; a dotted path in a string (ROOT_URLCONF, a backend) is no import, so the last test reads
every product module's string constants for one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, resolve, reverse

from tests.support.servers import REPO, fresh_process_json

# What scripts/bench/baseline/settings.py requires; nothing here connects to it.
BASELINE_ENVIRONMENT = {"DB_NAME": "unused", "DB_HOST": "127.0.0.1", "DB_PLATFORM_USER": "unused"}

WITHOUT_DRF_PATH = "/bench/without-drf/organizations/00000000-0000-0000-0000-000000000001/projects/"
WITHOUT_DRF_NAME = "bench-without-drf-projects"
ONE = "00000000-0000-0000-0000-000000000001"
# A path for each route of the baseline project (scripts/bench/baseline/urls.py); the last test
# below proves they reach all of them.
BASELINE_PATHS = [
    f"/bare/organizations/{ONE}/projects/",
    f"/bare/organizations/{ONE}/projects/{ONE}/",
    f"/bare/organizations/{ONE}/projects/{ONE}/tasks/",
    "/naive/projects/",
    f"/naive/projects/{ONE}/",
    "/naive/tasks/",
    f"/naive/tasks/{ONE}/",
]
# Its liveness answer shares the product's path (and reaches the product's own view there).
BASELINE_LIVE = "/health/live/"
# A module of the benchmark or of the tests, named in a string: "scripts.bench.urls", "tests.support.x".
NOT_PRODUCT = re.compile(r"^(scripts|tests)(\.\w+)+$")

PROBE = (
    """
import json, sys
import django
django.setup()
from django.conf import settings
from django.urls import NoReverseMatch, Resolver404, get_resolver, resolve, reverse


def resolved(path):
    try:
        return resolve(path)
    except Resolver404:
        return None


def walk(resolver, prefix=""):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if hasattr(pattern, "url_patterns"):
            yield from walk(pattern, route)
        else:
            yield [route, pattern.name, pattern.lookup_str]


routes = list(walk(get_resolver()))
try:
    reverse(WITHOUT_DRF_NAME, kwargs={"organization_id": "00000000-0000-0000-0000-000000000001"})
    reversed_without_drf = True
except NoReverseMatch:
    reversed_without_drf = False
print(json.dumps({
    "root_urlconf": settings.ROOT_URLCONF,
    "routes": routes,
    "without_drf_path_view": resolved(WITHOUT_DRF_PATH).func.__module__ if resolved(WITHOUT_DRF_PATH) else None,
    "reversed_without_drf": reversed_without_drf,
    "baseline_views": {path: resolved(path)._func_path for path in BASELINE_PATHS},
    "baseline_names": {path: resolved(path).url_name for path in BASELINE_PATHS},
    "loaded": sorted(name for name in sys.modules if name.split(".")[0] in ("scripts", "tests")),
}))
""".replace("WITHOUT_DRF_NAME", repr(WITHOUT_DRF_NAME))
    .replace("WITHOUT_DRF_PATH", repr(WITHOUT_DRF_PATH))
    .replace("BASELINE_PATHS", repr(BASELINE_PATHS))
)


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
    assert probe["without_drf_path_view"] == "taskhub.core.errors"
    assert probe["reversed_without_drf"] is False
    assert set(probe["baseline_views"].values()) == {"taskhub.core.errors.not_found"}
    assert probe["loaded"] == []


def test_the_bench_settings_differ_from_production_only_by_the_route_without_drf():
    """The control: the probe does see the bench route where it exists."""
    probe = _probe("scripts.bench.settings")

    assert probe["root_urlconf"] == "scripts.bench.urls"
    assert [name for _, name, _ in _benchy(probe["routes"])] == [WITHOUT_DRF_NAME]
    assert probe["without_drf_path_view"] == "scripts.bench.without_drf"
    assert probe["reversed_without_drf"] is True
    production = _probe("config.settings.production")
    assert [route for route in probe["routes"] if route[1] != WITHOUT_DRF_NAME] == production["routes"]


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
    assert resolve(WITHOUT_DRF_PATH, urlconf="config.urls").func.__module__ == "taskhub.core.errors"
    for path in BASELINE_PATHS:
        assert resolve(path, urlconf="config.urls").func.__module__ == "taskhub.core.errors", path
    with pytest.raises(NoReverseMatch):
        reverse(WITHOUT_DRF_NAME, urlconf="config.urls", kwargs={"organization_id": ONE})


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


def test_the_baseline_paths_tried_reach_every_route_of_the_baseline_project():
    """The control for BASELINE_PATHS: under the baseline's own settings they reach each of its routes."""
    probe = fresh_process_json(
        PROBE, settings_module="scripts.bench.baseline.settings", environment=BASELINE_ENVIRONMENT
    )

    assert probe["root_urlconf"] == "scripts.bench.baseline.urls"
    unreached = [route for route in probe["routes"] if route[1] not in probe["baseline_names"].values()]
    assert [route for route, _, _ in unreached] == [BASELINE_LIVE.lstrip("/")]
    assert all(view.startswith("scripts.bench.baseline.") for view in probe["baseline_views"].values())
