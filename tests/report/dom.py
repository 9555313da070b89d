"""Reading a rendered report page: its plots, their labels and colours, its visible text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

ID = re.compile(r"\b[0-9a-f]{16}\b")


class _Text(HTMLParser):
    """Visible text (not attributes, scripts or styles), and the text under each element id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.by_id: dict[str, list[str]] = {}
        self.open: list[tuple[str, str | None]] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        if tag in ("br", "meta", "img", "input", "link", "hr"):
            return
        self.open.append((tag, dict(attrs).get("id")))

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip -= 1
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                break

    def handle_data(self, data):
        if self.skip:
            return
        self.parts.append(data)
        for _, ident in self.open:
            if ident:
                self.by_id.setdefault(ident, []).append(data)


def parse(page: str) -> _Text:
    p = _Text()
    p.feed(page)
    return p


def visible_text(page: str, sep: str = " ") -> str:
    """The page's text as a browser shows it; ``sep`` joins text nodes (a space, so that no
    id can hide by touching a neighbour; "" to read phrases across inline tags)."""
    return " ".join(sep.join(parse(page).parts).split())


def text_of(page: str, ident: str) -> str:
    return " ".join(" ".join(parse(page).by_id.get(ident, [])).split())


def figures(page: str) -> dict[str, str]:
    """Each ``<figure class="plot">`` by its ``data-plot`` name: its inner SVG."""
    found = re.findall(r'<figure class="plot" data-plot="([^"]+)">(.*?)</figure>', page, re.S)
    return dict(found)


def bar_colours(page: str) -> dict[str, set[str]]:
    """Creative id -> the fill colours of its bars in every allocation plot."""
    out: dict[str, set[str]] = {}
    bar = r'<g id="allocation-[a-z0-9-]+?-([0-9a-f]{16})-\d+">\s*<path[^>]*?'
    bars = re.finditer(bar + r'style="fill: ?(#[0-9a-f]{6})', page)
    for m in bars:
        out.setdefault(m.group(1), set()).add(m.group(2))
    return out


def swatches(page: str) -> dict[str, set[str]]:
    """Creative id -> the colours of its swatches in the page's tables."""
    out: dict[str, set[str]] = {}
    for m in re.finditer(
        r'data-creative="([0-9a-f]{16})"><b><span class="sw" style="background:(#[0-9a-f]{6})"',
        page,
    ):
        out.setdefault(m.group(1), set()).add(m.group(2))
    return out


def rendered(page: str) -> tuple[int, int]:
    """(plots drawn at a visible width, plots) as the page's load script counted them."""
    m = re.search(r'data-plots-rendered="(\d+)/(\d+)"', page)
    assert m, "the page's load script did not run"
    return int(m.group(1)), int(m.group(2))
