#!/bin/sh
# Container entrypoint: wait for the database, optionally migrate, then run the command
# (by default gunicorn config.wsgi:application -c deploy/gunicorn.conf.py, see the Dockerfile).
#
#   WAIT_FOR_DB_TIMEOUT  seconds to wait for the database (default 60; 0 skips the wait)
#   RUN_MIGRATIONS=1     apply migrations before starting (one replica, or a release job, only):
#                        as the owner role when DB_MIGRATION_USER or DATABASE_MIGRATION_URL is
#                        set, as DB_USER when no other role is configured (one role, development),
#                        skipped with a message when only the platform role is (the owner's
#                        credentials are elsewhere, e.g. compose's migrate service)
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

# NAME or NAME_FILE is set and not empty (taskhub/core/env.py reads both forms).
is_set() {
  eval "is_set_value=\${$1:-}\${$1_FILE:-}"
  [ -n "$is_set_value" ]
}

if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
  if is_set DB_MIGRATION_USER || is_set DATABASE_MIGRATION_URL; then
    # migrate switches to the owner's credentials by itself.
    python manage.py migrate --noinput
  elif is_set DB_PLATFORM_USER || is_set DATABASE_PLATFORM_URL; then
    # Separate roles, but not the owner's credentials: the app role may not run DDL.
    echo "entrypoint: RUN_MIGRATIONS=1 but migrations skipped: this container has no owner credentials" \
      "(DB_MIGRATION_USER or DATABASE_MIGRATION_URL); run manage.py migrate where they are" >&2
  else
    # One role for everything (development, or DB_ALLOW_OWNER_ROLE=True): it owns the tables.
    python manage.py migrate --noinput
  fi
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
