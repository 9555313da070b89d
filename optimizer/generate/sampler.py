"""Batched sampling from a local causal LM: shared prompt prefixes, per-row stops, a forced
second line.

Why not ``model.generate``: profiled on the example campaign (12 answers, SmolLM2-135M, CPU),
most of the time went to the prompt (~220 tokens a row, of which ~150 are the same for every
row of a segment and prompt variant: only the few-shot examples differ), to rows that had
stopped but stayed in the batch until the last one finished, to a second full call for the
answers that stopped after their headline, and to ``stop_strings`` (a scan of the vocabulary
per call). Here:

1. Rows whose prompts share a long token prefix form a group; each group's prefix is run once
   and its key/value cache copied to the group's rows, then each row runs its own suffix.
2. Top-p sampling with one ``torch.Generator`` per row, seeded with ``seed + row index``, so
   a row's answer does not depend on the rows batched with it (as the OpenAI backend sends
   ``seed + i``).
3. A finished row leaves the batch (its cache rows are dropped). A row finishes at a stop
   string or the end-of-turn token; in two-line mode (``Sampling.follow``, e.g. ``"Body:"``)
   the end of the first line is followed by the forced text and the row finishes at the end
   of that second line, so no follow-up call is needed; a first line past its character
   limit starts the row again (its written tokens are masked out, see ``forms.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

from optimizer.generate.forms import REWIND, FreeText, Row, TwoLines, Vocabulary

# A row joins a group when it shares at least this share of its prompt tokens with the group.
GROUP_SHARE = 0.5
TOP_K_FIRST = 256  # top-p looks at the best 256 tokens first, the whole vocabulary if needed


def prefix_groups(prompts: Sequence[Sequence[int]]) -> list[tuple[int, list[int]]]:
    """Groups of rows with a common token prefix: ``(prefix length, rows)`` in row order.

    A row joins the first group whose prefix it shares for at least ``GROUP_SHARE`` of its
    own length (the group's prefix shrinks to what all its rows share); every row keeps at
    least its last token out of the prefix, so each row runs a suffix of one token or more.
    """
    groups: list[tuple[int, list[int]]] = []
    for r, ids in enumerate(prompts):
        for g, (length, rows) in enumerate(groups):
            first = prompts[rows[0]]
            common = 0
            limit = min(length, len(ids) - 1)
            while common < limit and first[common] == ids[common]:
                common += 1
            if common >= GROUP_SHARE * len(ids):
                groups[g] = (common, [*rows, r])
                break
        else:
            groups.append((len(ids) - 1, [r]))
    return groups


class Sampler:
    """Samples continuations of prompts (token ids) from ``model``; see the module doc."""

    def __init__(
        self, model: Any, tokenizer: Any, device: str, vocab: Vocabulary | None = None
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.vocab = vocab or Vocabulary.of(tokenizer, model)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder = base.get_decoder()
        self.head = base.get_output_embeddings()
        params = inspect.signature(self.decoder.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"

    def _forward(self, ids, mask, positions, cache) -> tuple[torch.Tensor, Any]:
        """Hidden state of the last position ``(rows, hidden)`` and the grown cache."""
        out = self.decoder(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **{self.cache_arg: cache},
        )
        cache = getattr(out, "cache", None) or out.past_key_values
        return out.last_hidden_state[:, -1], cache

    def _prefill(self, rows: list[Row]) -> tuple[torch.Tensor, Any, torch.Tensor, torch.Tensor]:
        """Logits for each row's next token, the cache, the attention mask and the next
        position of each row."""
        groups = prefix_groups([r.prompt for r in rows])
        heads = [rows[g[1][0]].prompt[: g[0]] for g in groups]
        ids, mask = self._left_pad(heads)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        _, cache = self._forward(ids, mask, positions, None)
        of_row = [0] * len(rows)
        lengths = [0] * len(rows)
        for g, (length, members) in enumerate(groups):
            for r in members:
                of_row[r], lengths[r] = g, length
        index = torch.tensor(of_row, device=self.device)
        cache.batch_select_indices(index)
        tails = [r.prompt[n:] for r, n in zip(rows, lengths, strict=True)]
        ids, tail_mask = self._left_pad(tails)
        start = torch.tensor(lengths, device=self.device)[:, None]
        positions = (start + tail_mask.cumsum(-1) - 1).clamp(min=0)
        mask = torch.cat([mask[index], tail_mask], dim=1)
        hidden, cache = self._forward(ids, mask, positions, cache)
        return self.head(hidden), cache, mask, positions[:, -1] + 1

    def _left_pad(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor([[pad] * (width - len(s)) + list(s) for s in seqs])
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs])
        return ids.to(self.device), mask.to(self.device)

    def sample(
        self,
        prompts: Sequence[Sequence[int]],
        sampling: Any,  # optimizer.generate.backends.Sampling
        seed: int,
        first_index: int = 0,
    ) -> list[list[int]]:
        """The generated token ids of each prompt (without the stopping token); prompt ``i``
        samples with a generator seeded ``seed + first_index + i``."""
        rows = [
            Row(list(p), torch.Generator().manual_seed(seed + first_index + i))
            for i, p in enumerate(prompts)
        ]
        form = (TwoLines if sampling.follow else FreeText)(self.vocab, self.tokenizer, sampling)
        logits, cache, mask, position = self._prefill(rows)
        start = (logits, mask.shape[1], position.clone())  # where a rewound row starts again
        live = list(range(len(rows)))
        while live:  # each row ends within max_new_tokens steps of its last start
            chosen = self._draw(form, logits, [rows[i] for i in live], sampling)
            inputs, keep = [], []
            for slot, i in enumerate(live):
                token = form.step(rows[i], int(chosen[slot]))
                if token == REWIND:  # the row starts its answer again from its prompt
                    mask[slot, start[1] :] = 0
                    position[slot] = start[2][i]
                    again = self._draw(form, start[0][i : i + 1], [rows[i]], sampling)
                    token = form.step(rows[i], int(again[0]))
                if token not in (None, REWIND) and len(rows[i].out) < sampling.max_new_tokens:
                    inputs.append(token)
                    keep.append(slot)
            if not keep:
                break
            if len(keep) < len(live):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                mask, position = mask[index], position[index]
                live = [live[s] for s in keep]
            mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=1)
            ids = torch.tensor(inputs, device=self.device)[:, None]
            hidden, cache = self._forward(ids, mask, position[:, None], cache)
            logits = self.head(hidden)
            position = position + 1
        return [r.out for r in rows]

    @staticmethod
    def _draw(form, logits: torch.Tensor, rows: Sequence[Row], sampling: Any) -> torch.Tensor:
        return next_tokens(form.shape(logits, rows), sampling, [r.generator for r in rows])


def next_tokens(
    logits: torch.Tensor, sampling: Any, generators: Sequence[torch.Generator]
) -> torch.Tensor:
    """One token per row, shape ``(rows,)``: greedy at temperature 0, else top-p sampling
    (the smallest set of most likely tokens whose probability reaches ``top_p``) with one
    uniform draw per row from its own generator."""
    if sampling.temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    u = torch.stack([torch.rand((), generator=g) for g in generators]).to(logits.device)
    out = torch.empty(len(generators), dtype=torch.long, device=logits.device)
    rows = torch.arange(len(generators), device=logits.device)
    for k in (TOP_K_FIRST, 16 * TOP_K_FIRST, probs.shape[-1]):
        # a row whose best k tokens hold less than top_p needs a wider look (rare, costly)
        top, order = probs[rows].topk(min(k, probs.shape[-1]), dim=-1)
        done = (top.sum(-1) >= sampling.top_p) | (k >= probs.shape[-1])
        if bool(done.any()):
            out[rows[done]] = nucleus(top[done], order[done], u[rows[done]], sampling.top_p)
        rows = rows[~done]
        if len(rows) == 0:
            break
    return out


def nucleus(top: torch.Tensor, order: torch.Tensor, u: torch.Tensor, top_p: float) -> torch.Tensor:
    """Draws from probabilities ``top`` sorted in decreasing order (token ids ``order``),
    cut to the nucleus and renormalised, with uniform numbers ``u`` (one per row)."""
    before = top.cumsum(-1) - top
    top = torch.where(before < top_p, top, torch.zeros_like(top))
    cumulative = top.cumsum(-1)
    pick = torch.searchsorted(cumulative, (u * cumulative[:, -1])[:, None].contiguous(), right=True)
    return order.gather(-1, pick.clamp(max=top.shape[-1] - 1)).squeeze(-1)
