"""A LoRA refresh of the real embedded model: a few steps on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optimizer.generate.backends import TransformersBackend
from optimizer.refresh.finetune import lora_refresh

SFT = [
    {
        "messages": [
            {"role": "system", "content": "You write ads."},
            {"role": "user", "content": "Write an ad for trail shoes."},
            {
                "role": "assistant",
                "content": "Headline: Grip that owns the trail\nBody: Lugs bite into mud and rock.",
            },
        ]
    },
    {
        "messages": [
            {"role": "system", "content": "You write ads."},
            {"role": "user", "content": "Write an ad for comfy shoes."},
            {
                "role": "assistant",
                "content": "Headline: Comfort from the first step\n"
                "Body: Plush cushion for easy miles.",
            },
        ]
    },
]


def logits(backend) -> torch.Tensor:
    ids = backend.tokenizer("Headline: Grip that owns", return_tensors="pt")
    with torch.inference_mode():
        return backend.model(**ids).logits[0, -1].clone()


@pytest.mark.slow
def test_lora_refresh_changes_the_model_and_reloads_exactly(tmp_path):
    backend = TransformersBackend("smollm2", batch_size=2)
    base_version = backend.info.version
    before = logits(backend)
    version = lora_refresh(
        backend,
        SFT,
        tmp_path / "adapter",
        steps=3,
        batch_size=2,
        learning_rate=5e-3,
        rank=4,
        rng=np.random.default_rng(0),
        data_hash="d",
    )
    after = logits(backend)
    assert not torch.allclose(before, after)  # the update changed the model
    assert version.version == backend.info.version != base_version
    assert version.version.startswith(base_version + "+lora-")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert version.metrics["steps"] == 3 and version.metrics["examples"] == 2

    fresh = TransformersBackend("smollm2", batch_size=2)
    assert fresh.load_adapter(tmp_path / "adapter") == version.version
    assert torch.allclose(logits(fresh), after, atol=1e-5)
