"""The deployment edge for black-box tests: nginx with TLS in front of several gunicorn instances.

Builds on ``throwaway`` (private PostgreSQL, Redis, gunicorn): a self-signed certificate, the
collected static files, two app servers started exactly as deployed
(``gunicorn config.wsgi:application -c deploy/gunicorn.conf.py``) sharing one database and one
Redis, and nginx running ``deploy/nginx/taskhub.conf`` rendered with free loopback ports. nginx
runs in the foreground under its own prefix: nothing under /etc/nginx or /var is read or
written. ``running_edge`` tears everything down in ``finally``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import throwaway

REPO = throwaway.REPO
NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "taskhub.conf"
NGINX_PROXY_INCLUDE = REPO / "deploy" / "nginx" / "taskhub-proxy.conf"
GUNICORN_CONFIG = REPO / "deploy" / "gunicorn.conf.py"
SERVER_NAME = "localhost"
# Enough for the collected assets; the test's nginx reads no /etc/nginx/mime.types.
_MIME_TYPES = {
    "text/html": "html htm",
    "text/css": "css",
    "text/plain": "txt",
    "application/javascript": "js mjs",
    "application/json": "json map",
    "image/png": "png",
    "image/svg+xml": "svg svgz",
    "image/x-icon": "ico",
    "font/woff": "woff",
    "font/woff2": "woff2",
}


def find_binary(name: str) -> str | None:
    """Like ``throwaway.find_binary``, also looking in the sbin directories (nginx lives there)."""
    found = throwaway.find_binary(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing_binaries() -> list[str]:
    """Name the programs the edge needs that this machine lacks."""
    missing = throwaway.missing_binaries()
    missing += [name for name in ("nginx", "openssl", "curl", "bash") if find_binary(name) is None]
    return missing


def make_certificate(directory: Path, common_name: str = SERVER_NAME) -> tuple[Path, Path]:
    """A self-signed certificate and its key, valid one day, for ``common_name`` and 127.0.0.1."""
    certificate, key = directory / "cert.pem", directory / "key.pem"
    throwaway._run(
        [
            str(find_binary("openssl")), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", f"/CN={common_name}",
            # Hostname checks read the subjectAltName, not the CN.
            "-addext", f"subjectAltName=DNS:{common_name},IP:127.0.0.1",
            "-keyout", str(key), "-out", str(certificate),
        ],
        timeout=60,
    )  # fmt: skip
    key.chmod(0o600)
    return certificate, key


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    header_list: list[tuple[str, str]]
    raw: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.raw.decode(errors="replace")

    @property
    def body(self) -> Any:
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return None

    def header_count(self, name: str) -> int:
        return sum(1 for key, _ in self.header_list if key.lower() == name.lower())


class _LoopbackHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1, with SNI and certificate checks for the server name."""

    def __init__(self, server_name: str, port: int, *, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(server_name, port, context=context, timeout=timeout)
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class EdgeClient:
    """Requests to nginx over loopback, HTTPS (the generated certificate as CA) or plain HTTP.

    Bodies are neither decoded nor decompressed: the tests look at the bytes on the wire.
    """

    def __init__(self, *, https_port: int, http_port: int, ca_file: Path, server_name: str = SERVER_NAME) -> None:
        self.https_port = https_port
        self.http_port = http_port
        self.server_name = server_name
        self.context = ssl.create_default_context(cafile=str(ca_file))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        https: bool = True,
        timeout: float = 15,
    ) -> Reply:
        sent = {"Accept": "application/json", "Connection": "close", **(headers or {})}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        if token:
            sent["Authorization"] = f"Bearer {token}"
        connection: http.client.HTTPConnection
        if https:
            connection = _LoopbackHTTPSConnection(
                self.server_name, self.https_port, context=self.context, timeout=timeout
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
            sent.setdefault("Host", f"{self.server_name}:{self.http_port}")
        started = time.monotonic()
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            content = response.read()
            header_list = response.getheaders()
            status = response.status
        finally:
            connection.close()
        headers_by_name = {name.lower(): value for name, value in header_list}
        return Reply(status, headers_by_name, header_list, content, time.monotonic() - started)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)


class DeployedAppServer(throwaway.AppServer):
    """One gunicorn instance started as deployed: ``-c deploy/gunicorn.conf.py``, env for the rest."""

    def __init__(self, root: Path, name: str) -> None:
        root.mkdir()
        super().__init__(root)
        self.name = name

    def start(self, environment: dict[str, str]) -> None:
        environment = {
            **environment,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": environment.get("WEB_CONCURRENCY", "2"),
        }
        command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", str(GUNICORN_CONFIG)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_live(self, timeout: float = 30) -> None:
        def live() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.name} exited {self.process.returncode}:\n{self.log_tail()}")
            try:
                return self.client.get("/health/live/", timeout=2).status == 200
            except OSError:
                return False

        throwaway.wait_until(live, timeout=timeout, what=f"gunicorn {self.name} to answer /health/live/", interval=0.1)


class NginxServer:
    """nginx in the foreground with its own prefix, config, temp directories, pid and logs."""

    def __init__(
        self, root: Path, *, upstream_ports: list[int], static_root: Path, certificate: Path, key: Path
    ) -> None:
        self.dir = root / "nginx"
        self.dir.mkdir()
        self.http_port = throwaway.free_port()
        self.https_port = throwaway.free_port()
        self.upstream_ports = upstream_ports
        self.static_root = static_root
        self.certificate = certificate
        self.key = key
        self.log = self.dir / "nginx.log"
        self.access_log = self.dir / "access.log"
        self.config = self.dir / "nginx.conf"
        self.site = self.dir / "taskhub.conf"
        self.process: subprocess.Popen[bytes] | None = None

    def variables(self) -> dict[str, str]:
        servers = "\n    ".join(
            f"server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;" for port in self.upstream_ports
        )
        acme = self.dir / "acme"
        acme.mkdir(exist_ok=True)
        return {
            "TASKHUB_SERVER_NAME": SERVER_NAME,
            "TASKHUB_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "TASKHUB_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
            "TASKHUB_REDIRECT_PORT": f":{self.https_port}",
            "TASKHUB_TLS_CERTIFICATE": str(self.certificate),
            "TASKHUB_TLS_CERTIFICATE_KEY": str(self.key),
            "TASKHUB_STATIC_ROOT": str(self.static_root),
            "TASKHUB_ACME_ROOT": str(acme),
            "TASKHUB_CONF_DIR": str(self.dir),
            "TASKHUB_UPSTREAM_SERVERS": servers,
            "TASKHUB_ACCESS_LOG": str(self.access_log),
        }

    def render(self) -> None:
        """Render the template with the shipped script (envsubst), as an operator would."""
        rendered = throwaway._run(
            [str(find_binary("bash")), str(REPO / "deploy" / "nginx" / "render.sh")],
            timeout=30,
            env=throwaway.child_environment(**self.variables()),
        )
        assert "${TASKHUB_" not in rendered, "a placeholder was left in the rendered config"
        self.site.write_text(rendered)
        shutil.copy(NGINX_PROXY_INCLUDE, self.dir / "taskhub-proxy.conf")
        temp = self.dir / "temp"
        temp.mkdir()
        types = "\n".join(f"        {kind} {suffixes};" for kind, suffixes in _MIME_TYPES.items())
        temp_paths = "\n".join(
            f"    {kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        self.config.write_text(
            f"""worker_processes 1;
events {{
    worker_connections 256;
}}
http {{
    types {{
{types}
    }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log {self.access_log};
{temp_paths}
    include {self.site};
}}
"""
        )

    def command(self) -> list[str]:
        directives = f"daemon off; pid {self.dir / 'nginx.pid'}; error_log stderr;"
        # -e: the error log before the config is read, else nginx opens its compiled-in path.
        return [
            str(find_binary("nginx")),
            "-e",
            "stderr",
            "-p",
            f"{self.dir}/",
            "-c",
            str(self.config),
            "-g",
            directives,
        ]

    def test_config(self) -> None:
        throwaway._run([*self.command(), "-t"], timeout=30)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=throwaway.child_environment()
            )

        def listening() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nginx exited {self.process.returncode}:\n{throwaway._tail(self.log)}")
            try:
                with socket.create_connection(("127.0.0.1", self.https_port), timeout=0.5):
                    return True
            except OSError:
                return False

        throwaway.wait_until(listening, timeout=15, what=f"nginx on port {self.https_port}")

    def log_tail(self) -> str:
        return throwaway._tail(self.log)

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            # SIGQUIT: graceful shutdown; the master ends its workers.
            process.send_signal(3)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.process = None


@dataclass
class Edge:
    root: Path
    stack: throwaway.Stack
    apps: list[DeployedAppServer]
    nginx: NginxServer
    certificate: Path
    static_root: Path
    client: EdgeClient
    timings: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def running_edge(*, server_environment: dict[str, str] | None = None, instances: int = 2) -> Iterator[Edge]:
    """PostgreSQL (migrated), Redis, ``instances`` gunicorns and nginx with TLS; all torn down on exit."""
    root = Path(tempfile.mkdtemp(prefix="taskhub-edge-"))
    # The postgres user and nginx's unprivileged workers must reach their directories inside.
    root.chmod(0o755)
    postgres = throwaway.PostgresServer(root)
    redis = throwaway.RedisServer(root)
    apps = [DeployedAppServer(root / f"app{number}", f"instance {number}") for number in range(1, instances + 1)]
    # throwaway's single app slot holds the first instance; the others share its environment.
    stack = throwaway.Stack(root=root, postgres=postgres, redis=redis, app=apps[0])
    static_root = root / "static"
    nginx: NginxServer | None = None
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        certificate, key = make_certificate(root)
        postgres.init()
        postgres.start()
        postgres.create_app_database()
        redis.start()
        timings["servers"] = time.monotonic() - started
        # One environment for every instance: the same SECRET_KEY and JWT key, database and Redis.
        environment = {
            **stack.app_environment(settings="config.settings.production"),
            "REDIS_URL": redis.url(),
            "STATIC_ROOT": str(static_root),
            **(server_environment or {}),
        }
        started = time.monotonic()
        collector = subprocess.Popen(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            stack.migrate()
            output, _ = collector.communicate(timeout=120)
        finally:
            if collector.poll() is None:
                collector.kill()
                collector.wait(timeout=10)
        if collector.returncode != 0:
            raise RuntimeError(f"collectstatic exited {collector.returncode}:\n{output.decode(errors='replace')}")
        timings["migrate_and_collectstatic"] = time.monotonic() - started
        started = time.monotonic()
        for app in apps:
            app.start(environment)
        for app in apps:
            app.wait_live()
        timings["gunicorn"] = time.monotonic() - started
        started = time.monotonic()
        nginx = NginxServer(
            root, upstream_ports=[app.port for app in apps], static_root=static_root, certificate=certificate, key=key
        )
        nginx.render()
        nginx.test_config()
        nginx.start()
        timings["nginx"] = time.monotonic() - started
        client = EdgeClient(https_port=nginx.https_port, http_port=nginx.http_port, ca_file=certificate)
        yield Edge(
            root=root,
            stack=stack,
            apps=apps,
            nginx=nginx,
            certificate=certificate,
            static_root=static_root,
            client=client,
            timings=timings,
        )
    finally:
        # Each step on its own: one failing must not leave the others running.
        steps = [*([nginx.stop] if nginx is not None else []), *(app.stop for app in apps), redis.stop]
        for step in [*steps, postgres.teardown]:
            with contextlib.suppress(Exception):
                step()
        shutil.rmtree(root, ignore_errors=True)
