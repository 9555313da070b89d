"""Regenerate the README's screenshot of the report.

Plays the example campaign (configs/example.yaml) for a few rounds with refresh and the
same rounds without, writes the report, and photographs its top with headless Chromium at
a laptop's width; the PNG is reduced to a palette so that it stays well under 1 MB.

Run: ``.venv/bin/python scripts/report_screenshot.py [--rounds 3] [--impressions 3000]
[--generate] [--out docs/report.png] [--keep DIR]`` (without ``--generate`` the refresh
only recombines winners: no LLM, a few minutes on two cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.config import apply_overrides, load_config  # noqa: E402
from optimizer.report import write_report  # noqa: E402
from optimizer.report.browser import screenshot  # noqa: E402
from optimizer.rounds import run_rounds  # noqa: E402
from optimizer.store import Store  # noqa: E402

EXAMPLE = ROOT / "configs" / "example.yaml"


def shrink(png: Path, out: Path, colours: int = 96) -> int:
    """``png`` as an optimised palette PNG at ``out``; its size in bytes."""
    from PIL import Image

    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
        out.parent.mkdir(parents=True, exist_ok=True)
        small.save(out, optimize=True)
    return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--impressions", type=int, default=3_000, help="per round")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--generate", action="store_true", help="let the LLM write too")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--height", type=int, default=1800)
    parser.add_argument("--keep", type=Path, help="folder to keep the store and the report in")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="report-shot-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{folder / 'campaign.db'}"
        cfg = apply_overrides(load_config(EXAMPLE), seed=args.seed, database_url=url)
        store = Store(url)
        t0 = time.perf_counter()
        for refresh in (True, False):
            run_rounds(
                cfg,
                args.rounds,
                args.impressions,
                refresh,
                store,
                folder / "state",
                generate=args.generate,
            )
        t1 = time.perf_counter()
        page = write_report(store, cfg.name, folder / "report")
        t2 = time.perf_counter()
        raw = screenshot(page, folder / "screenshot.png", args.width, args.height)
        size = shrink(raw, args.out)
        print(
            f"rounds {t1 - t0:.1f} s, report {t2 - t1:.1f} s; {page}; "
            f"{args.out} {args.width}x{args.height} px, {size / 1024:.0f} KiB"
        )


if __name__ == "__main__":
    main()
