"""The creative scorer on real headline A/B tests: does it rank copy like the audience did?

Data: the Upworthy Research Archive's headline tests (Matias, Munger, Aubin Le Quere &
Ebersole, "The Upworthy Research Archive, a time series of 32,487 experiments in U.S. media",
Scientific Data 8, 195, 2021), one row per headline: ``test_id, test_week, headline,
impressions, clicks``; each test is an ad group.

Protocol: 5-fold cross-validation by test (a hash of the seed and ``test_id``), for 3 seeds of
the fold assignment; every model is fitted on four folds and scored on the tests of the
fifth. Pairwise accuracy: the share of pairs of headlines of the same held-out test whose
order of observed CTR the model gets right, on the pairs with a significant difference
(two-proportion z, |z| > 1.96) and on all pairs with different CTRs. Calibration: mean
predicted CTR of the held-out headlines over their mean observed CTR (each test predicted as
a new ad group at the pooled level), the same for medians, and the median over tests of
|log(mean predicted / mean observed)|. Table: mean and sd over the 15 folds, and the spread
of the three seeds' means.

Models: this scorer (``optimizer.scorer.CreativeScorer``); ablations of it (the conditional
logit on fewer features, or weighting every click the same); the previous scorer (a pooled
logistic regression on embedding features, copied below as it was before this change); and
TF-IDF + logistic regression, pooled on clicks and non-clicks as the previous scorer was, and
pairwise on the significant pairs of the training tests (the stronger of the two is the
baseline to beat). Then the time to fit on every headline and to predict 1,000 new ones.

Run: ``.venv/bin/python benchmarks/scorer.py [DATA] [--seeds 3] [--no-timing | --timing-only]``.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.filter.embed import Embedder  # noqa: E402
from optimizer.scorer import CreativeScorer, Outcome, features  # noqa: E402
from optimizer.scorer.clogit import fit_conditional_logit  # noqa: E402
from optimizer.scorer.model import GROUP_CLICKS, fold_of  # noqa: E402
from optimizer.scorer.validation import (  # noqa: E402
    calibration,
    pair_accuracy,
    within_group_pairs,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "upworthy-headline-tests.csv"
FOLDS = 5


class Data:
    """The tests as arrays: ``group`` (test id), ``text``, ``n`` impressions, ``c`` clicks."""

    def __init__(self, path: Path) -> None:
        import pandas as pd

        df = pd.read_csv(path)
        self.group = df["test_id"].astype(str).to_numpy()
        self.text = df["headline"].astype(str).to_numpy()
        self.n = df["impressions"].to_numpy(float)
        self.c = df["clicks"].to_numpy(float)
        self.pairs = within_group_pairs(list(self.group), self.c, self.n)

    def outcomes(self, idx: np.ndarray) -> list[Outcome]:
        return [
            Outcome("", self.text[i], "", "", int(self.n[i]), int(self.c[i]), self.group[i])
            for i in idx
        ]


# A model: fit(data, train rows) -> predict(test rows) -> (score, predicted CTR or None)
Model = Callable[[Data, np.ndarray], Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]]


def this_scorer(data: Data, train: np.ndarray):
    scorer = CreativeScorer(Embedder.shared()).fit(data.outcomes(train))

    def predict(test: np.ndarray):
        score, ctr = np.zeros(len(test)), np.zeros(len(test))
        for g in np.unique(data.group[test]):
            k = np.flatnonzero(data.group[test] == g)
            texts = list(data.text[test][k])
            score[k] = scorer.scores("", texts)
            ctr[k] = scorer.predict("", texts, ad_group=g)
        return score, ctr

    return predict


def design(data: Data, which: str) -> np.ndarray:
    """Feature blocks of the ablations, as the scorer builds them (style standardised on
    all rows here: a mean and spread, no labels)."""
    emb = features.layer_embeddings(Embedder.shared(), list(data.text))
    style = features.style_counts([(t, "", "") for t in data.text])
    style = (style - style.mean(0)) / np.where(style.std(0) > 0, style.std(0), 1) * 0.1
    d = emb.shape[1] // 2
    blocks = {"last": emb[:, d:], "layers": emb, "style": style}
    return np.hstack([blocks[b] for b in which.split("+")])


def ablation(which: str, group_weights: bool = True) -> Model:
    def fit(data: Data, train: np.ndarray):
        x = design(data, which)
        c = data.c[train]
        if group_weights:
            totals = {
                g: data.c[train][data.group[train] == g].sum() for g in set(data.group[train])
            }
            c = c / (1 + np.array([totals[g] for g in data.group[train]]) / GROUP_CLICKS)
        w = fit_conditional_logit(x[train], data.group[train], c, data.n[train])
        return lambda test: (x[test] @ w, None)

    return fit


def previous_scorer(data: Data, train: np.ndarray):
    """The scorer before this change (optimizer/refresh/scorer.py at 073517b), on a report
    without segments: a pooled logistic regression on clicks and non-clicks of [embedding of
    "headline. body", the same gated by the one segment, length / 100, has a number, the one
    call to action]."""
    from sklearn.linear_model import LogisticRegression

    def feats(idx: np.ndarray) -> np.ndarray:
        texts = list(data.text[idx])
        emb = Embedder.shared().encode([f"{h}. ".strip() for h in texts])
        simple = np.array([[len(f"{h} ") / 100.0, bool(re.search(r"\d", h)), 1.0] for h in texts])
        return np.hstack([emb, emb, simple])

    x = feats(train)
    model = LogisticRegression(C=1.0, max_iter=3000)
    w = np.r_[data.c[train], data.n[train] - data.c[train]]
    model.fit(np.vstack([x, x]), np.r_[np.ones(len(train)), np.zeros(len(train))], sample_weight=w)

    def predict(test: np.ndarray):
        p = model.predict_proba(feats(test))[:, 1]
        return p, p

    return predict


def tfidf_pooled(data: Data, train: np.ndarray):
    """TF-IDF of words and word pairs, logistic regression on clicks and non-clicks."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x = vec.fit_transform(data.text[train])
    w = np.r_[data.c[train], data.n[train] - data.c[train]]
    y = np.r_[np.ones(len(train)), np.zeros(len(train))]
    model = LogisticRegression(C=1.0, max_iter=3000).fit(sparse.vstack([x, x]), y, sample_weight=w)

    def predict(test: np.ndarray):
        p = model.predict_proba(vec.transform(data.text[test]))[:, 1]
        return p, p

    return predict


def tfidf_pairwise(data: Data, train: np.ndarray):
    """TF-IDF of words and word pairs, logistic regression on the differences of the
    significant pairs of the training tests (which headline won), C = 0.1."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(data.text[train])
    x = vec.transform(data.text)
    p = data.pairs[np.isin(data.pairs[:, 0], train) & (np.abs(data.pairs[:, 2]) > 1.96)]
    diff = x[p[:, 0].astype(int)] - x[p[:, 1].astype(int)]
    won = (p[:, 2] > 0).astype(int)
    model = LogisticRegression(C=0.1, fit_intercept=False, max_iter=3000)
    model.fit(sparse.vstack([diff, -diff]), np.r_[won, 1 - won])
    return lambda test: (x[test] @ model.coef_.ravel(), None)


MODELS: dict[str, Model] = {
    "this scorer": this_scorer,
    "  last layer only": ablation("last"),
    "  last layer + style": ablation("last+style"),
    "  two layers + style": ablation("layers+style"),
    "  two layers + style, clicks equal": ablation("layers+style", group_weights=False),
    "previous scorer": previous_scorer,
    "TF-IDF + LR pooled": tfidf_pooled,
    "TF-IDF + LR pairwise": tfidf_pairwise,
}


def score_fold(data: Data, fit: Model, train: np.ndarray, test: np.ndarray) -> list[float]:
    score, ctr = fit(data, train)(test)
    full = np.full(len(data.n), np.nan)
    full[test] = score
    pairs = data.pairs[np.isin(data.pairs[:, 0], test)]
    sig, n_sig = pair_accuracy(full, pairs, significant=True)
    every, _ = pair_accuracy(full, pairs, significant=False)
    if ctr is None:
        return [sig, every, np.nan, np.nan, np.nan, n_sig]
    cal = calibration(ctr, data.c[test] / data.n[test], list(data.group[test]))
    median = cal.predicted_median / cal.observed_median
    return [sig, every, cal.ratio, median, cal.group_error, n_sig]


def cross_validate(data: Data, seeds: int) -> dict[str, np.ndarray]:
    """``{model: array (seeds, folds, 6)}`` of the fold metrics (see :func:`score_fold`)."""
    out = {name: np.zeros((seeds, FOLDS, 6)) for name in MODELS}
    tests = sorted(set(data.group))
    for seed in range(seeds):
        fold_of_test = {t: fold_of(t, seed, FOLDS) for t in tests}
        fold = np.array([fold_of_test[g] for g in data.group])
        for f in range(FOLDS):
            train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            for name, fit in MODELS.items():
                out[name][seed, f] = score_fold(data, fit, train, test)
            print(f"  seed {seed} fold {f}: {len(test)} held-out headlines", file=sys.stderr)
    return out


def table(results: dict[str, np.ndarray]) -> None:
    tfidf = max(np.nanmean(results[m][..., 0]) for m in MODELS if m.startswith("TF-IDF"))
    print(
        f"{'model':36} {'significant pairs':>18} {'seeds':>13} {'vs TF-IDF':>9} "
        f"{'all pairs':>13} {'mean ratio':>10} {'median ratio':>12} {'test error':>10}"
    )
    for name, r in results.items():
        sig, every = r[..., 0], r[..., 1]
        seeds = sig.mean(1)
        cal = [np.nanmean(r[..., k]) for k in (2, 3, 4)]
        cells = [f"{v:10.2f}" if np.isfinite(v) else f"{'-':>10}" for v in cal]
        print(
            f"{name:36} {sig.mean():8.3f} +- {sig.std():.3f} {seeds.min():.3f}-{seeds.max():.3f} "
            f"{sig.mean() - tfidf:+9.3f} {every.mean():6.3f} +- {every.std():.3f} "
            f"{cells[0]} {cells[1]:>12} {cells[2]}"
        )
    n_sig = results["this scorer"][..., 5]
    print(
        f"(+- sd over {n_sig.size} folds; seeds: range of the {len(n_sig)} seeds' means; "
        f"{n_sig[0].sum():.0f} significant pairs per seed, {n_sig.mean():.0f} per fold; "
        "ratio: predicted / observed CTR of held-out headlines; test error: median over "
        "held-out tests of |log(mean predicted / mean observed)|, the level of a new test being "
        "unknown)"
    )


def previous_forward(embedder: Embedder, strings: list[str], batch: int = 64) -> np.ndarray:
    """``features._forward`` before the timing change (at e478d33), the baseline of the
    times: sorted by characters, tokenised per batch of 64, torch's two intra-op threads."""
    import torch

    module = embedder.model[0]
    model, tokenizer = module.auto_model, module.tokenizer
    middle = max(1, model.config.num_hidden_layers // 2)
    order = np.argsort([len(s) for s in strings], kind="stable")
    out = np.zeros((len(strings), 2 * embedder.dim), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(strings), batch):
            idx = order[start : start + batch]
            enc = tokenizer(
                [strings[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            hidden = model(**enc, output_hidden_states=True).hidden_states
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = [(hidden[k] * mask).sum(1) / mask.sum(1) for k in (middle, -1)]
            both = torch.cat([torch.nn.functional.normalize(p, dim=1) for p in pooled], 1)
            out[idx] = both.numpy()
    return out


def timing(data: Data) -> None:
    """Fit on every headline and predict 1,000 new ones, embeddings not cached (cold) and
    cached (warm, as in a campaign where the filters embedded the creatives first); the cold
    steps also with the previous featurisation (:func:`previous_forward`), in the same run,
    alternating with the current one so that both see about the same load."""
    outcomes = data.outcomes(np.arange(len(data.n)))
    new = [f"{t} (again)" for t in data.text[:1000]]
    now = features._forward

    def timed(run: Callable[[], object], forward=None) -> tuple[object, float, float, float]:
        """(result, wall s, CPU s, load average before); with a ``forward``, the embeddings
        not cached and computed by it; without, the cached ones."""
        if forward is not None:
            features._CACHE.clear()
            features._forward = forward
        load = os.getloadavg()[0]
        t, cpu = time.perf_counter(), time.process_time()
        try:
            result = run()
        finally:
            features._forward = now
        return result, time.perf_counter() - t, time.process_time() - cpu, load

    def fit() -> CreativeScorer:
        return CreativeScorer(Embedder.shared()).fit(outcomes)

    Embedder.shared()  # loading the model is not fitting
    fits = {name: timed(fit, f) for name, f in (("before", previous_forward), ("now", now))}
    scorer = fits["now"][0]
    warm = {"fit": timed(fit)}  # the training texts cached by the last fit
    predicts = {
        name: timed(lambda: scorer.predict("", new), f)
        for name, f in (("before", previous_forward), ("now", now))
    }
    warm["predict"] = timed(lambda: scorer.predict("", new))

    print(f"\n{os.cpu_count()} cores; seconds of wall and of CPU (all threads of this process)")
    print(f"  {'':25} {'before':>20} {'now':>20}   {'before / now':>14}  load average")
    for step, n, runs in (("fit", len(outcomes), fits), ("predict", len(new), predicts)):
        (_, bw, bc, bl), (_, nw, nc, nl) = runs["before"], runs["now"]
        print(
            f"  {step + ', cold':13} {n:5} rows: {bw:6.1f}, {bc:6.1f} CPU {nw:6.1f}, "
            f"{nc:6.1f} CPU   {bw / nw:4.1f} {bc / nc:4.1f} CPU  {bl:.1f}, {nl:.1f}"
        )
    for step, n in (("fit", len(outcomes)), ("predict", len(new))):
        _, w, c, load = warm[step]
        print(
            f"  {step + ', warm':13} {n:5} rows: {'':20} {w:6.1f}, {c:6.1f} CPU {'':19} {load:.1f}"
        )
    before, after = predicts["before"][0], predicts["now"][0]
    print(
        "predicted CTRs before and now: largest relative difference "
        f"{np.max(np.abs(before / after - 1)):.1e}"
    )
    print(
        f"fitted on all: temperature {scorer.temperature:.2f}, copy sd "
        f"{np.sqrt(scorer.copy_var):.3f}, unexplained sd {np.sqrt(scorer.residual_var):.3f} "
        f"(held-out explained variance {scorer.explained_variance:.3f}), pooled level "
        f"{scorer.pooled_level():.4f}, sd of a new test's log level around its prediction "
        f"{np.sqrt(scorer.level_var):.3f}"
    )
    level = scorer.pooled_level()
    for lv, name in [(level, "the level known"), (None, "a new test, level unknown")]:
        prior = scorer.prior(list(data.text[:1000]), level=lv)
        q = np.percentile(prior.strength, [10, 50, 90])
        print(
            f"prior strength, {name}: {q[1]:.0f} pseudo-impressions (10-90%: {q[0]:.0f}-{q[2]:.0f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-timing", action="store_true", help="Skip the fit/predict times.")
    parser.add_argument(
        "--timing-only",
        "--no-cv",
        dest="no_cv",
        action="store_true",
        help="Only the fit/predict times (about two minutes).",
    )
    args = parser.parse_args()
    if not args.data.is_file():
        parser.error(f"{args.data}: no such file; give the path of upworthy-headline-tests.csv")
    data = Data(args.data)
    print(
        f"{args.data.name}: {len(set(data.group))} tests, {len(data.n)} headlines, "
        f"{len(data.pairs)} within-test pairs, {int((np.abs(data.pairs[:, 2]) > 1.96).sum())} "
        "significant" + ("" if args.no_cv else f"; 5-fold CV by test x {args.seeds} seeds")
    )
    if not args.no_timing:
        timing(data)
    if not args.no_cv:
        print()
        table(cross_validate(data, args.seeds))


if __name__ == "__main__":
    main()
