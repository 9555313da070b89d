from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import EXAMPLE


@pytest.fixture()
def runner():
    return CliRunner()


def write_config(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(changes)
    data["database_url"] = f"sqlite:///{tmp_path}/o.db"
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
