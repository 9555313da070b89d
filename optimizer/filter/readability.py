"""No gaming the reader: copy must read as copy, not as a list of keywords.

An audience (real or simulated) may reward topic words, so an optimizer can learn to stuff
them. These checks know no topic list; they look at how the text is built, against what
natural ad copy does (the example campaign's seed creatives and ``tests/filter/clean.txt``
pass with room to spare):

- a run of content words with no function word or punctuation between them (natural copy
  joins words with articles, prepositions, pronouns: ``Fast race speed PR racer tempo``
  does not); the campaign's own names (``Stride Aero``) count as one word;
- a word stem used three times or more (``trail, trails, trail-ready``), or a text where
  repeated stems make up a large share of the content words;
- many fragments of one or two words (``Fast. Light. Grippy. Durable.``: a keyword list);
- too few function words in a longer text;
- a string of initials (``A.W.S.V.R.``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from optimizer.filter.verdict import Rejection
from optimizer.records import Creative

FUNCTION_WORDS = frozenset(
    """
    a an the this that these those every each all any some no both either neither other another
    such what which who whom whose whatever whichever
    i me my mine we us our ours you your yours he him his she her hers it its they them their
    theirs myself yourself ourselves themselves itself
    on in at for with from to of by into onto over under through across around up down off out
    about after before between without within per via than like as upon along among against
    during since until till toward towards beyond beneath behind near past
    and or but so yet nor because while if when whenever where wherever once though although
    unless whether then than
    is are was were be been being am do does did done have has had having will would can could
    should may might must shall let
    not never no nothing here there now just too very so how why also only even still ever
    more most less least much many few lot lots
    i'm you're we're they're it's that's there's what's let's don't doesn't didn't won't can't
    isn't aren't wasn't you'll we'll it'll you've we've i've
    """.split()
)

MAX_CONTENT_RUN = 6  # natural copy rarely runs past 4 or 5; 7 in a row reads as keywords
MAX_STEM_REPEATS = 2  # a stem used three times or more is stuffing (the product's own: four)
MAX_SHORT_FRAGMENTS = 3  # fragments of 1-2 words: "Recycled, responsive, ready" has 3
MIN_FUNCTION_SHARE = 0.1  # in a text of MIN_WORDS_FOR_SHARE words or more
MIN_WORDS_FOR_SHARE = 9
MAX_REPEATED_SHARE = 0.4  # of content words, with two or more stems repeated
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")
_BREAK = re.compile(r"[,.!?;:|/+&()\u2013\u2014\u2026]|\s-\s")
_INITIALS = re.compile(r"(?:\b[A-Za-z]\.){4,}")
_SUFFIXES = ("iest", "ies", "ing", "est", "ers", "er", "ed", "es", "ly", "s", "y")


def stem(word: str) -> str:
    """A crude English stem: ``trails``, ``trail-ready`` -> ``trail``; ``racer``,
    ``racing`` -> ``rac``; ``running`` -> ``run``."""
    word = word.lower().replace("’", "'").split("-")[0].split("'")[0]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiousl":
        word = word[:-1]  # runn -> run
    return word.rstrip("e") if len(word) > 3 else word


@dataclass(frozen=True)
class ProductWords:
    """The product's own words: its capitalised name words (``Stride``, ``Aero``: a name is
    one word however many it has) and the stems of its name (``running``, ``shoes``: the
    product may be named once more than other words are repeated)."""

    names: frozenset[str] = frozenset()
    stems: frozenset[str] = frozenset()

    @classmethod
    def of(cls, product: str) -> ProductWords:
        words = _WORD.findall(product)
        return cls(
            frozenset(w.lower() for w in words if w[0].isupper() and len(w) > 1),
            frozenset(stem(w) for w in words),
        )


def _words(fragment: str, names: frozenset[str]) -> list[str]:
    """Lower-cased words of a fragment, consecutive name words joined into one."""
    out: list[str] = []
    for w in _WORD.findall(fragment):
        lw = w.lower()
        if lw in names and out and out[-1].startswith("\x00"):
            continue
        out.append("\x00" + lw if lw in names else lw)
    return out


def readability_checks(
    creative: Creative, product: ProductWords = ProductWords()
) -> list[Rejection]:
    """``readability`` rejections of a creative's headline and body together."""
    names = product.names
    text = f"{creative.headline}. {creative.body}" if creative.body else creative.headline
    fragments = [f for f in _BREAK.split(text) if f.strip()]
    words = [_words(f, names) for f in fragments]
    flat = [w for ws in words for w in ws]
    content = [w for w in flat if w not in FUNCTION_WORDS]
    out: list[Rejection] = []
    run, longest = [], []
    for ws in words:
        run = []
        for w in ws:
            run = [] if w in FUNCTION_WORDS else [*run, w]
            longest = run if len(run) > len(longest) else longest
    if len(longest) > MAX_CONTENT_RUN:
        shown = " ".join(w.lstrip("\x00") for w in longest)
        out.append(
            Rejection(
                "readability",
                f"reads badly: {len(longest)} content words in a row without a function word "
                f"({shown!r})",
                float(len(longest)),
            )
        )
    stems = Counter(stem(w) for w in content if not w.startswith("\x00") and not w.isdigit())
    over = [(n - (s in product.stems), s, n) for s, n in stems.items()]
    _, top, count = max(over, default=(0, "", 0))
    others = [n for s, n in stems.items() if s not in product.stems]  # the product may recur
    repeated = sum(n for n in others if n > 1)
    if count - (top in product.stems) > MAX_STEM_REPEATS:
        out.append(
            Rejection("readability", f"keyword stuffing: {top!r} {count} times", float(count))
        )
    elif sum(n > 1 for n in others) >= 2 and repeated / len(content) > MAX_REPEATED_SHARE:
        share = repeated / len(content)
        out.append(
            Rejection(
                "readability",
                f"keyword stuffing: repeated words are {share:.0%} of the content words",
                share,
            )
        )
    short = sum(1 for ws in words if 0 < len(ws) <= 2)
    if short > MAX_SHORT_FRAGMENTS and short * 2 > len(words):
        out.append(
            Rejection(
                "readability",
                f"keyword stuffing: a list of {short} one- or two-word fragments",
                float(short),
            )
        )
    if len(flat) >= MIN_WORDS_FOR_SHARE:
        share = 1 - len(content) / len(flat)
        if share < MIN_FUNCTION_SHARE:
            out.append(
                Rejection(
                    "readability",
                    f"reads badly: {share:.0%} function words in {len(flat)} words",
                    share,
                )
            )
    if _INITIALS.search(text):
        out.append(Rejection("readability", "reads badly: a string of initials"))
    return out
