"""Headless Chromium for the report: the rendered DOM (what the tests read) and screenshots
(the README's). Debian's ``chromium`` package; ``.ci/run`` installs it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from optimizer.errors import OptimizerError

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",
)


def chromium() -> str | None:
    """The Chromium executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = chromium()
    if exe is None:
        raise OptimizerError(
            "Chromium is not installed; install it with `apt-get install chromium`"
        )
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def dump_dom(page: Path, timeout: float = 120) -> str:
    """The DOM of ``page`` after it has loaded and its scripts have run."""
    result = _run(["--dump-dom", page.resolve().as_uri()], timeout)
    if "<html" not in result.stdout:
        raise OptimizerError(f"Chromium rendered nothing for {page}: {result.stderr[-500:]}")
    return result.stdout


def screenshot(page: Path, png: Path, width: int = 1366, height: int = 2400) -> Path:
    """A PNG of the top ``height`` pixels of ``page`` in a window ``width`` pixels wide."""
    png.parent.mkdir(parents=True, exist_ok=True)
    args = [f"--window-size={width},{height}", f"--screenshot={png.resolve()}"]
    result = _run([*args, page.resolve().as_uri()], 180)
    if not png.is_file():
        raise OptimizerError(f"Chromium wrote no screenshot of {page}: {result.stderr[-500:]}")
    return png
