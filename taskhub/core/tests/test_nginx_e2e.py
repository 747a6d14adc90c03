"""The deployment, end to end: nginx with TLS in front of two gunicorn instances.

One module-scoped ``edge`` (``edge.running_edge``): a private PostgreSQL and Redis, two gunicorn
instances started with ``deploy/gunicorn.conf.py`` and production settings
(``TRUSTED_PROXY_COUNT=1``), and nginx running ``deploy/nginx/taskhub.conf`` rendered with free
loopback ports and a self-signed certificate. Every request goes over 127.0.0.1.

What they prove:
- HTTPS answers (certificate checked with the generated CA); HTTP answers 301 to https://,
  except ``/health/`` for load balancers;
- static files come from nginx (no ``X-Request-ID``, which every app answer carries), with the
  collected content;
- the app sees the request as secure (no redirect under ``SECURE_SSL_REDIRECT``, HSTS sent) and
  records the real client IP, not a forged ``X-Forwarded-For``;
- security headers arrive once; JSON is gzipped on request; a 2 MB body is refused (413) by
  nginx; ``scripts/smoke_test.sh`` passes through it;
- scale-out: a token from instance 1 works on instance 2, and the sign-in throttle counts
  across both instances (shared Redis).

Skipped without nginx/openssl/PostgreSQL/Redis binaries, except in CI (``CI=true``), where a
missing binary fails; skipped on CI's SQLite pass (``TASKHUB_TEST_SQLITE=1``).
"""

from __future__ import annotations

import gzip
import json
import secrets
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from taskhub.core.tests import e2e, throwaway
from taskhub.core.tests import edge as edge_servers

MISSING = edge_servers.missing_binaries()
pytestmark = e2e.marks(MISSING, purpose="to run nginx in front of private servers")

# Sign-ins through nginx all count for 127.0.0.1: the sign-up, the smoke script's and the
# wrong-password run make exactly 3. The direct-to-instance tests each send their own address.
SIGN_IN_RATE = 3
SERVER_ENVIRONMENT = {
    # Only the sign-in limit is low, for the cross-instance throttle test; the others must not
    # be what these tests measure.
    **{f"THROTTLE_{scope}_RATE": "100000/min" for scope in ("ANON", "USER", "ORGANIZATION")},
    "THROTTLE_SIGN_IN_RATE": f"{SIGN_IN_RATE}/min",
    "TRUSTED_PROXY_COUNT": "1",
    "ALLOWED_HOSTS": "localhost,127.0.0.1",
    # The production default: a request the app does not see as secure is redirected.
    "SECURE_SSL_REDIRECT": "True",
}
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def edge():
    e2e.require(MISSING, what="the nginx end-to-end test")
    with edge_servers.running_edge(server_environment=SERVER_ENVIRONMENT) as running:
        FIGURES["startup_seconds"] = {name: round(value, 2) for name, value in running.timings.items()}
        yield running


@dataclass
class Owner:
    username: str
    password: str
    token: str
    registered_ip: str | None


@pytest.fixture(scope="module")
def owner(edge) -> Owner:
    """A user who owns an organization, signed up through nginx with a forged X-Forwarded-For."""
    username = f"edge{secrets.token_hex(4)}"
    password = f"edge-{secrets.token_urlsafe(12)}"
    reply = edge.client.post(
        "/api/v1/auth/register/",
        {
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
            "organization_name": "Edge Inc",
        },
        headers={"X-Forwarded-For": "6.6.6.6"},
    )
    assert reply.status == 201, f"{reply.status} {reply.text[:500]}\n{edge.nginx.log_tail()}"
    return Owner(username, password, reply.body["access"], None)


def _direct(edge, instance: int, method: str, path: str, body: Any = None, *, ip: str, **kwargs: Any):
    """A request straight to one gunicorn instance, as nginx would send it (one trusted hop)."""
    headers = {"X-Forwarded-For": ip, "X-Forwarded-Proto": "https", "Host": "localhost", **kwargs.pop("headers", {})}
    client = edge.apps[instance - 1].client
    return client.request(method, path, body, headers=headers, **kwargs)


def test_https_answers_health_with_the_generated_certificate(edge):
    reply = edge.client.get("/health/")
    assert reply.status == 200, reply.text
    assert reply.body["status"] in {"ok", "degraded"}
    assert "x-request-id" in reply.headers
    # nginx says nothing about its version.
    assert reply.headers.get("server") == "nginx"


def test_http_redirects_to_https_but_health_answers_over_http(edge):
    reply = edge.client.get("/api/v1/projects/?page=2", https=False)
    assert reply.status == 301
    location = reply.headers["location"]
    assert location == f"https://localhost:{edge.nginx.https_port}/api/v1/projects/?page=2"
    # Load balancers probe over plain HTTP; the app exempts /health/ from its own redirect.
    health = edge.client.get("/health/", https=False)
    assert health.status == 200, health.text
    assert edge.client.get("/health/live/", https=False).status == 200


def test_static_files_are_served_by_nginx(edge):
    manifest = json.loads((edge.static_root / "staticfiles.json").read_text())["paths"]
    name = next(path for path in manifest if path.endswith("swagger-ui.css"))
    hashed = manifest[name]
    reply = edge.client.get(f"/static/{hashed}", headers={"Accept": "*/*"})
    assert reply.status == 200, reply.text[:300]
    # Every answer of the app carries X-Request-ID: this one never reached it.
    assert "x-request-id" not in reply.headers
    assert reply.headers["content-type"].startswith("text/css")
    assert reply.raw == (edge.static_root / hashed).read_bytes()
    assert "immutable" in reply.headers["cache-control"]
    assert reply.header_count("Strict-Transport-Security") == 1
    assert reply.headers["x-content-type-options"] == "nosniff"
    # The precompressed copy that collectstatic wrote is sent as is.
    compressed = edge.client.get(f"/static/{hashed}", headers={"Accept": "*/*", "Accept-Encoding": "gzip"})
    assert compressed.headers.get("content-encoding") == "gzip"
    assert gzip.decompress(compressed.raw) == reply.raw
    assert edge.client.get("/static/no-such-file.css").status == 404


def test_the_app_sees_tls_and_the_real_client_ip_not_a_forged_one(edge, owner):
    # SECURE_SSL_REDIRECT is on: a request the app thought was plain HTTP would be redirected.
    reply = edge.client.get("/api/v1/audit-events/", token=owner.token)
    assert reply.status == 200, reply.text[:500]
    events = reply.body["results"]
    assert events, reply.text
    addresses = {event["ip_address"] for event in events}
    # The sign-up was sent with "X-Forwarded-For: 6.6.6.6": nginx appended the real peer, and
    # the app trusts one hop only.
    assert addresses == {"127.0.0.1"}, events
    FIGURES["audit_ip_addresses"] = sorted(addresses)


def test_security_headers_arrive_once(edge, owner):
    reply = edge.client.get("/api/v1/projects/", token=owner.token)
    assert reply.status == 200
    # HSTS from the app (only on requests it sees as secure), not doubled by nginx.
    assert reply.header_count("Strict-Transport-Security") == 1
    assert "max-age=31536000" in reply.headers["strict-transport-security"]
    assert reply.header_count("X-Content-Type-Options") == 1
    assert reply.headers["x-content-type-options"] == "nosniff"
    docs = edge.client.get("/api/docs/", headers={"Accept": "text/html"})
    assert docs.status == 200
    assert "content-security-policy" in docs.headers
    assert "'self'" in docs.headers["content-security-policy"]
    assert docs.headers.get("x-frame-options") == "DENY"


def test_large_json_is_gzipped_on_request(edge):
    plain = edge.client.get("/api/schema/?format=json")
    assert plain.status == 200
    assert "content-encoding" not in plain.headers
    compressed = edge.client.get("/api/schema/?format=json", headers={"Accept-Encoding": "gzip"})
    assert compressed.status == 200
    assert compressed.headers.get("content-encoding") == "gzip"
    assert "json" in compressed.headers["content-type"]
    assert json.loads(gzip.decompress(compressed.raw)) == json.loads(plain.raw)
    assert len(compressed.raw) < len(plain.raw) / 3
    FIGURES["schema_bytes_plain_gzip"] = (len(plain.raw), len(compressed.raw))


def test_an_oversized_body_is_refused_by_nginx(edge, owner):
    body = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    reply = edge.client.request("POST", "/api/v1/projects/", raw=body, token=owner.token, timeout=30)
    assert reply.status == 413
    assert "x-request-id" not in reply.headers  # nginx answered, the app never saw it
    assert reply.body == {"detail": "Request body is too large.", "code": "request_too_large"}


def _smoke(edge, owner: Owner, password: str, curl_options: str) -> subprocess.CompletedProcess[str]:
    port = edge.nginx.https_port
    return subprocess.run(
        [
            str(edge_servers.find_binary("bash")),
            str(throwaway.REPO / "scripts" / "smoke_test.sh"),
            f"https://localhost:{port}",
            owner.username,
            password,
        ],
        # localhost resolves to 127.0.0.1 for curl, whatever /etc/hosts says about ::1.
        env=throwaway.child_environment(SMOKE_CURL_OPTS=f"{curl_options} --resolve localhost:{port}:127.0.0.1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_smoke_script_passes_through_nginx(edge, owner):
    result = _smoke(edge, owner, owner.password, f"--cacert {edge.certificate}")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    lines = result.stdout.splitlines()
    assert len(lines) == 8, result.stdout
    assert all(line.startswith("ok ") for line in lines[:-1]), result.stdout
    assert lines[-1].startswith("smoke test passed")
    FIGURES["smoke_steps"] = len(lines) - 1


def test_smoke_script_fails_on_a_wrong_password(edge, owner):
    result = _smoke(edge, owner, "not-the-password", "-k")
    assert result.returncode != 0
    assert "FAIL POST /api/v1/auth/token/" in result.stderr
    # Without the CA the certificate is refused: the script does not silently skip TLS checks.
    unverified = _smoke(edge, owner, owner.password, "")
    assert unverified.returncode != 0
    assert "FAIL GET /health/" in unverified.stderr


def test_a_token_from_one_instance_works_on_the_other(edge, owner):
    ip = "10.20.0.1"
    signed_in = _direct(
        edge, 1, "POST", "/api/v1/auth/token/", {"username": owner.username, "password": owner.password}, ip=ip
    )
    assert signed_in.status == 200, signed_in.text
    reply = _direct(edge, 2, "GET", "/api/v1/projects/", token=signed_in.body["access"], ip=ip)
    assert reply.status == 200, reply.text
    assert reply.headers["x-request-id"]


def test_the_sign_in_throttle_counts_across_instances(edge, owner):
    # A client address of its own: the other tests' sign-ins do not count here.
    ip = "10.30.0.1"
    credentials = {"username": owner.username, "password": owner.password}
    statuses = [
        _direct(edge, instance, "POST", "/api/v1/auth/token/", credentials, ip=ip).status for instance in (1, 1, 2)
    ]
    assert statuses == [200] * SIGN_IN_RATE
    for instance in (1, 2):
        refused = _direct(edge, instance, "POST", "/api/v1/auth/token/", credentials, ip=ip)
        assert refused.status == 429, refused.text
        assert "retry-after" in refused.headers
    # Another address is not affected.
    assert _direct(edge, 2, "POST", "/api/v1/auth/token/", credentials, ip="10.30.0.2").status == 200


def test_gunicorn_logs_json_and_no_access_lines(edge):
    for app in edge.apps:
        lines = [line for line in app.log_text().splitlines() if line.strip()]
        assert lines, f"{app.name} logged nothing"
        for line in lines:
            record = json.loads(line)  # every line is JSON: gunicorn's own and the app's
            assert "level" in record, line
        # Gunicorn's access log is off: the app's access line has no query string.
        assert not any("format=json" in line for line in lines)
    print(f"\nnginx e2e figures: {json.dumps(FIGURES)}")  # noqa: T201 - pytest -s shows it
