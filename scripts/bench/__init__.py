"""``make bench``: Taskhub under gunicorn on a private PostgreSQL and Redis, loaded by wrk (docs/benchmarks.md)."""
