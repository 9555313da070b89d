"""The HTML report, rendered in headless Chromium: every plot must load."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from cli import main
from optimizer.config import apply_overrides
from optimizer.report import PLOTS
from optimizer.rounds import run_rounds
from optimizer.store import Store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, example_cfg):
    tmp = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{tmp}/r.db"
    cfg = apply_overrides(example_cfg, seed=6, database_url=url)
    store = Store(url)
    run_rounds(cfg, 3, 1_500, True, store, tmp / "state", generate=False)
    run_rounds(cfg, 3, 1_500, False, store, tmp / "state", generate=False)
    out = tmp / "out"
    result = CliRunner().invoke(
        main, ["report", "--campaign", cfg.name, "--db", url, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_report_writes_every_plot(report_dir):
    page = (report_dir / "index.html").read_text()
    for name in PLOTS:
        assert (report_dir / f"{name}.png").stat().st_size > 5_000
        assert f'src="{name}.png"' in page
    assert "http" not in page.replace("http-equiv", "")  # nothing to fetch: opens offline
    # retirements with their reasons
    assert re.search(r"(confidently worse than|over the pool size|fatigued in) ", page)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(report_dir, tmp_path):
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            (report_dir / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r'data-images-loaded="(\d+)/(\d+)"', result.stdout)
    assert match, result.stderr[-2000:]
    assert match.groups() == (str(len(PLOTS)), str(len(PLOTS)))


def test_report_without_rounds_is_a_clear_error(tmp_path, example_cfg):
    url = f"sqlite:///{tmp_path}/e.db"
    Store(url).save_campaign(example_cfg)
    result = CliRunner().invoke(
        main, ["report", "--campaign", example_cfg.name, "--db", url, "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "has no rounds" in result.output and "run --rounds R" in result.output
