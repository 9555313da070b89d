"""Replay of real headline A/B tests: allocation policies against the oracle.

Data: the Upworthy Research Archive's headline tests (Matias, Munger, Aubin Le Quere &
Ebersole, "The Upworthy Research Archive, a time series of 32,487 experiments in U.S. media",
Scientific Data 8, 195, 2021), one row per headline: ``test_id, test_week, headline,
impressions, clicks``. Each test is an independent bandit problem whose arms click with the
observed CTR. A test runs ``per_arm * K`` impressions (K arms) in batches; a policy learns only
between batches. Score: the policy's expected clicks over the oracle's (always the best arm),
summed over all tests, per seed; the table shows the mean over seeds, their spread (sd) and
the worst seed.

Tests are split into 5 folds by a hash of ``test_id``; ``--half 0|1`` replays only one half of
them (by another digit of the same hash, so each half holds tests of every fold), to check that
a change helps on both; priors (and the text scorer) are fitted
on the other folds only. The replay's world has the observed CTRs as truths, so the
empirical-Bayes prior is fitted on what the training tests would have shown in that world:
their impressions again, clicks drawn from those truths.

Run: ``.venv/bin/python benchmarks/replay.py [DATA] [--seeds 3] [--vw-tests 20] [--sweep]
[--half 0|1]``.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.allocate import make_policy  # noqa: E402
from optimizer.allocate.priors import fit_group_prior, table_priors  # noqa: E402
from optimizer.allocate.replay import Arms, arms_of, replay_batches  # noqa: E402
from optimizer.allocate.resolve import AUTO_THOMPSON  # noqa: E402
from optimizer.records import Context  # noqa: E402
from optimizer.rng import Streams  # noqa: E402
from simulators.table import ArmsTable, arms_table, load_arms_csv  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "upworthy-headline-tests.csv"
FOLDS = 5


@dataclass(frozen=True)
class Test(Arms):
    """A test's arms (``ctr``: observed clicks / impressions, the replay's truths), the
    impressions the archive logged per arm, and the test's fold."""

    impressions: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fold: int = 0
    half: int = 0

    @property
    def id(self) -> str:
        return self.segment


def load_tests(path: Path) -> list[Test]:
    import pandas as pd

    table = load_arms_csv(path)
    frame = pd.read_csv(path, usecols=["test_id", "headline", "impressions"])
    shown = {(t, h.strip()): n for t, h, n in frame.itertuples(index=False)}
    tests = []
    for arms in arms_of(table):
        digest = int(hashlib.sha256(arms.segment.encode()).hexdigest(), 16)
        n = np.array([shown[(arms.segment, c.headline)] for c in arms.creatives], dtype=float)
        fold, half = digest % FOLDS, digest // FOLDS % 2
        tests.append(Test(arms.segment, arms.creatives, arms.ctr, n, fold, half))
    return tests


def replay_vw(
    tests: Sequence[Test], per_arm: int, batch: int, seed: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """VW as ``make_policy("vw")`` builds it, one model over the tests (segments), learning each
    impression with the probability it was served with, between batches."""
    policy = make_policy("vw", seed=seed)
    horizon = np.array([per_arm * len(t.creatives) for t in tests])
    served = np.zeros(len(tests), dtype=int)
    got = np.zeros(len(tests))
    while (active := np.flatnonzero(served < horizon)).size:
        pending = []
        for i in active:
            t = tests[i]
            m = int(min(batch, horizon[i] - served[i]))
            dist = np.asarray(policy.distribution(Context(t.id), t.creatives))
            dist = dist / dist.sum()
            arms = rng.choice(len(t.creatives), size=m, p=dist)
            clicks = rng.random(m) < t.ctr[arms]
            pending.append((t, arms, clicks, dist))
            got[i] += t.ctr[arms].sum()
            served[i] += m
        for t, arms, clicks, dist in pending:
            ctx = Context(t.id)
            for a, r in zip(arms.tolist(), clicks.tolist(), strict=True):
                policy.learn_logged(ctx, t.creatives, a, float(dist[a]), float(r))
    return got, horizon * np.array([t.ctr.max() for t in tests])


def eb_prior(train: Sequence[Test], rng: np.random.Generator):
    """The empirical-Bayes prior of the training tests, as seen in the replay's world."""
    groups = [t.id for t in train for _ in t.creatives]
    n = np.concatenate([t.impressions for t in train])
    clicks = rng.binomial(n.astype(int), np.concatenate([t.ctr for t in train]))
    return fit_group_prior(groups, clicks, n)


def text_prior_source() -> tuple[Callable | None, str]:
    """The text scorer's fit and prior, when ``optimizer.scorer`` offers them.

    Expected: ``optimizer.scorer.fit(frame)`` -> scorer, ``frame`` a pandas DataFrame with
    columns ``ad_group, headline, impressions, clicks``; ``scorer.prior(headlines)`` -> one
    (alpha, beta) per headline of one ad group (``optimizer.allocate.priors.TextScorer``).
    """
    try:
        module = importlib.import_module("optimizer.scorer")
    except ImportError:
        return None, "text prior: scorer not available (no optimizer.scorer)"
    fit = getattr(module, "fit", None)
    if fit is None:
        return None, "text prior: scorer not available (optimizer.scorer has no fit(frame))"
    return fit, ""


def fit_text_scorer(fit: Callable, train: Sequence[Test]):
    import pandas as pd

    rows = [
        (t.id, c.headline, n, round(p * n))
        for t in train
        for c, p, n in zip(t.creatives, t.ctr, t.impressions, strict=True)
    ]
    scorer = fit(pd.DataFrame(rows, columns=["ad_group", "headline", "impressions", "clicks"]))
    if not callable(getattr(scorer, "prior", None)):
        raise TypeError("the fitted scorer has no prior(headlines)")
    return scorer


def fold_text_priors(fit: Callable, tests: Sequence[Test]) -> dict[int, dict]:
    """Per fold: the text priors of its tests from a scorer fitted on the other folds (the
    fit does not depend on the replay's seed, so it runs once per fold)."""
    out = {}
    for f in range(FOLDS):
        t0 = time.perf_counter()
        scorer = fit_text_scorer(fit, [t for t in tests if t.fold != f])
        out[f] = table_priors(fold_table([t for t in tests if t.fold == f]), scorer)
        print(f"  text scorer for fold {f}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out


def fold_table(tests: Sequence[Test]) -> ArmsTable:
    rows = [
        (t.id, c.id, c.headline, float(p))
        for t in tests
        for c, p in zip(t.creatives, t.ctr, strict=True)
    ]
    return arms_table("fold", rows)


AUTO = f"auto (thompson s={AUTO_THOMPSON['sharpness']:g} + EB)"
FLAT = "thompson (flat, batched)"
TEXT_FLAT = "thompson + text prior"
TEXT_AUTO = f"{AUTO[:-1]} + text)"


def policies(sweep: bool, text: bool) -> dict[str, tuple[str, dict, tuple[str, ...]]]:
    """Row label -> (registry name, params, priors: 'eb' and/or 'text')."""
    rows = {
        "uniform": ("uniform", {}, ()),
        FLAT: ("thompson", {}, ()),
        "ucb1 (eps 0.01)": ("ucb1", {}, ()),
        "top-two thompson": ("top-two", {}, ()),
        "thompson + EB prior": ("thompson", {}, ("eb",)),
        AUTO: ("auto", {}, ("eb",)),
    }
    if text:
        rows[TEXT_FLAT] = ("thompson", {}, ("text",))
        rows[TEXT_AUTO] = ("auto", {}, ("eb", "text"))
    if sweep:
        for s in (4, 8, 16, 32):
            rows[f"  sweep: flat s={s}"] = ("thompson", {"sharpness": s}, ())
            rows[f"  sweep: EB s={s}"] = ("thompson", {"sharpness": s}, ("eb",))
            if text:
                rows[f"  sweep: EB + text s={s}"] = ("thompson", {"sharpness": s}, ("eb", "text"))
        # sharpness that follows the evidence: s * (1 + N / n) after N impressions of the test
        for s, n in ((2, 1000), (8, 4000)):
            grow = {"sharpness": s, "sharpen_every": n}
            rows[f"  sweep: EB s={s}(1+N/{n})"] = ("thompson", grow, ("eb",))
    return rows


def run(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    tests = load_tests(args.data)
    fit_text, why = text_prior_source()
    rows = policies(args.sweep, fit_text is not None)
    per_arms = [int(x) for x in args.per_arm.split(",")]
    # results[label][per_arm] = list over seeds of (policy clicks, oracle clicks) per test
    results: dict[str, dict[int, list[tuple[np.ndarray, np.ndarray]]]] = {
        label: {h: [] for h in per_arms} for label in rows
    }
    scored = np.array([args.half is None or t.half == args.half for t in tests])
    order = np.where(scored, np.array([t.fold for t in tests]), -1)
    text_priors = fold_text_priors(fit_text, tests) if fit_text is not None else {}
    for seed in range(args.seeds):
        priors_rng = Streams(seed).fresh("bootstrap")
        fold_priors = {
            f: (eb_prior([t for t in tests if t.fold != f], priors_rng), text_priors.get(f))
            for f in range(FOLDS)
        }
        for label, (name, params, prior) in rows.items():
            for h in per_arms:
                got = np.zeros(len(tests))
                best = np.zeros(len(tests))  # tests of the other half stay at 0: not scored
                for f in range(FOLDS):
                    idx = np.flatnonzero(order == f)
                    eb, text = fold_priors[f]
                    policy = make_policy(
                        name,
                        seed=seed,
                        params=params,
                        has_context_features=False,
                        group_prior=eb if "eb" in prior else None,
                        creative_priors=text if "text" in prior else None,
                    )
                    rng = np.random.Generator(
                        np.random.PCG64(np.random.SeedSequence([seed, f, h, 7]))
                    )
                    g, b = replay_batches(policy, [tests[i] for i in idx], h, args.batch, rng)
                    got[idx], best[idx] = g, b
                results[label][h].append((got, best))
        print(f"  seed {seed} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    print_table(results, per_arms, args, int(scored.sum()))
    if why:
        print(why)
    if args.vw_tests:
        run_vw(args, tests, results, per_arms)
    print(f"\n{time.perf_counter() - t0:.0f} s in all")


def run_vw(args, tests, results, per_arms) -> None:
    halves = [i for i, t in enumerate(tests) if args.half is None or t.half == args.half]
    subset = sorted(halves, key=lambda i: hashlib.sha256(tests[i].id.encode()).digest())
    subset = np.array(sorted(subset[: args.vw_tests]))
    vw_rows: dict[str, dict[int, list]] = {"vw (squarecb, no features)": {h: [] for h in per_arms}}
    for seed in range(args.seeds):
        for h in per_arms:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, h, 11])))
            vw_rows["vw (squarecb, no features)"][h].append(
                replay_vw([tests[i] for i in subset], h, args.batch, seed, rng)
            )
    merged = {
        label: {h: [(g[subset], b[subset]) for g, b in runs[h]] for h in per_arms}
        for label, runs in results.items()
        if not label.startswith("  sweep")
    }
    merged.update(vw_rows)
    print(
        f"\nVW is slow (a Python call per impression): the same table on {len(subset)} of the "
        "tests (a fixed subset by hash of test_id), VW's row last"
    )
    print_table(merged, per_arms, args, len(subset))


def print_table(results, per_arms, args, n_tests) -> None:
    head = f"{'policy / oracle clicks':34}" + "".join(f"{f'{h:,} imp/arm':>26}" for h in per_arms)
    print(
        f"\n{n_tests} tests, batch {args.batch}, {args.seeds} seeds: mean (sd over seeds, "
        "worst seed)"
    )
    print(head)
    ratio = {
        label: {h: np.array([g.sum() / b.sum() for g, b in runs[h]]) for h in per_arms}
        for label, runs in results.items()
    }
    for label in results:
        cells = "".join(
            f"{r.mean():>12.4f} ({r.std():.4f}, {r.min():.4f})"
            for r in (ratio[label][h] for h in per_arms)
        )
        print(f"{label:34}{cells}")
    pairs = [(label, FLAT) for label in results if label != FLAT]
    print_differences(ratio, per_arms, pairs, f"minus {FLAT}, per seed")
    pairs = [(a, b) for a, b in [(TEXT_FLAT, FLAT), (TEXT_AUTO, AUTO)] if a in results]
    print_differences(ratio, per_arms, pairs, "minus the same policy without text, per seed")


def print_differences(ratio, per_arms, pairs, title: str) -> None:
    """Per seed: row ``a`` minus row ``b`` (same seeds, same tests)."""
    if pairs:
        print(f"\n{title}")
    for a, b in pairs:
        cells = "".join(
            f"{' '.join(f'{d:+.3f}' for d in ratio[a][h] - ratio[b][h]):>26}" for h in per_arms
        )
        print(f"{a:34}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--per-arm", default="200,2000,10000", help="impressions per arm")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--vw-tests", type=int, default=20, help="tests for VW (0: skip VW)")
    parser.add_argument("--sweep", action="store_true", help="also thompson's sharpness s")
    parser.add_argument(
        "--half", type=int, choices=(0, 1), help="replay one half of the tests (by hash of test_id)"
    )
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"{args.data}: no such file; pass the Upworthy headline tests CSV")
    run(args)


if __name__ == "__main__":
    main()
