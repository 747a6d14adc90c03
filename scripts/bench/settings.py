"""The benchmark's settings (``make bench`` only): production settings, plus the bare comparison view.

Never deployed: the production settings route config.urls, which has no bench route
(tests/bench/test_production_urls.py), and no product module imports scripts/ (import-linter).
"""

from config.settings.production import *  # noqa: F403

# config.urls plus /bench/bare/...: a view that reads any organization without a credential.
ROOT_URLCONF = "scripts.bench.urls"
