"""The deployment, end to end: nginx with TLS in front of two gunicorn instances.

One module-scoped ``edge`` (``edge.running_edge``): a private PostgreSQL and Redis, two gunicorn
instances started with ``deploy/gunicorn.conf.py`` and production settings
(``TRUSTED_PROXY_COUNT=1``), and nginx running ``deploy/nginx/taskhub.conf`` rendered with free
loopback ports and a self-signed certificate. Every request goes over 127.0.0.1.

What they prove:
- HTTPS answers (certificate checked with the generated CA); HTTP answers 301 to https://,
  except ``/health/`` for load balancers;
- TLS as configured: TLS 1.0 and 1.1 refused by the server (protocol_version alert), 1.2 and
  1.3 accepted; every TLS 1.2 cipher suite the local OpenSSL can offer (``ALL:COMPLEMENTOFALL``
  at security level 0, NULL, anonymous and MD5 suites included) tried one at a time, and only
  forward-secret AEAD suites of the configured ``ssl_ciphers`` accepted; HSTS with the
  configured max-age on HTTPS answers (the app's and the static files'), none over plain HTTP;
  no OCSP stapling configured (a self-signed certificate has no responder to staple from);
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
import re
import secrets
import socket
import ssl
import subprocess
import time
import warnings
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import e2e, throwaway
from tests.support import edge as edge_servers

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
# HSTS as production sends it: SECURE_HSTS_SECONDS's default (a year, E116's minimum) with
# includeSubDomains, no preload (opt-in); nginx's add_header on /static/ says the same.
HSTS = "max-age=31536000; includeSubDomains"
# The server's protocol_version alert: nginx refused the version our client offered. A
# client-side error instead (NO_PROTOCOLS_AVAILABLE...) means the local OpenSSL could not offer it.
PROTOCOL_REFUSED_BY_SERVER = "TLSV1_ALERT_PROTOCOL_VERSION"
WEAK_CIPHERS = "RC4:3DES:NULL:EXPORT:aNULL:MD5"
FORWARD_SECRET_KEY_EXCHANGES = {"kx-ecdhe", "kx-dhe"}


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
    # Nothing in common with the username: a shared "edge" prefix sometimes made the password
    # "too similar to the email address" and the whole module fail.
    password = f"Pw{secrets.token_urlsafe(18)}"
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


def _site(edge) -> str:
    """The rendered ``deploy/nginx/taskhub.conf`` the test's nginx runs."""
    return edge.nginx.site.read_text()


def _directive(edge, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]*);", _site(edge), re.MULTILINE)


def _client_context(version: ssl.TLSVersion, ciphers: str | None, ca_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=ca_file)
    with warnings.catch_warnings():
        # Python deprecates pinning TLS 1.0/1.1: here that is the point.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    if ciphers is not None:
        # Security level 0: OpenSSL 3 otherwise will not offer TLS 1.0/1.1 or weak suites at all.
        context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
    return context


def _handshake(edge, version: ssl.TLSVersion, ciphers: str | None = None) -> tuple[str, str] | ssl.SSLError:
    """A TLS handshake with nginx offering only ``version`` (and ``ciphers``): (protocol, cipher) or the error."""
    context = _client_context(version, ciphers, str(edge.certificate))
    with socket.create_connection(("127.0.0.1", edge.nginx.https_port), timeout=10) as sock:
        try:
            with context.wrap_socket(sock, server_hostname=edge_servers.SERVER_NAME) as tls:
                cipher = tls.cipher()
                return tls.version() or "", cipher[0] if cipher else ""
        except ssl.SSLError as exc:
            return exc


def _offered_tls12_suites(ciphers: str) -> list[dict[str, Any]]:
    """The TLS 1.2 (and older) suites this machine's OpenSSL offers for ``ciphers`` at security level 0."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
    except ssl.SSLError:  # none of them is available here
        return []
    # TLS 1.3 suites are configured apart and always listed.
    return [dict(suite) for suite in context.get_ciphers() if suite["protocol"] != "TLSv1.3"]


@pytest.mark.parametrize(
    ("version", "name"), [(ssl.TLSVersion.TLSv1, "TLSv1.0"), (ssl.TLSVersion.TLSv1_1, "TLSv1.1")], ids=["1.0", "1.1"]
)
def test_tls_1_0_and_1_1_are_refused(edge, version, name):
    assert _directive(edge, "ssl_protocols") == ["TLSv1.2 TLSv1.3"]
    result = _handshake(edge, version, "DEFAULT")
    assert isinstance(result, ssl.SSLError), f"{name} accepted: {result}"
    if result.reason == PROTOCOL_REFUSED_BY_SERVER:
        outcome = "refused by nginx (protocol_version alert)"
    else:
        # This machine's OpenSSL could not even offer it: the refusal is then the config's line above.
        outcome = f"not offered by the local OpenSSL ({result.reason}); ssl_protocols excludes it"
    FIGURES.setdefault("tls_versions", {})[name] = outcome


def test_tls_1_2_and_1_3_are_accepted(edge):
    for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        result = _handshake(edge, version)
        assert not isinstance(result, ssl.SSLError), f"{name} refused: {result}"
        assert result[0] == name
        FIGURES.setdefault("tls_versions", {})[name] = f"accepted, {result[1]}"


def test_weak_ciphers_are_refused(edge):
    offered = _offered_tls12_suites(WEAK_CIPHERS)
    # OpenSSL 3 has no RC4, 3DES or EXPORT suites in its default provider; NULL, anonymous and
    # MD5 suites it still offers at security level 0. The probe must offer something.
    assert offered, f"the local OpenSSL offers none of {WEAK_CIPHERS}: nothing to probe"
    result = _handshake(edge, ssl.TLSVersion.TLSv1_2, WEAK_CIPHERS)
    assert isinstance(result, ssl.SSLError), f"a weak suite was accepted: {result}"
    assert result.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE", result
    FIGURES["weak_suites_offered"] = len(offered)


def test_only_forward_secret_aead_suites_of_the_config_are_accepted(edge):
    """Each TLS 1.2 suite the local OpenSSL knows, offered alone; nginx accepts only configured FS AEAD ones."""
    (configured_line,) = _directive(edge, "ssl_ciphers")
    configured = set(configured_line.split(":"))
    suites = _offered_tls12_suites("ALL:COMPLEMENTOFALL")
    # The scan means something only if it offers weak suites too: no forward secrecy, no AEAD.
    assert any(suite["kea"] == "kx-rsa" for suite in suites), suites
    assert any(not suite["aead"] for suite in suites), suites
    accepted: dict[str, str] = {}
    for suite in suites:
        result = _handshake(edge, ssl.TLSVersion.TLSv1_2, suite["name"])
        if not isinstance(result, ssl.SSLError):
            accepted[suite["name"]] = result[1]
    assert accepted, "no TLS 1.2 suite accepted"
    by_name = {suite["name"]: suite for suite in suites}
    for name, negotiated in accepted.items():
        assert negotiated == name
        assert name in configured, f"{name} accepted but not in ssl_ciphers"
        assert by_name[name]["kea"] in FORWARD_SECRET_KEY_EXCHANGES, f"{name}: no forward secrecy"
        assert by_name[name]["aead"], f"{name}: not AEAD"
    FIGURES["tls12_suites"] = {"tried": len(suites), "accepted": sorted(accepted)}


def test_hsts_with_the_configured_max_age_on_https_answers_and_none_over_http(edge, owner):
    # nginx's own header on /static/ says what the app says.
    assert set(re.findall(r'add_header Strict-Transport-Security "([^"]+)"', _site(edge))) == {HSTS}
    manifest = json.loads((edge.static_root / "staticfiles.json").read_text())["paths"]
    hashed = next(value for name, value in manifest.items() if name.endswith(".css"))
    answers = {
        "app /health/": edge.client.get("/health/"),
        "app API list": edge.client.get("/api/v1/projects/", token=owner.token),
        "app 401": edge.client.get("/api/v1/projects/"),
        "app 404": edge.client.get("/api/v1/no-such-thing/"),
        "nginx static": edge.client.get(f"/static/{hashed}", headers={"Accept": "*/*"}),
        "nginx static 404": edge.client.get("/static/no-such-file.css"),
    }
    for what, reply in answers.items():
        assert reply.header_count("Strict-Transport-Security") == 1, what
        assert reply.headers["strict-transport-security"] == HSTS, what
    # RFC 6797 7.2: never over plain HTTP.
    assert "strict-transport-security" not in edge.client.get("/health/", https=False).headers
    assert "strict-transport-security" not in edge.client.get("/api/v1/projects/", https=False).headers


def test_no_ocsp_stapling_is_configured(edge):
    # deploy/nginx/README.md: none configured, Let's Encrypt certificates carry no OCSP URL. The
    # test's self-signed certificate has no responder either, so stapling could not be exercised.
    assert "ssl_stapling" not in _site(edge)


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


def _access_log_lines_once(edge, needle: str, timeout: float = 10) -> list[str]:
    """The access log once a line holds ``needle``: nginx logs a request after its answer is sent."""
    deadline = time.monotonic() + timeout
    while True:
        lines = edge.nginx.access_log.read_text().splitlines()
        if any(needle in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_tokens_of_mailed_links_stay_out_of_the_access_log(edge):
    """/account/ pages are logged without their query string or Referer (taskhub_no_query)."""
    secret = f"tok{secrets.token_hex(16)}"
    page = f"/account/verify-email/?token={secret}"
    opened = edge.client.get(page, headers={"Accept": "text/html", "Referer": f"https://mail.example{page}"})
    # An unknown token: the page says the link is invalid; what matters is how it was logged.
    assert opened.status in (200, 400), opened.text[:300]
    listed = edge.client.get(f"/api/v1/projects/?search={secret}")
    assert listed.status == 401
    # The API request came second: once its line is there, the page's is too.
    lines = _access_log_lines_once(edge, f"search={secret}")
    # Everywhere else the query string stays in the log (nginx's default format).
    assert [line for line in lines if f"search={secret}" in line], lines[-5:]
    account_lines = [line for line in lines if "/account/verify-email/" in line]
    assert account_lines, lines[-5:]
    assert not [line for line in account_lines if secret in line], account_lines
