"""Training the generator's LoRA adapter: reward-weighted SFT and DPO, and exact snapshots of
an adapter to revert to.

Why a hand-written loop rather than TRL's ``SFTTrainer``/``DPOTrainer`` (measured on this
project's 2-core CPU machine, SmolLM2-135M, batch 4, see ``benchmarks/generator.py``): TRL
back-propagates through the whole sequence, and here ~220 of an example's ~245 tokens are
the prompt. This loop runs the prompt without gradients (the adapter shapes its keys and
values, but the gradient flows only through the answer's own positions) and back-propagates
through the ~26 answer tokens: the same forward model, a fraction of the work. The prompts
are run once per refresh, with the adapter as the refresh starts, and their keys and values
are reused at every step (:class:`PromptStates`): a step then costs the answer's forward and
backward only (16 steps of batch 4: 31 s CPU against 72 s re-running the prompts at every
step, one thread, on a loaded machine). The cached
prompt states lag the adapter by the refresh's own steps; no gradient flowed through them
anyway, and generation reads the prompt with the trained adapter. TRL also has
no per-example weight in its SFT and DPO losses (its ``use_weighting`` is WPO's), and a
refresh needs one: a winner counts by how much it won.

Losses, per batch of rows with weights ``w_i`` (normalised to sum to 1 in the batch):

- SFT: ``sum_i w_i * mean_t -log p(answer_t | prompt, answer_<t)``;
- DPO (Rafailov et al. 2023, sigmoid loss): ``sum_i w_i * -log sigmoid(beta * ((lp_c - ref_c)
  - (lp_r - ref_r)))``, with ``lp`` the summed answer log-probabilities under the adapter
  being trained and ``ref`` those under the adapter it started from (computed once, before
  the first step); with ``sft_weight > 0`` the chosen answer's SFT loss is added (as TRL's
  ``loss_type=["sigmoid", "sft"]``), which keeps a small model writing the format.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Snapshot:
    """A served generator version, restorable exactly: the backend's ``info`` and a copy of
    its LoRA weights (None: the base model, no adapter)."""

    info: Any  # optimizer.generate.model.ModelInfo
    weights: dict | None

    @property
    def version(self) -> str:
        return self.info.version


def snapshot(backend) -> Snapshot:
    """The backend's current version (a copy; later training does not change it)."""
    from peft import PeftModel, get_peft_model_state_dict

    if not isinstance(backend.model, PeftModel):
        return Snapshot(backend.info, None)
    state = get_peft_model_state_dict(backend.model)
    return Snapshot(backend.info, {k: v.detach().clone() for k, v in state.items()})


def restore(backend, snap: Snapshot) -> None:
    """Serve ``snap`` again: its LoRA weights put back bit for bit, and its version string.
    The base model's snapshot zeroes the adapter's ``B`` matrices: the adapter then adds
    exactly zero (``W x + B A x`` with ``B = 0``), and training it again starts as a fresh
    LoRA adapter does (``A`` random, ``B`` zero)."""
    from peft import PeftModel, set_peft_model_state_dict

    if snap.weights is not None:
        set_peft_model_state_dict(backend.model, snap.weights)
    elif isinstance(backend.model, PeftModel):
        for name, p in backend.model.named_parameters():
            if "lora_B" in name:
                p.data.zero_()
    backend.model.eval()
    backend.info = snap.info


def _prompt_ids(tok, messages: Sequence[dict]) -> list[int]:
    prompt = tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    return tok(prompt, add_special_tokens=False)["input_ids"]


def _answer_ids(tok, messages: Sequence[dict], answer: str) -> list[int]:
    """The answer's tokens as they follow its prompt (tokenised together, then split)."""
    prompt = tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    full = tok(prompt + answer + tok.eos_token, add_special_tokens=False)["input_ids"]
    return full[len(_prompt_ids(tok, messages)) :]


@dataclass(frozen=True)
class PromptStates:
    """Prompts run once without gradients, left-padded to one width: every layer's keys and
    values, the mask, and the logits that predict each answer's first token."""

    layers: tuple[tuple[Any, Any], ...]  # per layer (keys, values), rows first
    mask: Any  # (rows, width)
    last: Any  # (rows, 1, vocab)

    def select(self, rows: Sequence[int]) -> PromptStates:
        import torch

        idx = torch.tensor(list(rows), device=self.mask.device)
        return PromptStates(
            tuple((k[idx], v[idx]) for k, v in self.layers), self.mask[idx], self.last[idx]
        )


def prompt_states(model, tok, device: str, prompts: Sequence[Sequence[dict]]) -> PromptStates:
    """Run ``prompts`` (chat messages) through ``model`` once, without gradients."""
    import torch

    ids = [_prompt_ids(tok, p) for p in prompts]
    width = max(len(x) for x in ids)
    pad = tok.pad_token_id or 0
    p_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=device)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
    with torch.no_grad():
        out = model(
            input_ids=p_ids,
            attention_mask=mask,
            position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
            use_cache=True,
            logits_to_keep=1,  # only the last position's: it predicts the answer's first token
        )
    cache = getattr(out, "cache", None) or out.past_key_values
    layers = tuple((layer.keys, layer.values) for layer in cache.layers)
    return PromptStates(layers, mask, out.logits[:, -1:].float())


def answer_logprobs(model, tok, device: str, prompts, answers, states=None) -> Any:
    """Summed and mean log-probabilities of each answer given its prompt, shape ``(rows,)``
    each; the prompts run without gradients, the answers with them (when enabled).

    ``states``: the prompts' :class:`PromptStates` when already run (one row per answer),
    else they are run here. Layout: prompts left-padded, answers right-padded, one attention
    mask over both, so every row's answer starts at the same column and reads its prompt from
    the cache.
    """
    import torch
    from transformers import DynamicCache

    states = states if states is not None else prompt_states(model, tok, device, prompts)
    encoded = [_answer_ids(tok, p, a) for p, a in zip(prompts, answers, strict=True)]
    aw = max(len(a) for a in encoded)
    pad = tok.pad_token_id or 0
    a_ids = torch.tensor([a + [pad] * (aw - len(a)) for a in encoded], device=device)
    a_mask = torch.tensor([[1] * len(a) + [0] * (aw - len(a)) for a in encoded], device=device)
    mask = torch.cat([states.mask, a_mask], dim=1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=a_ids,
        attention_mask=mask,
        position_ids=positions[:, states.mask.shape[1] :],
        use_cache=True,
        **{_cache_arg(model): DynamicCache(ddp_cache_data=states.layers)},
    )
    logits = torch.cat([states.last, out.logits[:, :-1].float()], dim=1)
    logp = torch.log_softmax(logits, dim=-1).gather(-1, a_ids[..., None])[..., 0]
    logp = logp * a_mask
    total = logp.sum(-1)
    return total, total / a_mask.sum(-1)


def _cache_arg(model) -> str:
    """The forward argument that takes a key/value cache: ``cache`` in recent transformers,
    ``past_key_values`` before."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


@dataclass(frozen=True)
class TrainResult:
    steps: int
    losses: tuple[float, ...]
    seconds: float  # wall
    cpu_seconds: float


def _batches(n_rows: int, steps: int, batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Row indices of each step: passes over a fresh permutation each epoch."""
    order: list[int] = []
    while len(order) < steps * batch_size:
        order += [int(i) for i in rng.permutation(n_rows)]
    return [order[s * batch_size : (s + 1) * batch_size] for s in range(steps)]


def _weights(rows: Sequence[dict], idx: Sequence[int]):
    import torch

    w = torch.tensor([float(rows[i].get("weight", 1.0)) for i in idx])
    return w / w.sum()


def train(
    backend,
    sft: Sequence[dict],
    dpo: Sequence[dict],
    method: str,
    steps: int,
    batch_size: int,
    learning_rate: float,
    rank: int,
    rng: np.random.Generator,
    beta: float = 0.1,
    sft_weight: float = 1.0,
) -> TrainResult:
    """Train the backend's adapter (created on first use, else continued) for ``steps``
    steps of ``method`` (``sft``: on the ``sft`` rows; ``dpo``: on the ``dpo`` rows; see the
    module doc). ``rng`` seeds torch (a new adapter's initial weights) and orders the rows.
    The backend serves the trained weights afterwards (its version string changes when the
    adapter is saved)."""
    import torch

    if method not in ("sft", "dpo"):
        raise ValueError(f"unknown method {method!r}; valid: sft, dpo")
    rows = list(sft if method == "sft" else dpo)
    if not rows:
        raise ValueError(f"no {method} rows to train on")
    torch.manual_seed(int(rng.integers(2**31 - 1)))
    model = backend.trainable(rank)
    tok, device = backend.tokenizer, backend.device
    batches = _batches(len(rows), steps, batch_size, rng)
    wall, cpu = time.perf_counter(), time.process_time()
    model.eval()
    key = "messages" if method == "sft" else "prompt"
    prompts = [r[key][:-1] if method == "sft" else r[key] for r in rows]
    states = prompt_states(model, tok, device, prompts)  # once: see the module doc
    ref = None
    if method == "dpo":  # the reference: the adapter as it starts, once per pair
        with torch.no_grad():
            every = list(range(len(rows)))
            chosen, rejected, _ = _dpo_logps(model, tok, device, rows, every, prompts, states)
            ref = (chosen.detach(), rejected.detach())
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    model.train()
    losses = []
    for idx in batches:
        w = _weights(rows, idx).to(device)
        if method == "sft":
            _, mean = answer_logprobs(
                model,
                tok,
                device,
                [prompts[i] for i in idx],
                [rows[i]["messages"][-1]["content"] for i in idx],
                states.select(idx),
            )
            loss = -(w * mean).sum()
        else:
            chosen, rejected, chosen_mean = _dpo_logps(
                model, tok, device, rows, idx, prompts, states
            )
            at = torch.tensor(idx, device=device)
            margin = beta * ((chosen - ref[0][at]) - (rejected - ref[1][at]))
            loss = (w * -torch.nn.functional.logsigmoid(margin)).sum()
            loss = loss - sft_weight * (w * chosen_mean).sum()
        loss.backward()
        optim.step()
        optim.zero_grad()
        losses.append(round(float(loss.detach()), 4))
    model.eval()
    return TrainResult(steps, tuple(losses), time.perf_counter() - wall, time.process_time() - cpu)


def _dpo_logps(model, tok, device, rows, idx, prompts, states: PromptStates):
    """Summed log-probabilities of the chosen and rejected answers of rows ``idx`` and the
    chosen answers' mean, as tensors ``(chosen, rejected, chosen mean)``."""
    ps = [prompts[i] for i in idx]
    answers = [rows[i]["chosen"][-1]["content"] for i in idx]
    answers += [rows[i]["rejected"][-1]["content"] for i in idx]
    total, mean = answer_logprobs(model, tok, device, ps + ps, answers, states.select([*idx, *idx]))
    n = len(idx)
    return total[:n], total[n:], mean[:n]
