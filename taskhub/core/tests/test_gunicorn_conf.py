"""deploy/gunicorn.conf.py, read the way gunicorn reads it: as a Python file of settings."""

import multiprocessing
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

CONF = Path(__file__).resolve().parents[3] / "deploy" / "gunicorn.conf.py"


def load(monkeypatch, *, cpus: int = 2, **environment: str) -> dict:
    """Run the file as gunicorn does, on a machine with ``cpus`` cores and only ``environment`` set."""
    for name in ("WEB_CONCURRENCY", "GUNICORN_BIND", "FORWARDED_ALLOW_IPS", "PROMETHEUS_MULTIPROC_DIR", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(multiprocessing, "cpu_count", lambda: cpus)
    return runpy.run_path(str(CONF))


@pytest.mark.parametrize(("cpus", "workers"), [(1, 3), (2, 5), (4, 9), (8, 17)])
def test_workers_default_to_twice_the_cores_plus_one(monkeypatch, cpus, workers):
    assert load(monkeypatch, cpus=cpus)["workers"] == workers


# An empty WEB_CONCURRENCY counts as unset: the default for the cores.
@pytest.mark.parametrize(("cpus", "concurrency", "workers"), [(2, "3", 3), (16, "3", 3), (16, "1", 1), (2, "", 5)])
def test_web_concurrency_sets_the_workers_whatever_the_cores(monkeypatch, cpus, concurrency, workers):
    assert load(monkeypatch, cpus=cpus, WEB_CONCURRENCY=concurrency)["workers"] == workers


def test_defaults_without_any_variable(monkeypatch):
    conf = load(monkeypatch)
    assert conf["bind"] == ["0.0.0.0:8000"]
    assert conf["forwarded_allow_ips"] == "127.0.0.1"
    assert conf["loglevel"] == "info"
    assert conf["logconfig_dict"]["loggers"]["gunicorn.error"]["level"] == "INFO"
    assert load(monkeypatch, LOG_LEVEL="WARNING")["loglevel"] == "warning"


def test_timeouts_recycling_and_logs_follow_the_checklist(monkeypatch):
    conf = load(monkeypatch, GUNICORN_BIND="127.0.0.1:9000", FORWARDED_ALLOW_IPS="10.0.0.5")
    assert conf["bind"] == ["127.0.0.1:9000"]
    assert conf["timeout"] == 120
    assert conf["graceful_timeout"] == 30
    assert (conf["max_requests"], conf["max_requests_jitter"]) == (1000, 100)
    assert conf["forwarded_allow_ips"] == "10.0.0.5"
    # The app writes the access line itself; gunicorn's would carry query strings.
    assert conf["accesslog"] is None
    assert conf["errorlog"] == "-"


def test_multiprocess_metrics_directory_is_emptied_at_start_and_dead_workers_marked(monkeypatch, tmp_path):
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    conf = load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    conf["on_starting"](SimpleNamespace(log=SimpleNamespace(info=lambda *a, **k: None)))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "gauge_liveall_4242.db").write_bytes(b"x")
    conf["child_exit"](None, SimpleNamespace(pid=4242))
    assert not (tmp_path / "gauge_liveall_4242.db").exists()
