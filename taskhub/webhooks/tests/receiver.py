"""A webhook receiver on loopback for the tests: a threading HTTP server that records every request."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers each POST with the next of ``answers`` (status, headers, body); the last one repeats."""

    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=lambda: [(200, {}, b"ok")])
    hits: list[Hit] = field(default_factory=list)
    # Every TCP connection accepted, whether or not a request followed (a TLS handshake, a probe).
    connections: int = 0
    port: int = 0
    host: str = "127.0.0.1"
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/hook"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Hit]:
        """Block until ``count`` requests have arrived (or ``timeout``); return what arrived."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.hits) >= count, timeout=timeout)
            return list(self.hits)


def _handler(receiver: Receiver, clock: Callable[[], float]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.arrived:
                index = min(len(receiver.hits), len(receiver.answers) - 1)
                receiver.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body, clock()))
                receiver.arrived.notify_all()
            status, headers, answer = receiver.answers[index]
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self.receiver.arrived:
            self.receiver.connections += 1
        return True


class _Server6(_Server):
    address_family = socket.AF_INET6


@contextmanager
def receiving(
    answers: list[tuple[int, dict[str, str], bytes]] | None = None, host: str = "127.0.0.1"
) -> Iterator[Receiver]:
    """Run a receiver on ``host`` (a free port) for the block."""
    receiver = Receiver(answers=answers or [(200, {}, b"ok")], host=host)
    server_class = _Server6 if ":" in host else _Server
    server = server_class((host, 0), _handler(receiver, time.monotonic))
    server.receiver = receiver
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
