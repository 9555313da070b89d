"""Only true claims: a creative may state only the offers and facts its campaign supports.

The same extraction runs on a candidate and on what the marketer wrote (product, brief,
brand voice, seed creatives and ``filters.facts``): numbers with their unit, percent or
currency; offers (free shipping, returns, sales and discounts, a deadline); guarantees and
warranties; superlatives and other product facts (fastest, #1, award-winning, waterproof,
made in ...). A claim of the candidate that none of the supported facts matches, after
normalising (``210 g`` = ``210g``, ``20 percent`` = ``20%``, ``latest`` = ``newest``), is
rejected with ``unsupported claim: '<claim>'``: ``20% off`` in a seed does not support
``30% off``. A superlative about the reader (``your fastest laps``) is not a product claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from optimizer.config import CampaignConfig
from optimizer.filter.verdict import Rejection
from optimizer.records import Creative


@dataclass(frozen=True)
class Claim:
    kind: str  # number | offer | guarantee | superlative | fact
    key: str  # normalised: what must match a supported fact
    text: str  # as written
    value: str = ""  # numbers: the value alone ("210"), the key adds the unit ("210g")


UNITS = {
    "%": "%",
    "percent": "%",
    "per cent": "%",
    "pct": "%",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "kg": "kg",
    "oz": "oz",
    "ounce": "oz",
    "ounces": "oz",
    "lb": "lb",
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
    "mm": "mm",
    "cm": "cm",
    "k": "k",
    "km": "km",
    "kilometer": "km",
    "kilometers": "km",
    "kilometre": "km",
    "kilometres": "km",
    "mi": "mi",
    "mile": "mi",
    "miles": "mi",
    "day": "day",
    "days": "day",
    "hour": "h",
    "hours": "h",
    "hr": "h",
    "hrs": "h",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
    "x": "x",
    "times": "x",
    "colors": "color",
    "colours": "color",
    "styles": "style",
    "sizes": "size",
    "size": "size",
    "models": "model",
    "pairs": "pair",
}
CURRENCY = {"$": "$", "£": "£", "€": "€", "usd": "$", "dollars": "$", "bucks": "$", "eur": "€"}
_UNIT = "|".join(sorted((re.escape(u) for u in UNITS if u != "%"), key=len, reverse=True))
_NUMBER = re.compile(
    r"(?P<pre>[$£€])?\s?(?P<value>\d+(?:[.,]\d+)*)"
    rf"(?:\s?(?P<unit>%|(?:{_UNIT})\b)|[a-z]+\b)?"
    r"(?:\s?(?P<cur>usd|dollars|bucks|eur)\b)?(?P<off>\s+off\b)?",
    re.IGNORECASE,
)
_MODEL_CODE = re.compile(r"\b[a-z]+\d[\w]*\b", re.IGNORECASE)  # V10, SHA1010: a product code
_DEADLINE = re.compile(
    r"\b(?:ends?|until|till|through|thru)\s+(?:on\s+|this\s+)?"
    r"(?P<day>monday|tuesday|wednesday|thursday|friday|saturday|sunday|midnight|tonight|today)\b",
    re.IGNORECASE,
)

# (kind, normalised key, pattern): offers, guarantees and product facts a brief must state.
PHRASES: list[tuple[str, str, re.Pattern[str]]] = [
    (kind, key, re.compile(pattern, re.IGNORECASE))
    for kind, key, pattern in [
        ("offer", "free shipping", r"\bfree\s+(shipping|delivery|postage)\b"),
        ("offer", "free returns", r"\bfree\s+(returns?|exchanges?)\b"),
        (
            "offer",
            "returns",
            r"\b(easy|hassle[- ]free|no[- ]hassle|no[- ]questions[- ]asked|\d+[- ]days?)\s+"
            r"(returns?|exchanges?|trial)\b|\breturn policy\b",
        ),
        ("offer", "buy one get one", r"\b(buy one,? get one|bogo|2 for 1|two for one)\b"),
        ("offer", "half price", r"\bhalf[- ](price|off)\b|\b50\s?% off\b"),
        ("offer", "sale", r"\b(on\s+)?sale\b|\bclearance\b|\bmark[- ]?downs?\b"),
        (
            "offer",
            "discount",
            r"\bdiscount(s|ed)?\b|\bcoupons?\b|\bpromo(tion)?\s+code\b|\bvouchers?\b"
            r"|\b\d+\s?%\s+off\b|[$£€]\s?\d+\s+off\b",
        ),
        (
            "offer",
            "limited time",
            r"\blimited[- ]time\b|\btoday only\b|\bwhile (supplies|stocks?) lasts?\b"
            r"|\blast chance\b|\bends? (soon|today|tonight)\b",
        ),
        ("offer", "free gift", r"\bfree\s+(gift|socks|pair|shoes?|t-?shirt|bag|trial)\b"),
        ("offer", "exclusive", r"\bexclusive(ly)?\b|\blimited[- ]edition\b|\bmembers[- ]only\b"),
        ("guarantee", "money back", r"\bmoney[- ]back\b|\brefunds?\b|\brefundable\b"),
        ("guarantee", "guarantee", r"\bguarantee[sd]?\b"),
        ("guarantee", "warranty", r"\bwarrant(y|ies|ied)\b"),
        ("superlative", "#1", r"#\s?1\b|\bno\.\s?1\b|\bnumber[- ]one\b"),
        ("superlative", "award", r"\baward[- ]winning\b|\bawards?\b"),
        ("superlative", "best-selling", r"\bbest[- ]?sell(ing|er|ers)\b"),
        ("superlative", "best-in-class", r"\bbest[- ]in[- ]class\b"),
        ("superlative", "top-rated", r"\btop[- ](rated|selling|ranked|reviewed)\b"),
        ("superlative", "world's", r"\bworld'?s\b|\bworld[- ]class\b|\bin the world\b"),
        ("superlative", "only", r"\b(the|our)\s+only\b"),
        ("superlative", "unbeatable", r"\bunbeat(able|en)\b|\bunmatched\b|\bunrivall?ed\b"),
        ("fact", "proven", r"\b(clinically|scientifically|lab)[- ](proven|tested)\b|\bproven\b"),
        ("fact", "patented", r"\bpatent(ed)?\b"),
        ("fact", "certified", r"\bcertified\b"),
        ("fact", "endorsed", r"\b(recommended|approved|endorsed|worn|used)\s+by\b"),
        ("fact", "reviews", r"\breviews?\b|\brated\b|\b(\d|five|four)[- ]?stars?\b"),
        ("fact", "waterproof", r"\bwater[- ]?(proof|resistant|repellent)\b"),
        (
            "fact",
            "carbon plate",
            r"\bcarbon[- ]?(fib(er|re)\s+)?plated?\b|\bcarbon[- ]fib(er|re)\b",
        ),
        ("fact", "leather", r"\bleather\b|\bsuede\b"),
        ("fact", "gore-tex", r"\bgore[- ]?tex\b"),
        ("fact", "vegan", r"\bvegan\b"),
        ("fact", "organic", r"\borganic\b"),
        ("fact", "biodegradable", r"\bbiodegradable\b|\bcompostable\b"),
        ("fact", "handmade", r"\bhand[- ]?(made|crafted|stitched)\b"),
        ("fact", "zero", r"\b(zero|net)[- ](waste|drop|emissions?|carbon|zero)\b"),
        ("fact", "carbon neutral", r"\bcarbon[- ](neutral|negative|free)\b"),
        ("fact", "-free", r"\b(plastic|pfc|bpa|toxin|chemical|cruelty)[- ]free\b"),
        ("fact", "made in", r"\bmade in (the )?[a-z]+\b"),
    ]
]
# Words ending in -est that are not superlatives.
NOT_SUPERLATIVE = set(
    "interest forest honest test rest west nest chest request contest harvest modest protest "
    "invest suggest digest quest guest manifest arrest crest pest vest zest attest detest "
    "conquest earnest behest tempest infest lest unrest priest midwest everest bequest divest "
    "congest ingest fest jest molest".split()
)
SYNONYMS = {"latest": "newest", "quickest": "fastest", "speediest": "fastest"}
_SUPERLATIVE = re.compile(
    r"\b(?:(?:the|our|your|its|their)\s+)?(?:(?:personal|very|all[- ]time)\s+)?"
    r"(?P<word>best|worst|(?:most|least)\s+(?!of\b|out\b)[a-z-]+|[a-z]{2,}est)\b",
    re.IGNORECASE,
)
_READER = re.compile(r"\b(your|you|you're|yours)\b[\s\w'-]{0,12}$", re.IGNORECASE)


def _number_claims(text: str) -> list[Claim]:
    out = []
    for m in _NUMBER.finditer(text):
        start = m.start("value")
        if start > 0 and (text[start - 1].isalpha() or text[start - 1] in "#"):
            continue  # part of a product code (V10) or a rank (#1): extracted elsewhere
        value = m.group("value").replace(",", "")
        value = value[:-2] if value.endswith(".0") else value
        unit = (m.group("unit") or "").lower()
        unit = UNITS.get(unit, "")
        currency = CURRENCY.get((m.group("pre") or m.group("cur") or "").lower(), "")
        before = re.search(r"([a-z]+)\s*$", text[:start].lower())
        if not unit and before and before.group(1) in UNITS:  # "mile 26"
            unit = UNITS[before.group(1)]
        claim_text = m.group(0).strip()
        out.append(Claim("number", f"{currency}{value}{unit}", claim_text, value=value))
    return out


def _superlative_claims(text: str) -> list[Claim]:
    out = []
    for m in _SUPERLATIVE.finditer(text):
        word = re.sub(r"\s+", " ", m.group("word").lower())
        if word in NOT_SUPERLATIVE or re.match(r"best[- ](sell|in)", text[m.start("word") :], re.I):
            continue  # not a superlative, or a phrase of PHRASES
        if _READER.search(text[: m.start("word")]) or re.match(r"your\b", m.group(0), re.I):
            continue  # about the reader: "your fastest laps", "at your best"
        if re.match(r"\s*(of|foot|friend|wishes|part)\b", text[m.end() :], re.I):
            continue  # idioms: "best of all", "best foot forward"
        out.append(Claim("superlative", SYNONYMS.get(word, word), m.group("word")))
    return out


def extract_claims(text: str) -> list[Claim]:
    """Every claim in ``text``, in order of kind: numbers, phrases, product codes,
    superlatives."""
    out = _number_claims(text)
    for kind, key, pattern in PHRASES:
        out += [Claim(kind, key, m.group(0)) for m in pattern.finditer(text)]
    out += [
        Claim("offer", f"ends {m['day'].lower()}", m.group(0)) for m in _DEADLINE.finditer(text)
    ]
    out += [Claim("fact", m.group(0).lower(), m.group(0)) for m in _MODEL_CODE.finditer(text)]
    return out + _superlative_claims(text)


@dataclass(frozen=True)
class Facts:
    """What the campaign supports: the claims of its own texts."""

    keys: frozenset[str]
    values: frozenset[str]  # numbers given with a unit or without one

    @classmethod
    def of(cls, texts: Iterable[str]) -> Facts:
        claims = [c for t in texts for c in extract_claims(t)]
        return cls(
            frozenset(c.key for c in claims),
            frozenset(c.value for c in claims if c.kind == "number"),
        )

    @classmethod
    def of_campaign(cls, cfg: CampaignConfig) -> Facts:
        """From the product, brief, brand voice, seed creatives and ``filters.facts``."""
        texts = [cfg.product, cfg.brief, cfg.brand_voice]
        texts += [f"{s.headline}. {s.body}" for s in cfg.seed_creatives]
        return cls.of([*texts, *cfg.filters.facts])

    def supports(self, claim: Claim) -> bool:
        if claim.key in self.keys:
            return True
        # a bare number ("At 18") is supported by the same value with any unit
        return claim.kind == "number" and claim.key == claim.value and claim.value in self.values


def claim_checks(creative: Creative, facts: Facts) -> list[Rejection]:
    """One ``claims`` rejection per unsupported claim of the creative's headline and body."""
    out, seen = [], set()
    for text in (creative.headline, creative.body):
        for claim in extract_claims(text):
            if claim.key not in seen and not facts.supports(claim):
                seen.add(claim.key)
                out.append(Rejection("claims", f"unsupported claim: {claim.text!r}"))
    return out
