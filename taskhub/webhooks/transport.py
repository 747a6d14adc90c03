"""Sending one webhook request, and the guard that keeps it off the server's own networks (SSRF).

The host is resolved when the request is sent, every address it resolves to is checked, and
the connection goes to a checked address: the name is not looked up a second time, so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot steer it. TLS
still verifies the certificate against the name, and ``Host`` carries it. Redirects are never
followed: a 3xx is the receiver's answer, and a failure.

Refused always: unspecified (``0.0.0.0``, ``::``), multicast, and the cloud metadata range
(169.254.0.0/16, ``fd00:ec2::254``). Refused unless ``WEBHOOK_ALLOW_PRIVATE_NETWORKS``: every
other address that is not globally routable (loopback, private, link-local, shared, reserved).
An IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by both.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_NETWORKS = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fd00:ec2::254/128"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")
USER_AGENT = "taskhub-webhooks/1"


class Refused(Exception):
    """The URL may not be called: its scheme, or an address its host resolves to."""


@dataclass(frozen=True)
class Answer:
    """What one request got: a status (None when none came), the first bytes of the body, or an error."""

    status: int | None
    body: str
    error: str
    duration_ms: int
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Network errors, timeouts, 429 and 5xx; not a refused address, a 3xx or another 4xx."""
        if self.status is None:
            return not self.error.startswith("refused:")
        return self.status == 429 or self.status >= 500


def _carried(address: IPAddress) -> list[IPAddress]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    carried: list[IPAddress] = []
    if address.ipv4_mapped is not None:
        carried.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        carried.append(address.sixtofour)
    if address.teredo is not None:
        carried.extend(address.teredo)
    if address in NAT64:
        carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return carried


def refusal(address: IPAddress) -> str | None:
    """Why a request may not go to ``address``, or None when it may."""
    for candidate in (address, *_carried(address)):
        if candidate.is_unspecified:
            return f"{address} is unspecified"
        if candidate.is_multicast:
            return f"{address} is multicast"
        if any(candidate in network for network in METADATA_NETWORKS if network.version == candidate.version):
            return f"{address} is in the cloud metadata range"
        if not candidate.is_global and not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
            return f"{address} is not a public address (loopback, private, link-local or reserved)"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def scheme_refusal(scheme: str) -> str | None:
    if scheme == "https" or (scheme == "http" and settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS):
        return None
    return "only https URLs receive webhooks" + ("" if scheme == "http" else f", not {scheme}")


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, each checked; raise ``Refused`` when any one is refused.

    Any, not all: a name with one public and one private address could be answered either way
    by the next lookup, so it is refused as a whole.
    """
    literal = literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise OSError(f"cannot resolve {host}: {exc}") from exc
        addresses = []
        for *_, sockaddr in found:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise Refused(f"{host} resolves to a refused address: {reason}" if literal is None else reason)
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to a checked address; ``Host`` names the URL's host."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.address), self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address; SNI, ``Host`` and the certificate check use the URL's host."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((str(self.address), self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url`` through the guard; never raises for what the network or receiver does."""
    started = time.monotonic()
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        reason = scheme_refusal(parts.scheme)
        if reason is not None:
            raise Refused(reason)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = resolve(host, port)
    except Refused as exc:
        return Answer(status=None, body="", error=f"refused: {exc}", duration_ms=elapsed())
    except (OSError, ValueError) as exc:
        return Answer(status=None, body="", error=f"network error: {exc}", duration_ms=elapsed())
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    last_error = "network error"
    for address in addresses:
        connection = connection_class(host, port, address, timeout)
        try:
            try:
                connection.connect()
            except TimeoutError:
                last_error = f"timeout after {timeout} s connecting to {address}"
                continue
            except OSError as exc:
                # Not connected, so nothing was sent: the next address may answer.
                last_error = f"network error: cannot connect to {address}: {exc}"
                continue
            return _exchange(connection, target, body, headers, elapsed)
        finally:
            connection.close()
    return Answer(status=None, body="", error=last_error, duration_ms=elapsed())


def _exchange(
    connection: http.client.HTTPConnection,
    target: str,
    body: bytes,
    headers: dict[str, str],
    elapsed: Callable[[], int],
) -> Answer:
    try:
        connection.request("POST", target, body=body, headers={"User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        # The first 2 KB are all that is kept; the rest is never read.
        head = response.read(settings.WEBHOOK_RESPONSE_BODY_BYTES)
    except TimeoutError:
        return Answer(status=None, body="", error=f"timeout after {connection.timeout} s", duration_ms=elapsed())
    except (OSError, http.client.HTTPException) as exc:
        return Answer(status=None, body="", error=f"network error: {type(exc).__name__}: {exc}", duration_ms=elapsed())
    return Answer(
        status=response.status,
        body=head.decode("utf-8", errors="replace"),
        error=_status_error(response.status, response.getheader("Location")),
        duration_ms=elapsed(),
        retry_after=retry_after_seconds(response.getheader("Retry-After")),
    )


def _status_error(status: int, location: str | None) -> str:
    if 300 <= status < 400:
        return f"redirect not followed (HTTP {status} to {location or 'no Location'})"
    if status >= 400:
        return f"HTTP {status}"
    return ""
