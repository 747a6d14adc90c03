#!/usr/bin/env bash
# Render taskhub.conf with the TASKHUB_* variables of the environment; only those
# are replaced, nginx's own $variables stay. Usage (deploy/nginx/README.md):
#   TASKHUB_SERVER_NAME=api.example.com ... deploy/nginx/render.sh > /etc/nginx/conf.d/taskhub.conf
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
variables=(
  TASKHUB_SERVER_NAME TASKHUB_HTTP_LISTEN TASKHUB_HTTPS_LISTEN TASKHUB_TLS_CERTIFICATE
  TASKHUB_TLS_CERTIFICATE_KEY TASKHUB_STATIC_ROOT TASKHUB_ACME_ROOT TASKHUB_CONF_DIR
  TASKHUB_UPSTREAM_SERVERS
)
for name in "${variables[@]}"; do
  if [ -z "${!name:-}" ]; then
    echo "render.sh: set ${name} (deploy/nginx/README.md)" >&2
    exit 2
  fi
done
# Empty for the standard port 443; ":8443" and the like otherwise.
export TASKHUB_REDIRECT_PORT="${TASKHUB_REDIRECT_PORT:-}"
export TASKHUB_ACCESS_LOG="${TASKHUB_ACCESS_LOG:-/var/log/nginx/access.log}"
list=""
for name in "${variables[@]}" TASKHUB_REDIRECT_PORT TASKHUB_ACCESS_LOG; do list="${list} \${${name}}"; done
envsubst "${list}" < "${here}/taskhub.conf"
