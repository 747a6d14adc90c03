"""Gunicorn settings for Taskhub: ``gunicorn config.wsgi:application -c deploy/gunicorn.conf.py``.

Every value that differs between hosts comes from the environment (deploy/README.md,
"Application server"); the rest is fixed here so every instance behaves the same.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any

# Behind nginx on the same host or private network; the port nginx's upstream names.
bind = [os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")]
# Sync workers: each serves one request at a time, so (2 x cores) + 1 keeps the CPUs busy
# while some workers wait on PostgreSQL or Redis.
workers = int(os.environ.get("WEB_CONCURRENCY", "") or multiprocessing.cpu_count() * 2 + 1)
# A worker silent this long is killed and replaced; nginx's proxy_read_timeout is a little longer.
timeout = 120
# On SIGTERM (a deploy), workers get this long to finish the requests they are serving.
graceful_timeout = 30
keepalive = 5
# Recycle each worker after about this many requests (jittered, so they do not all restart at once).
max_requests = 1000
max_requests_jitter = 100
# Only these peers may say, in X-Forwarded-Proto and friends, how the client connected.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The app writes one JSON access line per request (with its request id and no query string);
# gunicorn's own access line would repeat it, query string and all.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Gunicorn's own messages (boot, worker timeouts, signals) as JSON lines, like the app's.
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "taskhub.core.logformat.JsonFormatter"}},
    "handlers": {
        "error_console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json"},
        "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json"},
    },
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
}

# Gunicorn's control socket is one path per user by default: two instances on one host would
# fight over it, and nothing here uses it.
control_socket_disable = True


def _multiprocess_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    return Path(value) if value else None


def on_starting(server: Any) -> None:
    """Empty the metrics directory: files of a previous run would be added into the totals."""
    directory = _multiprocess_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's metric files stop counting as live (docs/observability.md)."""
    if _multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess  # noqa: PLC0415 - only with multiprocess metrics

    multiprocess.mark_process_dead(worker.pid)
