"""Fine-tuning data from the logs, and a LoRA refresh of the generator.

Supervised examples: each segment's winning creatives with the prompt that produced them,
as chat messages. Preference pairs: a winner and a loser of the same segment, only where the
propensity-corrected intervals do not overlap. Both are written as JSONL in the formats TRL
reads (``messages``; ``prompt``/``chosen``/``rejected``). The refresh trains a LoRA adapter
(peft) on the supervised examples for a few steps and registers a new generator version.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.records import Creative
from optimizer.refresh.assess import Assessment
from optimizer.refresh.prompts import PromptArm


@dataclass(frozen=True)
class FinetuneData:
    """The fine-tuning files a round wrote: supervised examples and preference pairs."""

    sft: int
    preferences: int
    folder: str


@dataclass(frozen=True)
class GeneratorRefresh:
    """What a round's generator refresh did: its data, and the new version when the data
    was enough to train on."""

    data: FinetuneData
    data_hash: str
    version: GeneratorVersion | None


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


def answer(c: Creative) -> str:
    return f"Headline: {c.headline}\nBody: {c.body}"


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


def tensors(backend, rows: Sequence[dict]):
    """Token ids, attention mask and labels (the answer's tokens only; -100 elsewhere) of
    chat examples, left-padded to one width, on the backend's device."""
    import torch

    tok = backend.tokenizer
    ids, labels = [], []
    for r in rows:
        prompt = tok.apply_chat_template(
            r["messages"][:-1], tokenize=False, add_generation_prompt=True
        )
        full = prompt + r["messages"][-1]["content"] + tok.eos_token
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        f_ids = tok(full, add_special_tokens=False)["input_ids"]
        ids.append(f_ids)
        labels.append([-100] * len(p_ids) + f_ids[len(p_ids) :])
    width = max(len(x) for x in ids)
    pad = tok.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids])
    label_t = torch.tensor([[-100] * (width - len(x)) + x for x in labels])
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids])
    return input_ids.to(backend.device), mask.to(backend.device), label_t.to(backend.device)


def lora_refresh(
    backend,
    sft: Sequence[dict],
    out_dir: Path,
    steps: int,
    batch_size: int,
    learning_rate: float,
    rank: int,
    rng: np.random.Generator,
    data_hash: str,
) -> GeneratorVersion:
    """Train the backend's LoRA adapter (created on first use) on ``sft`` for ``steps``
    steps, save it, and switch the backend to the new version. ``rng`` seeds torch (the
    adapter's initial weights) and orders the examples."""
    import torch

    torch.manual_seed(int(rng.integers(2**31 - 1)))
    model = backend.trainable(rank)
    order = [int(i) for i in rng.permutation(len(sft))]
    chunks = [
        [sft[order[(s * batch_size + j) % len(sft)]] for j in range(batch_size)]
        for s in range(steps)
    ]
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    model.train()
    losses = []
    t0 = time.perf_counter()
    for rows in chunks:
        input_ids, mask, labels = tensors(backend, rows)
        out = model(input_ids=input_ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        optim.step()
        optim.zero_grad()
        losses.append(float(out.loss.detach()))
    seconds = time.perf_counter() - t0
    model.eval()
    version = backend.save_adapter(out_dir)
    return GeneratorVersion(
        version=version,
        base=backend.base_info.version,
        adapter=str(out_dir),
        data_hash=data_hash,
        metrics={
            "steps": steps,
            "batch_size": batch_size,
            "loss_first": round(losses[0], 4),
            "loss_last": round(losses[-1], 4),
            "seconds_per_step": round(seconds / steps, 2),
            "examples": len(sft),
        },
    )


def refresh_generator(
    cfg: CampaignConfig,
    backend,  # optimizer.generate.backends.TransformersBackend
    prompts: Sequence[PromptArm],
    creatives: Mapping[str, Creative],
    assessments: dict[str, list[Assessment]],
    folder: Path,
    rng: np.random.Generator,
) -> GeneratorRefresh:
    """Write the round's fine-tuning data to ``folder`` and, with ``refresh.finetune``'s
    ``min_examples`` supervised examples, train a LoRA adapter into ``folder/adapter``.
    Each example's prompt is rendered from the prompt that wrote the creative, with few-shot
    examples drawn from ``rng``."""
    from optimizer.config import PromptVariant
    from optimizer.generate.prompts import pick_examples, render

    ft = cfg.refresh.finetune
    by_id = {p.id: p for p in prompts}

    def messages(c: Creative) -> list[dict] | None:
        arm = by_id.get(c.prompt_id or "") or (prompts[0] if prompts else None)
        if arm is None or c.segment is None and not cfg.segments:
            return None
        segment = c.segment or cfg.segments[0].name
        variant = PromptVariant(id=arm.id, template=arm.template, system=arm.system)
        examples = pick_examples(cfg, segment, cfg.generation.examples, rng)
        req = render(cfg, variant, segment, examples)
        return [{"role": "system", "content": req.system}, {"role": "user", "content": req.user}]

    sft, prefs = build_examples(assessments, dict(creatives), messages)
    data_hash = write_jsonl(sft, folder / "sft.jsonl")
    write_jsonl(prefs, folder / "preferences.jsonl")
    data = FinetuneData(len(sft), len(prefs), str(folder))
    if len(sft) < ft.min_examples:
        return GeneratorRefresh(data, data_hash, None)
    version = lora_refresh(
        backend,
        sft,
        folder / "adapter",
        ft.steps,
        ft.batch_size,
        ft.learning_rate,
        ft.rank,
        rng,
        data_hash,
    )
    return GeneratorRefresh(data, data_hash, version)
