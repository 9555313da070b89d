"""Refresh-loop benchmarks: wall time per round split by stage, the LoRA step time on this
CPU, peak memory. Prints numbers; asserts nothing.

Run: ``.venv/bin/python benchmarks/refresh.py [--rounds 3] [--impressions 5000]``
(uses configs/example.yaml with generation on, in a temporary folder).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.config import load_config  # noqa: E402
from optimizer.rounds import Campaign  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "example.yaml"
STAGES = (
    "allocate",
    "assess",
    "retire",
    "prompts",
    "generate",
    "filter",
    "rank",
    "finetune",
    "commit",
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--impressions", type=int, default=5_000)
    args = parser.parse_args()
    cfg = load_config(EXAMPLE)
    with tempfile.TemporaryDirectory() as tmp:
        campaign = Campaign(cfg, args.impressions, True, None, Path(tmp))
        t0 = time.perf_counter()
        state, policy = campaign.start(resume=False)
        print(
            f"initial pool (generate + screen {len(cfg.segments)} segments): "
            f"{time.perf_counter() - t0:.1f} s"
        )
        print("round  " + "  ".join(f"{s:>9}" for s in STAGES) + "      total")
        for _ in range(args.rounds):
            state = campaign.play(state, policy)
            sec = campaign.last_seconds
            print(
                f"{state.round:>5}  "
                + "  ".join(f"{sec.get(s, 0.0):>9.1f}" for s in STAGES)
                + f"  {sum(sec.values()):>9.1f}"
            )
            refresh = state.history[-1].generator_refresh
            if refresh:
                m = refresh.metrics
                print(
                    f"       LoRA: {m['steps']} steps x batch {m['batch_size']}, "
                    f"{m['seconds_per_step']:.1f} s/step, loss {m['loss_first']} -> "
                    f"{m['loss_last']}, {m['examples']} examples"
                )
        print(
            f"pool true CTR: {state.initial.pool_true_ctr:.4f} -> "
            f"{state.history[-1].pool_true_ctr:.4f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak:,.0f} MB")


if __name__ == "__main__":
    main()
