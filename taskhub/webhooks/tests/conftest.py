from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from taskhub.webhooks.tests.receiver import Receiver, receiving

URL = "/api/v1/webhooks/"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 answering 200 to everything."""
    with receiving() as running:
        yield running


def create_webhook(client: APIClient, url: str, **fields: Any) -> dict[str, Any]:
    """Create a webhook through the API; return the 201 body (with its secret)."""
    response = client.post(URL, {"url": url, **fields}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def deliveries(client: APIClient, webhook_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{URL}{webhook_id}/deliveries/", {"page_size": 100})
    assert response.status_code == 200, response.content
    return list(response.json()["results"])
