#!/usr/bin/env bash
# Smoke test of a running Taskhub: health, sign-in, list, and a project created, read back
# and deleted. One line per step; exits non-zero at the first failure.
#
#   scripts/smoke_test.sh BASE_URL USERNAME PASSWORD [ORGANIZATION]
#
# The user must be an admin or owner of the organization (deleting a project needs admin+).
# SMOKE_CURL_OPTS adds curl options, e.g. "--cacert /path/ca.pem" or "-k" for a self-signed
# certificate, or "--resolve api.example.com:443:10.0.0.5". Needs curl and python3 (no jq).
set -euo pipefail

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
  echo "usage: $0 BASE_URL USERNAME PASSWORD [ORGANIZATION]" >&2
  exit 2
fi
BASE_URL="${1%/}"
USERNAME="$2"
PASSWORD="$3"
ORGANIZATION="${4:-}"
# Word splitting is wanted: several options in one variable.
# shellcheck disable=SC2206
CURL_OPTS=(${SMOKE_CURL_OPTS:-})
BODY="$(mktemp)"
trap 'rm -f "$BODY"' EXIT

fail() {
  echo "FAIL $1" >&2
  exit 1
}

# request METHOD PATH EXPECTED_STATUS [JSON_BODY] [TOKEN]: the body goes to $BODY.
request() {
  local method="$1" path="$2" expected="$3" data="${4:-}" token="${5:-}" status
  local args=(-sS --max-time 20 -o "$BODY" -w '%{http_code}' -X "$method" -H 'Accept: application/json')
  if [ -n "$data" ]; then
    args+=(-H 'Content-Type: application/json' --data-binary "$data")
  fi
  if [ -n "$token" ]; then
    args+=(-H "Authorization: Bearer $token")
  fi
  status="$(curl "${CURL_OPTS[@]}" "${args[@]}" "$BASE_URL$path")" || fail "$method $path: curl failed"
  if [ "$status" != "$expected" ]; then
    fail "$method $path: HTTP $status, expected $expected: $(head -c 300 "$BODY")"
  fi
}

# json EXPRESSION: evaluate a Python expression over the parsed body (as d), print the result.
json() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$BODY" "$1"
}

# Strings into JSON, safely quoted.
json_string() {
  python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"
}

# 1. Health: the server, its database and cache.
request GET /health/ 200
health="$(json 'd["status"]')" || fail "GET /health/: no status in $(head -c 300 "$BODY")"
echo "ok   GET /health/ -> 200 status=$health"

# 2. Sign in.
credentials="{\"username\": $(json_string "$USERNAME"), \"password\": $(json_string "$PASSWORD")"
if [ -n "$ORGANIZATION" ]; then
  credentials="$credentials, \"organization\": $(json_string "$ORGANIZATION")"
fi
request POST /api/v1/auth/token/ 200 "$credentials}"
TOKEN="$(json 'd["access"]')" || fail "POST /api/v1/auth/token/: no access token"
[ -n "$TOKEN" ] || fail "POST /api/v1/auth/token/: empty access token"
echo "ok   POST /api/v1/auth/token/ -> 200 token received"

# 3. List projects with the token.
request GET /api/v1/projects/ 200 "" "$TOKEN"
count="$(json 'd.get("count", len(d.get("results", [])))')" || fail "GET /api/v1/projects/: not a list"
echo "ok   GET /api/v1/projects/ -> 200 count=$count"

# 4. Create a project with a key of its own (^[A-Z][A-Z0-9]{1,9}$).
KEY="SMOKE$(printf '%05d' $((RANDOM % 100000)))"
[[ "$KEY" =~ ^[A-Z][A-Z0-9]{1,9}$ ]] || fail "generated key $KEY does not match the key pattern"
request POST /api/v1/projects/ 201 "{\"key\": \"$KEY\", \"name\": \"Smoke test $KEY\"}" "$TOKEN"
PROJECT_ID="$(json 'd["id"]')" || fail "POST /api/v1/projects/: no id"
echo "ok   POST /api/v1/projects/ -> 201 key=$KEY id=$PROJECT_ID"

# 5. Read it back.
request GET "/api/v1/projects/$PROJECT_ID/" 200 "" "$TOKEN"
read_key="$(json 'd["key"]')" || fail "GET /api/v1/projects/$PROJECT_ID/: no key"
[ "$read_key" = "$KEY" ] || fail "GET /api/v1/projects/$PROJECT_ID/: key $read_key, expected $KEY"
echo "ok   GET /api/v1/projects/$PROJECT_ID/ -> 200 key=$read_key"

# 6. Delete it (admin and up), and it is gone.
request DELETE "/api/v1/projects/$PROJECT_ID/" 204 "" "$TOKEN"
echo "ok   DELETE /api/v1/projects/$PROJECT_ID/ -> 204"
request GET "/api/v1/projects/$PROJECT_ID/" 404 "" "$TOKEN"
echo "ok   GET /api/v1/projects/$PROJECT_ID/ -> 404 after delete"

echo "smoke test passed: $BASE_URL"
