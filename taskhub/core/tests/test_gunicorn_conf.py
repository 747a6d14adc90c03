"""deploy/gunicorn.conf.py, read the way gunicorn reads it: as a Python file of settings."""

import multiprocessing
import runpy
from pathlib import Path
from types import SimpleNamespace

CONF = Path(__file__).resolve().parents[3] / "deploy" / "gunicorn.conf.py"


def load(monkeypatch, **environment: str) -> dict:
    for name in ("WEB_CONCURRENCY", "GUNICORN_BIND", "FORWARDED_ALLOW_IPS", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_workers_default_to_twice_the_cores_plus_one(monkeypatch):
    assert load(monkeypatch)["workers"] == 2 * multiprocessing.cpu_count() + 1
    assert load(monkeypatch, WEB_CONCURRENCY="3")["workers"] == 3


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
