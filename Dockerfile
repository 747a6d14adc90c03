# syntax=docker/dockerfile:1
# Taskhub API image. Build: docker build -t taskhub .
# Runs as uid 10001 with the production settings; every secret comes from the environment
# at run time (.env.production.example lists them), none is baked into the image.

# ---- builder: the dependencies, installed from wheels into a virtualenv -------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --upgrade pip wheel \
 && /opt/venv/bin/pip wheel --wheel-dir /tmp/wheels -r /tmp/requirements.txt \
 && /opt/venv/bin/pip install --no-index --find-links /tmp/wheels -r /tmp/requirements.txt

# ---- runtime: the virtualenv and the app, nothing to compile with --------------------------
FROM python:3.11-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    STATIC_ROOT=/app/staticfiles

RUN groupadd --system --gid 10001 taskhub \
 && useradd --system --uid 10001 --gid taskhub --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin taskhub \
 && install -d -o taskhub -g taskhub -m 0750 /run/taskhub \
 && install -d -o taskhub -g taskhub -m 0755 /srv/taskhub/static \
 && install -d -o taskhub -g taskhub -m 0750 /srv/taskhub/exports

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# The code stays owned by root: the app user can read it, not change it.
COPY . /app

# Static files are collected once, at build time. The production settings refuse to import
# without their secrets, so this one command gets throwaway build-only values in its own
# environment; they are not in the image's ENV and nothing they sign survives the build.
RUN SECRET_KEY=build-only-collectstatic-not-a-secret-0123456789abcdefghijklmnopq \
    JWT_SIGNING_KEY=build-only-collectstatic-jwt-not-a-secret-0123456789abcdefghijk \
    ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --noinput

USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "deploy/docker/healthcheck.py", "http://127.0.0.1:8000/health/"]

ENTRYPOINT ["deploy/docker/entrypoint.sh"]
CMD ["gunicorn", "config.wsgi:application", "-c", "deploy/gunicorn.conf.py"]
