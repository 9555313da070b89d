from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from optimizer.config import CampaignConfig, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "configs" / "example.yaml"


@pytest.fixture(scope="session")
def example_cfg() -> CampaignConfig:
    return load_config(EXAMPLE)


@pytest.fixture()
def example_data() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def small_config(**changes) -> CampaignConfig:
    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(changes)
    return parse_config(data, "small")
