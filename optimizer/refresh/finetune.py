"""Fine-tuning data from the logs, and a LoRA refresh of the generator that is kept only when
its raw candidates beat its parent's.

A refresh (:func:`refresh_generator`): the segments' winners as supervised examples and their
significant winner/loser pairs as preferences (:mod:`optimizer.refresh.preferences`), each
rendered with the generator's own prompts and written as JSONL in TRL's formats; then the
adapter is trained with reward-weighted SFT or DPO (:mod:`optimizer.refresh.lora`), saved as
a new version, and, with a judge, compared with its parent on the same prompts and seeds
(:mod:`optimizer.refresh.generator`): kept when better, else the parent is restored exactly.
A version earns traffic only through the bandit (its children are credited like any arm's).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.records import Creative
from optimizer.refresh.assess import Assessment
from optimizer.refresh.generator import GeneratorComparison, Judge
from optimizer.refresh.preferences import answer
from optimizer.refresh.prompts import PromptArm

SFT_TOP = 2  # winners per segment that become supervised examples


@dataclass(frozen=True)
class FinetuneData:
    """The fine-tuning files a round wrote: supervised examples and preference pairs."""

    sft: int
    preferences: int
    folder: str


@dataclass(frozen=True)
class GeneratorRefresh:
    """What a round's generator refresh did: its data; the version ``trained`` when the data
    was enough; the ``comparison`` with its parent when a judge was given; ``version``: the
    trained version when it is kept (served from now on), None when none was trained or it
    was reverted."""

    data: FinetuneData
    data_hash: str
    version: GeneratorVersion | None
    trained: GeneratorVersion | None = None
    comparison: GeneratorComparison | None = None


@dataclass(frozen=True)
class GeneratorVersion:
    version: str
    base: str
    adapter: str | None
    data_hash: str | None
    metrics: dict

    def as_dict(self) -> dict:
        return {
            "version": self.version,
            "base": self.base,
            "adapter": self.adapter,
            "data_hash": self.data_hash,
            "metrics": self.metrics,
        }


def build_examples(
    assessments: dict[str, list[Assessment]],
    creatives: dict[str, Creative],
    prompt_messages,  # (creative) -> [system, user] messages or None
    top: int = 2,
) -> tuple[list[dict], list[dict]]:
    sft, prefs = [], []
    for _segment, rows in sorted(assessments.items()):
        ranked = sorted((a for a in rows if a.shown > 0), key=lambda a: -a.ctr)
        for a in ranked[:top]:
            c = creatives.get(a.creative_id)
            messages = prompt_messages(c) if c else None
            if messages:
                sft.append(
                    {
                        "messages": [*messages, {"role": "assistant", "content": answer(c)}],
                        "ctr": round(a.ctr, 6),
                    }
                )
        for win in ranked[:top]:
            for lose in ranked[::-1][:top]:
                cw, cl = creatives.get(win.creative_id), creatives.get(lose.creative_id)
                if win.low > lose.high and cw and cl:
                    messages = prompt_messages(cw)
                    if messages:
                        prefs.append(
                            {
                                "prompt": messages,
                                "chosen": [{"role": "assistant", "content": answer(cw)}],
                                "rejected": [{"role": "assistant", "content": answer(cl)}],
                            }
                        )
    return sft, prefs


def write_jsonl(rows: Sequence[dict], path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    path.write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()


def lora_refresh(
    backend,
    sft: Sequence[dict],
    dpo: Sequence[dict],
    out_dir: Path,
    rng: np.random.Generator,
    data_hash: str,
    method: str = "sft",
    steps: int = 8,
    batch_size: int = 4,
    learning_rate: float = 1e-3,
    rank: int = 8,
    beta: float = 0.1,
) -> GeneratorVersion:
    """Train the backend's LoRA adapter (created on first use, else continued from the served
    one) with ``method`` (``sft`` on ``sft``'s rows, ``dpo`` on ``dpo``'s; see
    :func:`optimizer.refresh.lora.train`), save it to ``out_dir`` and serve it as the new
    version. ``rng`` seeds torch and orders the rows."""
    from optimizer.refresh.lora import train

    result = train(backend, sft, dpo, method, steps, batch_size, learning_rate, rank, rng, beta)
    version = backend.save_adapter(out_dir)
    return GeneratorVersion(
        version=version,
        base=backend.base_info.version,
        adapter=str(out_dir),
        data_hash=data_hash,
        metrics={
            "method": method,
            "steps": steps,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "rank": rank,
            "loss_first": result.losses[0],
            "loss_last": result.losses[-1],
            "seconds": round(result.seconds, 2),
            "cpu_seconds": round(result.cpu_seconds, 2),
            "examples": len(sft),
            "pairs": len(dpo),
        },
    )


def refresh_generator(
    cfg: CampaignConfig,
    backend,  # optimizer.generate.backends.TransformersBackend
    prompts: Sequence[PromptArm],
    creatives: Mapping[str, Creative],
    assessments: Mapping[str, Sequence[Assessment]],
    folder: Path,
    rng: np.random.Generator,
    judge: Judge | None = None,
    known: Collection[tuple[str, str]] = (),
    method: str = "sft",
    compare_n: int = 2,
    min_gain: float = 0.0,
) -> GeneratorRefresh:
    """Write the round's fine-tuning data to ``folder`` (``sft.jsonl``, ``preferences.jsonl``)
    and, with ``refresh.finetune.min_examples`` rows for ``method``, train a new version into
    ``folder/adapter`` (``refresh.finetune``'s steps, batch size, learning rate and rank).

    With a ``judge`` (``(segment, creatives) -> CTR each``), parent and child write
    ``compare_n`` raw candidates per segment and prompt on the same prompts and seeds; the
    child is kept only if its new candidates (not repeating ``known``: ``text_key``s of the
    campaign's creatives) score higher, else the parent is served again exactly and
    ``version`` is None. Without a judge the child is kept. Prompts are rendered and rows
    ordered with ``rng``; the comparison draws its seeds from it too.
    """
    from optimizer.refresh.generator import compare_generators
    from optimizer.refresh.lora import snapshot
    from optimizer.refresh.preferences import (
        dpo_rows,
        generation_prompts,
        preference_pairs,
        sft_rows,
        winners,
    )

    ft = cfg.refresh.finetune
    prompt_of = generation_prompts(cfg, prompts, rng)
    sft = sft_rows(winners(assessments, top=SFT_TOP), creatives, prompt_of)
    dpo = dpo_rows(preference_pairs(assessments), creatives, prompt_of)
    data_hash = hashlib.sha256(
        (
            write_jsonl(sft, folder / "sft.jsonl") + write_jsonl(dpo, folder / "preferences.jsonl")
        ).encode()
    ).hexdigest()
    data = FinetuneData(len(sft), len(dpo), str(folder))
    if len(sft if method == "sft" else dpo) < ft.min_examples:
        return GeneratorRefresh(data, data_hash, None)
    parent = snapshot(backend)
    trained = lora_refresh(
        backend,
        sft,
        dpo,
        folder / "adapter",
        rng,
        data_hash,
        method,
        ft.steps,
        ft.batch_size,
        ft.learning_rate,
        ft.rank,
    )
    if judge is None:
        return GeneratorRefresh(data, data_hash, trained, trained)
    comparison = compare_generators(
        cfg,
        backend,
        parent,
        snapshot(backend),
        judge,
        rng,
        compare_n,
        known=known,
        min_gain=min_gain,
    )
    kept = trained if comparison.keep else None
    return GeneratorRefresh(data, data_hash, kept, trained, comparison)
