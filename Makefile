PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run worker test lint fmt migrate clean bench bench-export load

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.installed-run

$(VENV)/.installed-bench: requirements.txt requirements-bench.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-bench.txt
	touch $@

run: $(VENV)/.installed-run
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver $(HOST):$(PORT)

# The job queue's worker (docs/jobs.md), with the settings `make run` uses; run it next to
# `make run` when DB_* point at PostgreSQL. On SQLite jobs run inline and the command says so.
worker: $(VENV)/.installed-run
	$(PY) manage.py worker $(WORKER_ARGS)

# Two pytest-xdist workers, a test module to each in turn (conftest.py: the slowest first); each
# worker has its own test database (and Redis database: config/settings/test.py). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

test: $(VENV)/.installed-dev
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

fmt: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# A private PostgreSQL, Redis and gunicorn, loaded by wrk; docs/benchmarks.md. BENCH_QUICK=1: about 2 minutes.
bench: $(VENV)/.installed-run
	$(PY) -m scripts.bench $(if $(BENCH_QUICK),--quick) $(BENCH_ARGS)

# 200,000 tasks exported by a real worker (its peak RSS), imported back and compared; docs/benchmarks.md, "Exports".
bench-export: $(VENV)/.installed-run
	$(PY) -m scripts.bench.export $(BENCH_ARGS)

# locustfile.py's users ramped to failure on the same private stack; prints the breaking point.
load: $(VENV)/.installed-bench
	$(PY) -m scripts.bench.ramp $(LOAD_ARGS)

clean:
	rm -rf $(VENV) staticfiles db.sqlite3
