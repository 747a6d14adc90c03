"""The layer contract names every product app: one it leaves out is held to no layer at all."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# The layers below the product apps, named in the contract on their own.
LOWER = {"tenancy", "core"}


def test_the_layer_contract_names_every_product_app():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [layers] = [
        contract["layers"]
        for contract in config["tool"]["importlinter"]["contracts"]
        if contract["name"].startswith("config -> product apps")
    ]
    named = {module.strip() for layer in layers for module in layer.split(":")}
    apps = {f"taskhub.{path.parent.name}" for path in (ROOT / "taskhub").glob("*/apps.py")}
    assert apps - {f"taskhub.{name}" for name in LOWER} <= named
    assert {f"taskhub.{name}" for name in LOWER} <= named
