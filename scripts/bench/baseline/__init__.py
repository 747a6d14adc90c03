"""The benchmark's baselines: a separate, minimal Django project on the app's own database and rows.

``make bench`` serves it under gunicorn next to the app (scripts/bench/stack.py) and measures the
app's endpoints against two floors on the same rows:

- **bare Django** (views.py): what a Django user writes for the same list, retrieve and creates,
  with ``.values()`` and ``JsonResponse``: no authentication, no row-level security, only
  SecurityMiddleware and CommonMiddleware;
- **naive DRF** (naive.py): a ``ModelViewSet`` with a ``ModelSerializer``, SimpleJWT's stock
  ``JWTAuthentication`` (one user row read per request) and page-number pagination, filtered by
  the app token's ``org`` claim.

Its own settings (settings.py) import nothing of ``config``; its modules import nothing of
``taskhub`` (tests/bench/test_baseline.py). No product module may import it (import-linter), and
the production URL conf routes none of its paths (tests/bench/test_production_urls.py).
"""
