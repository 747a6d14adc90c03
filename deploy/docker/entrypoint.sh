#!/bin/sh
# Container entrypoint: wait for the database, optionally migrate, then run the command
# (by default gunicorn config.wsgi:application -c deploy/gunicorn.conf.py, see the Dockerfile).
#
#   WAIT_FOR_DB_TIMEOUT  seconds to wait for the database (default 60; 0 skips the wait)
#   RUN_MIGRATIONS=1     apply migrations before starting (one replica, or a release job, only)
#   STATIC_SHARE_DIR     copy the image's collected static files there (the volume nginx serves)
#   PROMETHEUS_MULTIPROC_DIR  created and emptied before gunicorn starts (docs/observability.md)
set -eu

# The checkout (or /app in the image) is two levels up from this script.
cd "$(dirname "$0")/../.."
: "${DJANGO_SETTINGS_MODULE:=config.settings.production}"
export DJANGO_SETTINGS_MODULE

timeout="${WAIT_FOR_DB_TIMEOUT:-60}"
if [ "$timeout" != "0" ]; then
  python manage.py wait_for_db --timeout "$timeout"
fi

if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
  python manage.py migrate --noinput
fi

static_root="${STATIC_ROOT:-staticfiles}"
if [ -n "${STATIC_SHARE_DIR:-}" ] && [ -d "$static_root" ]; then
  cp -R "$static_root"/. "$STATIC_SHARE_DIR"/
fi

if [ "${1:-}" = "gunicorn" ] && [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  # Stale files from a previous run would be added into the live counters.
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi

exec "$@"
