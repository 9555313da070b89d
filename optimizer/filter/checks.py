"""Text checks that need no model: format, and the ad-policy rules.

Each check returns the rejections it finds (empty when the text passes). Built-in policy
categories are always on; the campaign adds competitors, a required disclaimer and its own
prohibited patterns under ``filters``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from optimizer.config import CampaignConfig, Filters
from optimizer.filter.verdict import Rejection
from optimizer.records import Creative


def _rx(*patterns: str) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


# Ad-policy categories shared by the big ad platforms' rules.
BUILT_IN_RULES: dict[str, list[re.Pattern[str]]] = {
    "guaranteed results or income": _rx(
        r"\bguarantee[sd]?\b(?!.{0,30}\b(fit|return|refund|exchange|satisfaction)\b)",
        r"\b(earn|make)\s+\$?\d[\d,]*\s*(k|\$|dollars|bucks)?\s*(a|per|every|each)\s+"
        r"(day|week|month|hour)\b",
        r"\bget rich\b",
        r"\brisk[- ]free\b",
        r"\b100\s?% (results|success|effective)\b",
        r"\bpassive income\b",
        r"\bquit your (day )?job\b",
        r"\bno effort\b",
        r"\b(never|won'?t) (get injured|fail|lose)\b",
        r"\binstant results\b",
    ),
    "health claim": _rx(
        r"\bcure[sd]?\b",
        r"\bheal(s|ed|ing)?\b",
        r"\btreat(s|ed|ing|ment)?\b.{0,30}\b(pain|injur"
        r"\w*|arthritis|disease|condition|plantar|diabetes|depression|anxiety)\b",
        r"\b(prevents?|eliminates?|ends?|fix(es)?|reverses?)\b.{0,25}\b(injur\w*|disease|"
        r"arthritis|back pain|knee pain|shin splints|plantar)\b",
        r"\blose \d+\s*(pounds|lbs|kg|kilos)\b",
        r"\bclinically proven\b",
        r"\bdoctors? (recommend|approved?)\b",
        r"\bmiracle\b",
        r"\bdetox\b",
        r"\bburns? (fat|calories) (fast|while)\b",
        r"\bboosts? (your )?immun",
    ),
    "personal attributes": _rx(
        r"\bare you (depressed|overweight|fat|obese|diabetic|anxious|lonely|pregnant|gay|"
        r"lesbian|broke|in debt|sick|ill|disabled|divorced|struggling with|suffering|ugly|"
        r"old|bald|infertile|addicted)\b",
        r"\b(other|fellow|meet) (diabetics|christians|muslims|jews|seniors|gays|singles)\b",
        r"\byour (weight problem|debt|disability|illness|diagnosis|depression|"
        r"addiction|religion|sexual)\b",
        r"\bknow you('re| are) (overweight|depressed|struggling|single|sick|broke)\b",
        r"\bfor (fat|ugly|lonely|depressed|broke) (people|runners|you)\b",
    ),
}

STOPWORDS = set(
    "a an and are as at be by for from has have in is it its of on or our so that the this "
    "to up was we with you your yours new every all one more get just now than then can will "
    "my me no not out into over off do run runs".split()
)
_MARKUP = _rx(
    r"<[^>\n]{1,40}>",
    r"```",
    r"[{}]",
    r"\bhttps?://",
    r"\bwww\.",
    r"\[[^\]]*\]\(",
    r"(\*\*|__|##)",
    r"(^|\s)[#@][A-Za-z]\w+",  # hashtags and mentions
    r"\b(def|function|return|import|SELECT)\b.*[(;=]",
    r";\s*$",
)
# A body whose last word is one of these was cut off (a small model hits its token limit).
DANGLING = set(
    "a an and the of to for with in on at by or but so is are our your its their that this "
    "from as all it's".split()
)
_ALLOWED_SYMBOLS = set(" .,;:!?'\"-()%$&/+#@–—’‘“”…")


def format_checks(creative: Creative, cfg: CampaignConfig) -> list[Rejection]:
    """Length, repetition, markup, garbage, language. (An empty headline never gets here:
    the model's answer fails to parse and a ``Creative`` refuses one.)"""
    out: list[Rejection] = []
    head, body = creative.headline.strip(), creative.body.strip()
    text = f"{head} {body}".strip()
    if len(head) > cfg.headline_limit:
        out.append(
            Rejection(
                "format",
                f"headline too long ({len(head)} > {cfg.headline_limit} characters)",
                float(len(head)),
            )
        )
    if len(body) > cfg.body_limit:
        out.append(
            Rejection(
                "format",
                f"body too long ({len(body)} > {cfg.body_limit} characters)",
                float(len(body)),
            )
        )
    if creative.cta and creative.cta not in cfg.calls_to_action:
        out.append(Rejection("format", f"call to action {creative.cta!r} is not allowed"))
    words = re.findall(r"[a-z0-9']+", text.lower())
    if any(a == b for a, b in zip(words, words[1:], strict=False)):
        out.append(Rejection("format", "a word repeated twice in a row"))
    else:
        common = Counter(w for w in words if w not in STOPWORDS and len(w) > 2).most_common(1)
        if common and common[0][1] >= 3:
            out.append(
                Rejection(
                    "format",
                    f"repeated word {common[0][0]!r} ({common[0][1]} times)",
                    float(common[0][1]),
                )
            )
    last = re.findall(r"[A-Za-z']+", body)[-1:] if body else []
    if (
        body
        and not body.rstrip().endswith((".", "!", "?"))
        and ((last and last[0].lower() in DANGLING) or body.rstrip().endswith((",", ":", ";", "-")))
    ):
        out.append(Rejection("format", "body ends mid-sentence"))
    body_words = re.findall(r"[a-z0-9']+", body.lower())
    grams = [tuple(body_words[i : i + 4]) for i in range(len(body_words) - 3)]
    if len(grams) != len(set(grams)):
        out.append(Rejection("format", "a phrase repeated in the body"))
    if head and body and head.lower().rstrip(".!") == body.lower().rstrip(".!"):
        out.append(Rejection("format", "body repeats the headline"))
    if any(p.search(text) for p in _MARKUP):
        out.append(Rejection("format", "markup or code"))
    odd = [ch for ch in text if not (ch.isalnum() or ch in _ALLOWED_SYMBOLS)]
    if (
        "\ufffd" in text
        or any(unicodedata.category(ch).startswith("C") for ch in text)
        or (text and len(odd) / len(text) > 0.05)
    ):
        out.append(Rejection("format", "garbage characters", len(odd) / max(len(text), 1)))
    letters = [ch for ch in text if ch.isalpha()]
    non_latin = sum(1 for ch in letters if "LATIN" not in unicodedata.name(ch, ""))
    if letters and non_latin / len(letters) > 0.2:
        out.append(
            Rejection("format", "wrong language (not Latin script)", non_latin / len(letters))
        )
    elif len(words) >= 8 and not any(w in STOPWORDS for w in words):
        out.append(Rejection("format", "wrong language (no English function words)"))
    return out


def policy_rules(creative: Creative, filters: Filters) -> list[Rejection]:
    out: list[Rejection] = []
    text = f"{creative.headline} {creative.body}"
    for category, patterns in BUILT_IN_RULES.items():
        hit = next((m.group(0) for p in patterns if (m := p.search(text))), None)
        if hit:
            out.append(Rejection("safety", f"{category}: {hit!r}"))
    for rule in filters.prohibited:
        hit = next(
            (m.group(0) for p in rule.patterns if (m := re.search(p, text, re.IGNORECASE))), None
        )
        if hit:
            out.append(Rejection("safety", f"{rule.name}: {hit!r}"))
    for brand in filters.competitors:
        if re.search(rf"(?<!\w){re.escape(brand)}(?!\w)", text, re.IGNORECASE):
            out.append(Rejection("safety", f"competitor brand: {brand!r}"))
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) >= 8:
        caps = sum(ch.isupper() for ch in letters) / len(letters)
        if caps > filters.caps_ratio_max:
            out.append(Rejection("safety", f"excessive capitals ({caps:.0%} of letters)", caps))
    bangs = text.count("!")
    if bangs > filters.exclamations_max or re.search(r"[!?]{2,}|\?\!|\$\$|\.\.\.\.", text):
        out.append(Rejection("safety", f"excessive punctuation ({bangs} '!')", float(bangs)))
    if filters.required_disclaimer and filters.required_disclaimer.lower() not in text.lower():
        out.append(
            Rejection("safety", f"required disclaimer missing: {filters.required_disclaimer!r}")
        )
    return out
