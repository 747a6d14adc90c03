"""Benchmark: production settings, plus the bare comparison view of scripts/bench. Never deployed."""

from config.settings.production import *  # noqa: F403

# config.urls plus /bench/bare/...: a view that reads any organization without a credential.
ROOT_URLCONF = "config.urls_bench"
