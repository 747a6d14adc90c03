import re

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_schema_builds_without_warnings_and_validates(tmp_path):
    # --fail-on-warn turns every drf-spectacular warning or error into a failure.
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(target))
    assert target.read_text().startswith("openapi: 3.")


@pytest.mark.django_db
def test_schema_endpoint_serves_openapi_3_without_credentials(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Taskhub API"


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_every_asset_from_this_server(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
    assert assets, "the page references no script or style"
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served locally"
        assert client.get(asset).status_code == 200, asset
