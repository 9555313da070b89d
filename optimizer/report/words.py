"""The report's words: labels with the numbers behind them, sources and operators in plain
language, reasons with creative ids replaced by their headlines."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from optimizer.refresh.assess import Assessment
from optimizer.report.model import Lift, Rate, Text

ID = re.compile(r"\b[0-9a-f]{16}\b")  # a creative's content-hash id
OPERATORS = {
    "recombine": "recombined",
    "mutation": "edited: one winner rewritten",
    "crossover": "edited: two winners merged",
    "generate": "generated",
}
EXPLAINED = (
    "Recombined: the headline, body and call to action of winners assembled anew (no LLM). "
    "Edited: the LLM rewrote the headline or body of one winner (mutation) or merged two "
    "(crossover). Generated: the LLM wrote it from a prompt."
)
MIN_SHOWN = 100  # below this, a creative whose interval reaches the best's is still learning
SOURCES = {"recombined": "recombined", "edited": "edited", "generated": "generated"}
REASON_GROUPS = (
    ("confidently worse than", "worse than the segment's best"),
    ("over the pool size", "over the pool size (weakest of a full pool)"),
    ("fatigued in", "fatigued (CTR fell)"),
    ("gone", "no segment serves it"),
)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def interval(r: Rate) -> str:
    return f"{pct(r.value)} [{100 * r.low:.2f}\u2013{100 * r.high:.2f}%]"


def short(headline: str, n: int = 30) -> str:
    """A headline cut to ``n`` characters for a legend."""
    return headline if len(headline) <= n else headline[: n - 1].rstrip() + "\u2026"


def legend_names(texts: Sequence[Text]) -> dict[str, str]:
    """A short name per creative: its headline, with the start of its body where another
    creative of ``texts`` has the same headline."""
    count = Counter(t.headline for t in texts)
    return {
        t.id: short(t.headline)
        if count[t.headline] == 1 or not t.body
        else f"{short(t.headline, 22)} / {short(t.body, 18)}"
        for t in texts
    }


def segment_name(segment: str) -> str:
    return segment or "all users"


def leader(assessments: Sequence[Assessment], min_events: int) -> Assessment | None:
    """The segment's best creative: among those judged (``min_events`` impressions as a
    candidate), the surest performer, the highest lower bound (then the highest CTR)."""
    judged = [a for a in assessments if a.events >= min_events]
    return max(judged, key=lambda a: (a.low, a.ctr)) if judged else None


def label(a: Assessment, best: Assessment | None, min_events: int) -> tuple[str, str]:
    """``(label, why)`` of a creative beside its segment's ``best`` (:func:`leader`).

    learning: fewer than ``min_events`` impressions as a candidate (the refresh does not
    judge it yet), or shown fewer than ``MIN_SHOWN`` times or below the best's interval
    while its own interval still reaches the best's CTR; leading: the best, or a creative
    shown enough whose CTR is not below the best's lower bound; retiring: an upper bound below
    the best's CTR (the refresh retires it once it is confidently worse, or when the pool
    is over its size).
    """
    if a.events == 0:
        return "learning", "new: not served yet"
    if a.events < min_events or best is None:
        return "learning", f"{a.events:,} impressions as a candidate; judged after {min_events:,}"
    if a.creative_id == best.creative_id:
        return (
            "leading",
            f"the segment's surest performer: highest lower bound, CTR {interval(rate_of(a))}",
        )
    if a.high < best.ctr:
        return (
            "retiring",
            f"likely worse: upper bound {pct(a.high)} below the best's {pct(best.ctr)}",
        )
    if a.shown < MIN_SHOWN or a.ctr < best.low:
        return "learning", (
            f"shown {a.shown:,} times: could still match the best's {pct(best.ctr)} "
            f"(upper bound {pct(a.high)})"
        )
    return "leading", (
        f"as good as the best: CTR {pct(a.ctr)}, not below the best's lower bound {pct(best.low)}"
    )


def rate_of(a: Assessment) -> Rate:
    """The assessment's CTR and interval (an inverse-propensity estimate may pass 1; the
    interval is cut at 1)."""
    return Rate(a.ctr, a.low, min(a.high, 1.0))


LABELS = (
    "CTR: the value of always showing the creative, estimated from every impression in which "
    "it was a candidate and corrected for how the bandit chose (inverse propensity), with its "
    "95% interval. Labels: leading, the segment's surest performer (the highest lower bound) "
    "or a creative shown enough whose CTR is not below its lower bound; retiring, an upper bound "
    "below the best's CTR (the refresh retires a creative once it is confidently worse, or "
    "when the pool is full); learning, too few impressions to tell yet."
)


def operator_words(operator: str | None, arm: str | None, prompt: str | None) -> str:
    """How a creative was made, from its lineage."""
    if not operator:
        return "seed"
    words = OPERATORS.get(operator, operator)
    _, _, arm_prompt = (arm or "").partition(":")
    p = arm_prompt or prompt
    return f"{words}, prompt '{p}'" if p else words


ARMS = {
    "recombine": "assembles the headline, body and call to action of winners anew (no LLM)",
    "mutation": "the LLM rewrites the headline or body of one winner",
    "crossover": "the LLM merges two winners",
    "generate": "the LLM writes from a prompt",
}


def arm_words(arm: str) -> str:
    """What an arm of the operator bandit does (``operator`` or ``operator:prompt``)."""
    operator, _, prompt = arm.partition(":")
    words = ARMS.get(operator, operator)
    return f"{words}: prompt '{prompt}'" if prompt else words


def source_words(source: str, lineage: Mapping, generator: str | None) -> str:
    """``seed``, ``recombined``, ``edited``, ``generated`` and the generator version."""
    if source == "seed":
        return "seed"
    words = SOURCES.get(source, source)
    op = lineage.get("operator")
    if op in ("mutation", "crossover"):
        words += f" ({op})"
    prompt = lineage.get("prompt_arm")
    if prompt:
        words += f", prompt '{prompt}'"
    if generator:
        words += f", generator {generator_name(generator)}"
    return words


def generator_name(version: str) -> str:
    """A generator version (``id@revision[+lora-digest]``) without its hub organisation,
    the model's name cut short and the adapter kept whole (it tells versions apart)."""
    name, _, adapter = version.rsplit("/", 1)[-1].partition("+")
    return f"{short(name, 24)}+{adapter}" if adapter else short(name, 28)


def reason_group(reason: str) -> str:
    for prefix, group in REASON_GROUPS:
        if reason.startswith(prefix):
            return group
    return reason.split(":", 1)[0]


def with_headlines(text: str, texts: Mapping[str, Text]) -> str:
    """``text`` with every creative id replaced by its headline in quotes."""

    def name(m: re.Match) -> str:
        t = texts.get(m.group(0))
        return f"\u201c{t.headline}\u201d" if t is not None and t.known else "another creative"

    return ID.sub(name, text)


def lift_words(lift: Lift | None) -> str:
    """The lift in one sentence: the served clicks against the others, with intervals."""
    lines = lift.observed if lift is not None else ()
    if not lines:
        return ""
    served, others = lines[0], lines[1:]

    def one(x) -> str:
        spread = f" [{x.low:,.0f}\u2013{x.high:,.0f}]" if x.low is not None else ""
        return f"{x.name} {x.clicks:,.0f}{spread}"

    text = (
        f"Lift: the {served.name} earned {served.clicks:,.0f} clicks on {lift.impressions:,} "
        f"impressions; off-policy estimates for the same impressions: "
        + ", ".join(one(x) for x in others)
        + "."
    )
    if lift.true:
        text += (
            " Expected clicks by the simulator's truth: "
            + ", ".join(f"{x.name} {x.clicks:,.0f}" for x in lift.true)
            + "."
        )
    return text
