"""The SSRF guard, switched on (WEBHOOK_ALLOW_PRIVATE_NETWORKS=False, as in production).

Each URL that could reach the server's own networks is refused at creation (a literal address,
plain http) or at delivery (a name that resolves there), and receivers listening on loopback
prove that nothing reached them: they count every TCP connection, not only requests.
"""

import ipaddress
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from taskhub.core import rls
from taskhub.tenancy.roles import Role
from taskhub.webhooks import transport
from taskhub.webhooks.events import emit
from taskhub.webhooks.models import Delivery, Webhook
from taskhub.webhooks.tests.conftest import URL, create_webhook, deliveries
from taskhub.webhooks.tests.receiver import Receiver, receiving

pytestmark = pytest.mark.django_db
GUARD_ON = override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)


@pytest.fixture
def loopback() -> Iterator[tuple[Receiver, Receiver]]:
    """Receivers on 127.0.0.1 and ::1 that count every connection."""
    with receiving() as v4, receiving(host="::1") as v6:
        yield v4, v6


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{v4}/hook",
        "http://[::1]:{v6}/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{v4}/hook",
    ],
)
@GUARD_ON
def test_plain_http_is_refused_at_creation(clients_a, loopback, url):
    v4, v6 = loopback

    response = clients_a[Role.ADMIN].post(URL, {"url": url.format(v4=v4.port, v6=v6.port)}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "https_required"
    assert not Webhook.objects.exists()
    assert (v4.connections, v6.connections) == (0, 0)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:{v4}/hook",
        "https://[::1]:{v6}/hook",
        "https://10.0.0.1/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://[::ffff:127.0.0.1]:{v4}/hook",
        "https://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, IPv4-mapped
        "https://[64:ff9b::a00:1]/",  # 10.0.0.1 through NAT64
        "https://[2002:7f00:1::]/",  # 127.0.0.1 through 6to4
        "https://[fe80::1]/",
        "https://100.64.0.1/",
        "https://0.0.0.0:{v4}/",
        "https://[::]:{v6}/",
        "https://224.0.0.251/",
    ],
)
@GUARD_ON
def test_a_literal_address_that_is_not_public_is_refused_at_creation(clients_a, loopback, url):
    v4, v6 = loopback

    response = clients_a[Role.ADMIN].post(URL, {"url": url.format(v4=v4.port, v6=v6.port)}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "address_not_allowed"
    assert "url" in json.dumps(response.json())
    assert not Webhook.objects.exists()
    assert (v4.connections, v6.connections) == (0, 0)


@GUARD_ON
def test_a_name_resolving_to_loopback_is_refused_at_delivery_and_nothing_connects(clients_a, loopback):
    v4, v6 = loopback
    admin = clients_a[Role.ADMIN]

    body = create_webhook(admin, f"https://localhost:{v4.port}/hook")

    (delivery,) = deliveries(admin, body["id"])
    assert delivery["response_status"] is None
    assert delivery["error"].startswith("refused: localhost resolves to a refused address: ")
    assert "not a public address" in delivery["error"]
    assert delivery["next_attempt_at"] is None
    assert (v4.connections, v6.connections) == (0, 0)


def _resolver(answers: dict[str, list[list[str]]], calls: list[str]) -> Any:
    """A getaddrinfo that answers the names in ``answers`` (one list per lookup, the last repeating)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        calls.append(host)
        addresses = answers[host][min(len(calls), len(answers[host])) - 1]
        results = []
        for address in addresses:
            family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
            sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
            results.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return results

    return getaddrinfo


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["::ffff:127.0.0.1"],
        ["::1"],
        # One public address among them is not enough: the next lookup could answer the other.
        ["93.184.216.34", "127.0.0.1"],
    ],
)
@GUARD_ON
def test_a_name_whose_dns_answers_a_private_address_is_refused_at_delivery(clients_a, loopback, monkeypatch, addresses):
    v4, v6 = loopback
    calls: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", _resolver({"hooks.example.test": [addresses]}, calls))
    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, f"https://hooks.example.test:{v4.port}/hook")

    emit(organization_id=clients_a[Role.ADMIN].get("/api/v1/organization/").json()["id"], type="task.created", data={})

    attempts = deliveries(admin, body["id"])
    assert len(attempts) == 2  # the creation's ping and the event
    assert all(a["error"].startswith("refused: hooks.example.test resolves to a refused address") for a in attempts)
    assert (v4.connections, v6.connections) == (0, 0)


def test_the_connection_goes_to_the_address_that_was_checked_not_a_second_lookup(clients_a, monkeypatch):
    # Private networks allowed here, so the checked address (loopback) is one a receiver can listen on.
    with receiving() as receiver:
        calls: list[str] = []
        # DNS rebinding: the first answer passes the check, a second lookup would lead elsewhere.
        monkeypatch.setattr(
            socket, "getaddrinfo", _resolver({"rebind.example.test": [["127.0.0.1"], ["10.255.255.1"]]}, calls)
        )

        create_webhook(clients_a[Role.ADMIN], f"http://rebind.example.test:{receiver.port}/hook")

        (hit,) = receiver.wait_for(1)
    assert calls == ["rebind.example.test"]
    assert hit.headers["host"] == f"rebind.example.test:{receiver.port}"


def test_a_redirect_to_loopback_is_not_followed(clients_a):
    admin = clients_a[Role.ADMIN]
    with receiving() as inside:
        redirect = [(302, {"Location": f"http://127.0.0.1:{inside.port}/admin"}, b"")]
        with receiving(redirect) as outside:
            body = create_webhook(admin, outside.url, events=["task.created"])
            organization = admin.get("/api/v1/organization/").json()["id"]

            emit(organization_id=organization, type="task.created", data={"id": "1"})

            assert len(outside.wait_for(2)) == 2
        assert inside.connections == 0
    event, _ping = deliveries(admin, body["id"])
    assert event["response_status"] == 302
    assert event["succeeded"] is False
    assert event["error"] == f"redirect not followed (HTTP 302 to http://127.0.0.1:{inside.port}/admin)"
    # A 3xx is the receiver's answer, not a passing fault: no retry.
    assert event["next_attempt_at"] is None


@GUARD_ON
def test_a_url_made_http_before_the_guard_went_on_is_refused_at_delivery(clients_a, loopback):
    v4, _ = loopback
    with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True), receiving() as receiver:
        body = create_webhook(clients_a[Role.ADMIN], receiver.url)
    with rls.bypass("test: point the webhook at loopback"):
        Webhook.objects.filter(pk=body["id"]).update(url=f"http://127.0.0.1:{v4.port}/hook")

    clients_a[Role.ADMIN].post(f"{URL}{body['id']}/ping/")

    with rls.bypass("test: read the attempt"):
        latest = Delivery.objects.filter(webhook_id=body["id"]).latest("created_at")
    assert latest.error == "refused: only https URLs receive webhooks"
    assert v4.connections == 0


@pytest.mark.parametrize(
    ("address", "allowed_off", "allowed_on"),
    [
        ("93.184.216.34", True, True),
        ("2606:2800:220:1:248:1893:25c8:1946", True, True),
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("10.1.2.3", False, True),
        ("172.16.0.1", False, True),
        ("192.168.0.1", False, True),
        ("100.64.0.1", False, True),
        ("fc00::1", False, True),
        ("fe80::1", False, True),
        ("::ffff:10.0.0.1", False, True),
        ("::ffff:93.184.216.34", True, True),
        ("240.0.0.1", False, True),
        # Never, whatever the setting:
        ("169.254.169.254", False, False),
        ("169.254.0.1", False, False),
        ("fd00:ec2::254", False, False),
        ("::ffff:169.254.169.254", False, False),
        ("0.0.0.0", False, False),  # noqa: S104 - an address judged, not bound
        ("::", False, False),
        ("224.0.0.1", False, False),
        ("ff02::1", False, False),
    ],
)
def test_which_addresses_the_guard_refuses(address, allowed_off, allowed_on):
    ip = ipaddress.ip_address(address)
    with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False):
        assert (transport.refusal(ip) is None) is allowed_off
    with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True):
        assert (transport.refusal(ip) is None) is allowed_on
