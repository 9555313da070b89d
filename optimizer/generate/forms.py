"""What a sampled answer looks like: free text, or two lines (a headline, then a body).

A form shapes the next-token logits of each row and applies the sampled token to the row
(the token to feed next, ``REWIND``, or None when the row is finished); ``sampler.Sampler``
runs the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

REWIND = -1  # a step's answer: forget what the row wrote and sample it again from its prompt


@dataclass
class Row:
    """One answer being sampled."""

    prompt: list[int]
    generator: torch.Generator
    out: list[int] = field(default_factory=list)
    forced: list[int] = field(default_factory=list)  # tokens fed next, whatever is sampled
    line: int = 0  # two lines: 0 while writing the first line, 1 after it
    line_tokens: int = 0  # sampled on the current line
    line_chars: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Vocabulary:
    """What the loop needs to know about a tokenizer's tokens."""

    ends: torch.Tensor  # bool, shape (vocab,): a line break or an end-of-sequence token
    chars: torch.Tensor  # int, shape (vocab,): characters of the token's text
    newline_id: int
    eos: frozenset[int]

    @classmethod
    def of(cls, tokenizer: Any, model: Any) -> Vocabulary:
        size = max(len(tokenizer), int(model.get_output_embeddings().weight.shape[0]))
        pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        newline = torch.zeros(size, dtype=torch.bool)
        newline[: len(pieces)] = torch.tensor(["\n" in p for p in pieces])
        chars = torch.zeros(size, dtype=torch.long)
        chars[: len(pieces)] = torch.tensor([len(p) for p in pieces])
        eos = {tokenizer.eos_token_id}
        configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos |= set(configured) if isinstance(configured, list) else {configured}
        eos = {e for e in eos if e is not None}
        ends = newline.clone()
        ends[list(eos)] = True
        (newline_id,) = tokenizer.encode("\n", add_special_tokens=False)[-1:]
        return cls(ends, chars, newline_id, frozenset(eos))


class FreeText:
    """Free text up to a stop string or the end-of-sequence token."""

    def __init__(self, vocab: Vocabulary, tokenizer: Any, sampling: Any) -> None:
        self.vocab, self.tokenizer, self.stop = vocab, tokenizer, sampling.stop

    def shape(self, logits: torch.Tensor, rows: Sequence[Row]) -> torch.Tensor:
        return logits

    def step(self, row: Row, token: int) -> int | None:
        if token in self.vocab.eos:
            return None
        row.out.append(token)
        if self.stop and any(s in self.tokenizer.decode(row.out[-12:]) for s in self.stop):
            return None
        return token


class TwoLines:
    """Two-line answers: a first line, then the forced text (``Sampling.follow``, e.g.
    ``Body:``) and a second line.

    The first line ends at a line break or the end-of-sequence token, then the forced text
    follows; the row finishes at the end of the second line, or once that line is past its
    character limit (the parser keeps the whole sentences that fit). A first line past its
    limit is ended there when its first clause fits (the parser cuts at the clause), else the
    row starts again from its prompt, up to ``RETRIES`` times: sampling the headline again
    until it fits is sampling from the model given that it fits, where cutting it short would
    leave half a phrase. No line may be empty.
    """

    RETRIES = 3

    def __init__(self, vocab: Vocabulary, tokenizer: Any, sampling: Any) -> None:
        self.vocab, self.tokenizer = vocab, tokenizer
        forced = tokenizer.encode(sampling.follow, add_special_tokens=False)
        self.follow = [vocab.newline_id, *forced]
        self.limits = (*sampling.line_chars, 1 << 30, 1 << 30)
        self.first_line_tokens = max(sampling.max_new_tokens // 2, 1)

    def shape(self, logits: torch.Tensor, rows: Sequence[Row]) -> torch.Tensor:
        """An empty line cannot end: line breaks get probability zero there."""
        empty = torch.tensor([r.line_tokens == 0 and not r.forced for r in rows])
        mask = empty[:, None] & self.vocab.ends[None, : logits.shape[-1]]
        return logits.masked_fill(mask.to(logits.device), float("-inf"))

    def step(self, row: Row, token: int) -> int | None:
        if row.forced:
            token = row.forced.pop(0)
        elif self.vocab.ends[token]:
            if row.line == 1:
                return None
            self._second_line(row)
            token = row.forced.pop(0)
        else:
            return self._write(row, token)
        row.out.append(token)
        return token

    def _write(self, row: Row, token: int) -> int | None:
        row.line_tokens += 1
        row.line_chars += int(self.vocab.chars[token])
        row.out.append(token)
        over = row.line_chars > self.limits[row.line] + 1  # + the space after the label
        if row.line == 1:
            return None if over else token
        if over and not self._first_clause_fits(row) and row.retries < self.RETRIES:
            row.retries += 1
            row.out, row.line_tokens, row.line_chars = [], 0, 0
            return REWIND
        if over or row.line_tokens >= self.first_line_tokens:
            self._second_line(row)  # a first line left too long: the format filter says so
        return token

    def _first_clause_fits(self, row: Row) -> bool:
        from optimizer.generate.prompts import fit_headline

        text = self.tokenizer.decode(row.out).strip()
        return len(fit_headline(text, self.limits[0])) <= self.limits[0]

    def _second_line(self, row: Row) -> None:
        row.line, row.line_tokens, row.line_chars, row.forced = 1, 0, 0, list(self.follow)
