"""The scorer and the store: outcomes to learn from, fitted versions, predictions for a file.

The library side of ``scorer fit`` and ``scorer predict`` (the CLI only parses and prints).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.errors import InputError, OptimizerError
from optimizer.filter.embed import Embedder
from optimizer.identity import run_key
from optimizer.scorer.files import load_scorer, save_scorer
from optimizer.scorer.model import CreativeScorer, Outcome
from optimizer.scorer.validation import cross_validate


def outcomes_from_store(store: Any, campaign: str) -> list[Outcome]:
    """Impressions and clicks per (segment, creative) from stored decisions and rewards, and
    per (segment, ad group, creative) from performance reports (with their text when they
    carry it, else the stored creative's). Without an ad group a report's group is its
    segment."""
    texts = {c.id: c for c in store.creatives(campaign)}
    out = []
    for (segment, cid), (n, clicks) in store.segment_creative_stats(campaign).items():
        c = texts.get(cid)
        if c is not None and n > 0:
            out.append(Outcome(segment, c.headline, c.body, c.cta, n, int(clicks)))
    for r in store.reports(campaign):
        c = texts.get(r.creative_id)
        headline = r.headline or (c.headline if c else "")
        if headline and r.impressions > 0:
            body = r.body or (c.body if c else "")
            cta = c.cta if c else ""
            ad_group = getattr(r, "ad_group", "") or ""
            out.append(Outcome(r.segment, headline, body, cta, r.impressions, r.clicks, ad_group))
    return out


def fit(frame: Any, embedder: Embedder | None = None) -> CreativeScorer:
    """A scorer fitted on a table of outcomes (a pandas DataFrame): ``headline``,
    ``impressions``, ``clicks`` and optionally ``ad_group``, ``segment``, ``body``, ``cta``."""
    cols = set(frame.columns)
    missing = {"headline", "impressions", "clicks"} - cols
    if missing:
        raise ValueError(f"outcome table lacks column(s) {', '.join(sorted(missing))}")

    def column(name: str) -> list:
        return list(frame[name].astype(str)) if name in cols else [""] * len(frame)

    outcomes = [
        Outcome(seg, h, b, c, int(n), int(k), g)
        for seg, h, b, c, n, k, g in zip(
            column("segment"),
            list(frame["headline"].astype(str)),
            column("body"),
            column("cta"),
            frame["impressions"],
            frame["clicks"],
            column("ad_group"),
            strict=True,
        )
    ]
    return CreativeScorer(embedder).fit(outcomes)


@dataclass(frozen=True)
class FitResult:
    """A fitted and registered scorer with its cross-validated quality.

    ``held_out`` is what the folds held out: ``"group"`` (whole ad groups or segments, as a
    new A/B test) or ``"creative"`` (too few groups). Accuracies are means over folds of the
    share of same-group pairs ordered right (``significant_``: pairs with ``|z| > 1.96``);
    ``calibration_ratio`` is the mean over folds of mean predicted / mean observed CTR of the
    held-out creatives; ``prior_impressions`` what a prior at the pooled level weighs.
    """

    version: str
    path: str
    outcomes: int
    groups: int
    held_out: str
    folds: int
    significant_accuracy: float
    significant_accuracy_sd: float
    significant_pairs: int
    pairwise_accuracy: float
    pairwise_accuracy_sd: float
    calibration_ratio: float
    temperature: float
    explained_variance: float
    prior_impressions: float

    def as_dict(self) -> dict:
        out = {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}
        out["held_out_pairwise_accuracy"] = out["pairwise_accuracy"]  # the key before 0.3
        return out


def fit_and_register(
    store: Any,
    campaign: str,
    state_dir: Path,
    *,
    folds: int = 5,
    seed: int = 0,
    embedder: Embedder | None = None,
) -> FitResult:
    """Cross-validate the scorer on the store's outcomes (folds by a hash of ``seed`` and the
    group), fit it on all of them, save it under ``state_dir/<campaign>/scorers/`` and
    register it as a version of kind ``scorer``."""
    from optimizer.store.models import PolicyRow

    outcomes = outcomes_from_store(store, campaign)
    if len(outcomes) < 4:
        raise OptimizerError(
            f"campaign {campaign!r} has {len(outcomes)} creatives with "
            "impressions; run or ingest more before fitting the scorer"
        )
    embedder = embedder or Embedder.shared()
    cv = cross_validate(outcomes, lambda: CreativeScorer(embedder), folds, seed)
    scorer = CreativeScorer(embedder).fit(outcomes)
    data = [(o.segment, o.ad_group, o.headline, o.impressions, o.clicks) for o in outcomes]
    version = f"scorer-{run_key(campaign, data)}"
    path = save_scorer(scorer, Path(state_dir) / campaign / "scorers" / f"{version}.npz")
    level = scorer.pooled_level()
    result = FitResult(
        version=version,
        path=str(path),
        outcomes=len(outcomes),
        groups=len(scorer.groups),
        held_out=cv.held_out,
        folds=len(cv.folds),
        significant_accuracy=cv.mean("significant_accuracy"),
        significant_accuracy_sd=cv.sd("significant_accuracy"),
        significant_pairs=int(sum(f.significant_pairs for f in cv.folds)),
        pairwise_accuracy=cv.mean("all_accuracy"),
        pairwise_accuracy_sd=cv.sd("all_accuracy"),
        calibration_ratio=cv.calibration_ratio,
        temperature=scorer.temperature,
        explained_variance=scorer.explained_variance,
        prior_impressions=float(scorer.prior(["x"], level=level).strength[0]),
    )
    metrics = {k: v for k, v in result.as_dict().items() if k not in ("version", "path")}
    store.save_policy(
        PolicyRow(
            version=version,
            campaign=campaign,
            kind="scorer",
            path=str(path),
            source="store",
            events=int(sum(o.impressions for o in outcomes)),
            metrics=metrics,
            created_at=datetime.now(UTC),
        )
    )
    return result


def scorer_version(store: Any, version: str) -> CreativeScorer:
    """The registered scorer ``version`` (of any campaign), loaded safely."""
    row = store.policy(version)
    if row.kind != "scorer":
        raise OptimizerError(
            f"version {version!r} is a {row.kind} policy of campaign {row.campaign!r}, not a "
            "scorer; fit one with `scorer fit`"
        )
    return load_scorer(Path(row.path))


def latest_scorer(store: Any, campaign: str, version: str | None = None) -> CreativeScorer:
    """The campaign's scorer ``version`` (default: the latest registered), loaded safely."""
    if version is not None:
        row = store.policy(version)
        if row.campaign != campaign:
            raise OptimizerError(
                f"scorer {version!r} belongs to campaign {row.campaign!r}, not {campaign!r}"
            )
        return scorer_version(store, version)
    rows = [p for p in store.policies(campaign) if p.kind == "scorer"]
    if not rows:
        raise OptimizerError(f"no scorer for campaign {campaign!r}; run `scorer fit` first")
    return load_scorer(Path(rows[-1].path))


@dataclass(frozen=True)
class Prediction:
    """One input creative (its line in the file) scored in one segment."""

    line: int
    segment: str
    headline: str
    body: str
    predicted_ctr: float


def read_texts(path: Path, default_cta: str = "") -> list[tuple[int, str, str, str]]:
    """``(line, headline, body, cta)`` from a CSV (``headline`` column, optional ``body`` and
    ``cta``) or a text file (``headline`` or ``headline | body`` a line: the first ``|`` and
    one space on each side of it separate them; blank lines and lines starting with ``#``
    are skipped). Text is kept exactly as written, spaces included."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it as UTF-8 text: {exc}") from None
    out = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(raw, newline=""))
        if "headline" not in (reader.fieldnames or []):
            raise InputError(f"{path}: line 1: no 'headline' column; add one (body, cta optional)")
        for row in reader:
            if not (row.get("headline") or "").strip():
                raise InputError(f"{path}: line {reader.line_num}: empty headline; fill it in")
            cta = row.get("cta") or default_cta
            out.append((reader.line_num, row["headline"], row.get("body") or "", cta))
    else:
        for number, line in enumerate(raw.split("\n"), start=1):
            line = line.removesuffix("\r")
            if not line.strip() or line.startswith("#"):
                continue
            headline, bar, body = line.partition("|")
            if bar:
                headline, body = headline.removesuffix(" "), body.removeprefix(" ")
            if not headline.strip():
                raise InputError(f"{path}: line {number}: empty headline; write 'headline | body'")
            out.append((number, headline, body, default_cta))
    if not out:
        raise InputError(f"{path}: no creatives in it")
    return out


def predict_file(
    scorer: CreativeScorer,
    path: Path,
    segments: Sequence[str] | None = None,
    default_cta: str = "",
) -> list[Prediction]:
    """Predicted CTR of each creative of a file in each segment (default: the scorer's),
    segment by segment in file order. In a segment the scorer was fitted on, the level is the
    segment's; otherwise the file's creatives are one new group at the pooled level."""
    unknown = [s for s in segments or [] if s not in scorer.segments]
    if unknown:
        raise OptimizerError(
            f"unknown segment {unknown[0]!r}; valid: " + ", ".join(scorer.segments)
        )
    rows = read_texts(path, default_cta)
    texts = [(h, b, c) for _, h, b, c in rows]
    out = []
    for segment in segments or scorer.segments:
        ctr = scorer.predict(segment, texts)
        out += [
            Prediction(line, segment, h, b, float(np.round(p, 6)))
            for (line, h, b, _), p in zip(rows, ctr, strict=True)
        ]
    return out
