"""The scorer's text features: batched, padded and threaded, the same as one text at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optimizer.filter.embed import Embedder
from optimizer.scorer.features import _forward, layer_embeddings

TEXTS = [
    "You won't believe what this dog did next",
    "Why?",
    "13 things nobody tells you about moving to a new city, and what to do about them",
    "A teacher's note to her students",
    "This is how we stop it: one vote at a time, in every town, before the deadline",
    "Read this",
    "She asked a simple question. The answer changed everything for her family.",
] * 5  # several batches of different widths


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.shared()


def test_batches_give_what_each_text_gives_alone(embedder):
    """Padding, sorting by length and the worker threads change nothing but float noise."""
    texts = [f"{t} ({i})" for i, t in enumerate(TEXTS)]
    together = _forward(embedder, texts, batch=4)
    alone = np.vstack([_forward(embedder, [t]) for t in texts])
    assert together.shape == (len(texts), 2 * embedder.dim)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_the_last_layer_is_the_models_sentence_embedding(embedder):
    """Mean-pooled, normalised last layer = sentence-transformers' own encoding; the middle
    layer is another unit vector."""
    vectors = layer_embeddings(embedder, TEXTS)
    d = embedder.dim
    np.testing.assert_allclose(vectors[:, d:], embedder.encode(TEXTS), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors[:, :d], axis=1), 1.0, atol=1e-5)
    assert np.abs(vectors[:, :d] - vectors[:, d:]).max() > 0.1


def test_torch_keeps_its_thread_count(embedder):
    before = torch.get_num_threads()
    _forward(embedder, ["one more headline", "and another"])
    assert torch.get_num_threads() == before


def test_no_text_is_no_rows(embedder):
    assert _forward(embedder, []).shape == (0, 2 * embedder.dim)
