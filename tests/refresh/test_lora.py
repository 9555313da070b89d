"""LoRA refreshes of the real embedded model on the CPU: training changes the weights and the
outputs, a saved adapter reloads exactly, a revert restores the parent bit for bit, and the
keep/revert decision follows the judge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optimizer.generate.backends import TransformersBackend
from optimizer.refresh.finetune import lora_refresh
from optimizer.refresh.generator import Side, compare_generators, decide
from optimizer.refresh.lora import answer_logprobs, prompt_states, restore, snapshot, train

SYSTEM = {"role": "system", "content": "You write ads."}
TRAIL = [SYSTEM, {"role": "user", "content": "Write an ad for trail shoes."}]
COMFY = [SYSTEM, {"role": "user", "content": "Write an ad for comfy shoes."}]
GRIP = "Headline: Grip that owns the trail\nBody: Lugs bite into mud and rock."
SOFT = "Headline: Comfort from the first step\nBody: Plush cushion for easy miles."
SALE = "Headline: Save on your next pair\nBody: Deal ends Sunday."
SFT = [
    {"messages": [*TRAIL, {"role": "assistant", "content": GRIP}], "weight": 2.0},
    {"messages": [*COMFY, {"role": "assistant", "content": SOFT}], "weight": 1.0},
]
DPO = [
    {
        "prompt": TRAIL,
        "chosen": [{"role": "assistant", "content": GRIP}],
        "rejected": [{"role": "assistant", "content": SALE}],
        "weight": 1.0,
    }
]


@pytest.fixture(scope="module")
def backend():
    return TransformersBackend("smollm2", batch_size=2)


def logits(backend) -> torch.Tensor:
    ids = backend.tokenizer("Headline: Grip that owns", return_tensors="pt")
    with torch.inference_mode():
        return backend.model(**ids).logits[0, -1].clone()


def lora_weights(backend) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in backend.model.named_parameters() if "lora_" in n}


@pytest.mark.slow
def test_answer_logprobs_match_a_full_forward(backend):
    """The split layout (prompt from the cache, answer with gradients) computes the same
    log-probabilities as one forward pass over prompt and answer."""
    tok = backend.tokenizer
    with torch.no_grad():
        total, mean = answer_logprobs(backend.model, tok, "cpu", [TRAIL, COMFY], [GRIP, SALE])
    for i, (prompt, answer) in enumerate([(TRAIL, GRIP), (COMFY, SALE)]):
        text = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        p_ids = tok(text, add_special_tokens=False)["input_ids"]
        ids = tok(text + answer + tok.eos_token, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = backend.model(input_ids=torch.tensor([ids])).logits[0].float()
        logp = torch.log_softmax(out[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
        expected = logp[len(p_ids) - 1 :]
        assert torch.allclose(total[i], expected.sum(), atol=1e-3)
        assert torch.allclose(mean[i], expected.mean(), atol=1e-4)


@pytest.mark.slow
def test_sft_refresh_changes_the_model_reloads_and_reverts_exactly(backend, tmp_path):
    base = snapshot(backend)
    before = logits(backend)
    version = lora_refresh(
        backend, SFT, [], tmp_path / "a", np.random.default_rng(0), "d", "sft", 3, 2, 5e-3, 4
    )
    after = logits(backend)
    assert not torch.allclose(before, after)  # the update changed the model
    assert any(w.abs().sum() > 0 for n, w in lora_weights(backend).items() if "lora_B" in n)
    assert version.version == backend.info.version != base.version
    assert version.version.startswith(base.version + "+lora-")
    assert version.metrics["steps"] == 3 and version.metrics["examples"] == 2
    child = snapshot(backend)

    fresh = TransformersBackend("smollm2", batch_size=2)
    assert fresh.load_adapter(tmp_path / "a") == version.version
    assert torch.allclose(logits(fresh), after, atol=1e-5)

    restore(backend, base)  # revert to the base model: bit for bit, and its version
    assert torch.equal(logits(backend), before) and backend.info.version == base.version
    restore(backend, child)
    assert torch.equal(logits(backend), after) and backend.info.version == version.version

    # a second refresh continues from the child; reverting restores the child exactly
    lora_refresh(
        backend, SFT, [], tmp_path / "b", np.random.default_rng(1), "e", "sft", 1, 2, 5e-3, 4
    )
    assert not torch.equal(logits(backend), after)
    restore(backend, child)
    assert torch.equal(logits(backend), after)
    restore(backend, base)


@pytest.mark.slow
def test_dpo_raises_the_chosen_answer_over_the_rejected(backend):
    base = snapshot(backend)
    tok = backend.tokenizer

    def margin() -> float:
        with torch.no_grad():
            total, _ = answer_logprobs(backend.model, tok, "cpu", [TRAIL, TRAIL], [GRIP, SALE])
        return float(total[0] - total[1])

    backend.trainable(4)
    start, weights = margin(), lora_weights(backend)
    result = train(backend, [], DPO, "dpo", 3, 1, 5e-3, 4, np.random.default_rng(0))
    changed = lora_weights(backend)
    assert any(not torch.equal(weights[n], changed[n]) for n in weights)
    assert margin() > start + 1.0  # the chosen answer gained on the rejected one
    assert result.steps == 3 and len(result.losses) == 3
    with pytest.raises(ValueError, match="no dpo rows"):
        train(backend, SFT, [], "dpo", 1, 1, 1e-3, 4, np.random.default_rng(0))
    restore(backend, base)


def side(mean: float, parsed: int = 4, copies: int = 0) -> Side:
    return Side("v", 4, parsed, copies, mean, {})


@pytest.mark.parametrize(
    "parent,child,min_gain,keep",
    [
        (side(0.010), side(0.012), 0.0, True),
        (side(0.012), side(0.010), 0.0, False),
        (side(0.010), side(0.010), 0.0, False),  # a tie keeps the parent
        (side(0.010), side(0.0105), 0.1, False),  # below the required gain
        (side(0.010), side(0.020, parsed=3, copies=3), 0.0, False),  # only copies
    ],
)
def test_decide(parent, child, min_gain, keep):
    assert decide(parent, child, min_gain)[0] is keep


@pytest.mark.slow
def test_keep_or_revert_follows_the_judge(backend, example_cfg, tmp_path):
    """Parent and child write candidates on the same prompts; a judge that likes long
    headlines and one that likes short ones decide oppositely, and the backend ends up
    serving exactly the version each kept."""
    base = snapshot(backend)
    base_logits = logits(backend)
    lora_refresh(
        backend, SFT, [], tmp_path / "a", np.random.default_rng(0), "d", "sft", 4, 2, 5e-2, 4
    )  # a child far enough from its parent that their candidates differ
    child, child_logits = snapshot(backend), logits(backend)
    seen = {}
    for sign in (1.0, -1.0):

        def judge(segment, creatives, sign=sign):
            return [sign * len(c.headline) for c in creatives]

        result = compare_generators(
            example_cfg,
            backend,
            base,
            child,
            judge,
            np.random.default_rng(3),
            n=1,
            segments=["trail_runners"],
        )
        assert result.parent.version == base.version and result.child.version == child.version
        assert result.parent.requests == result.child.requests == len(example_cfg.prompts)
        seen[sign] = result.keep
        served = child_logits if result.keep else base_logits
        assert torch.equal(logits(backend), served)
        assert backend.info.version == (child.version if result.keep else base.version)
        restore(backend, child)
    assert seen[1.0] != seen[-1.0]
    restore(backend, base)


def test_prompt_states_run_once_then_selected_give_the_same_logprobs(backend):
    """A refresh runs its prompts once and selects rows of their states at every step: the
    same log-probabilities as running the step's prompts afresh."""
    tok = backend.tokenizer
    states = prompt_states(backend.model, tok, "cpu", [TRAIL, COMFY, TRAIL])
    with torch.no_grad():
        fresh, _ = answer_logprobs(backend.model, tok, "cpu", [COMFY, TRAIL], [SOFT, SALE])
        cached, _ = answer_logprobs(
            backend.model, tok, "cpu", [COMFY, TRAIL], [SOFT, SALE], states.select([1, 2])
        )
    assert torch.allclose(fresh, cached, atol=1e-3)
    assert not torch.allclose(cached[0], cached[1], atol=1e-1)  # two different answers
