"""Creatives written by hand, from a text file or a CSV, for ``screen``."""

from __future__ import annotations

import csv
from pathlib import Path

from optimizer.config import CampaignConfig
from optimizer.errors import InputError
from optimizer.records import Creative


def read_creatives(path: str | Path, cfg: CampaignConfig) -> list[Creative]:
    """A CSV with ``headline`` (and optional ``body``, ``cta``, ``segment``) columns, or a
    text file with one creative a line: ``headline`` or ``headline | body``. Blank lines
    and lines starting with ``#`` are skipped; a missing call to action is the campaign's
    first."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it as UTF-8 text: {exc}") from None
    default_cta = cfg.calls_to_action[0]
    out: list[Creative] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if "headline" not in (reader.fieldnames or []):
            raise InputError(
                f"{path}: line 1: no 'headline' column; the header needs "
                "headline and may add body, cta, segment"
            )
        segments = {s.name for s in cfg.segments}
        for row in reader:
            line = reader.line_num
            headline = (row.get("headline") or "").strip()
            if not headline:
                raise InputError(f"{path}: line {line}: empty headline; fill it or remove the row")
            segment = (row.get("segment") or "").strip() or None
            if segment is not None and segment not in segments:
                raise InputError(
                    f"{path}: line {line}: unknown segment {segment!r}; valid: "
                    + ", ".join(sorted(segments))
                )
            cta = (row.get("cta") or "").strip() or default_cta
            out.append(
                Creative.from_text(
                    cfg.name,
                    headline,
                    (row.get("body") or "").strip(),
                    cta,
                    segment=segment,
                    source="manual",
                    lineage={"file": str(path), "line": line},
                )
            )
    else:
        for line, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            headline, _, body = raw.partition("|")
            if not headline.strip():
                raise InputError(
                    f"{path}: line {line}: empty headline; write 'headline' or 'headline | body'"
                )
            out.append(
                Creative.from_text(
                    cfg.name,
                    headline.strip(),
                    body.strip(),
                    default_cta,
                    source="manual",
                    lineage={"file": str(path), "line": line},
                )
            )
    if not out:
        raise InputError(f"{path}: no creatives in it")
    return out
