"""Text features of a creative for the scorer.

Three blocks, chosen by 5-fold cross-validation by test on the Upworthy headline tests
(Matias et al., *Scientific Data* 8, 195, 2021; numbers in ``benchmarks/scorer.py`` and the
README): the mean-pooled hidden states of all-MiniLM-L6-v2's middle and last layers (the last
is the usual sentence embedding; the middle one added about 0.006 of pairwise accuracy on
significant pairs, for no extra compute: both come from one forward pass), and a small block
of style counts (length, numbers, question marks, "you", "this", pronouns ...; about +0.02).
The call to action is one more one-hot feature when a campaign's creatives use several.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from optimizer.filter.embed import Embedder

Text = tuple[str, str, str]  # headline, body, call to action

STYLE = (
    "characters",
    "words",
    "has a number",
    "starts with a number",
    "question mark",
    "exclamation mark",
    "you",
    "this/these",
    "quotes",
    "colon",
    "capital share",
    "first person",
    "third person",
)
_YOU = re.compile(r"\byou(r|'re|rself)?\b", re.I)
_THIS = re.compile(r"\b(this|these)\b", re.I)
_QUOTE = re.compile("['\"\u201c\u201d]")
_FIRST = re.compile(r"\b(I|my|me)\b")
_THIRD = re.compile(r"\b(he|she|his|her)\b", re.I)
_CACHE: dict[tuple[str, str], np.ndarray] = {}


def as_texts(texts: Sequence[str | Text]) -> list[Text]:
    """(headline, body, cta) triples from triples or bare headlines."""
    return [(t, "", "") if isinstance(t, str) else (t[0], t[1], t[2]) for t in texts]


def embedding_text(headline: str, body: str) -> str:
    """What the embedding reads: the headline, then the body when there is one."""
    return f"{headline}. {body}" if body else headline


def style_counts(texts: Sequence[Text]) -> np.ndarray:
    """The :data:`STYLE` counts of each creative's headline and body, shape ``(n, 13)``."""
    rows = []
    for headline, body, _ in texts:
        t = f"{headline} {body}".strip()
        rows.append(
            [
                len(t) / 100.0,
                len(t.split()) / 15.0,
                bool(re.search(r"\d", t)),
                bool(re.match(r"\s*\d", t)),
                "?" in t,
                "!" in t,
                bool(_YOU.search(t)),
                bool(_THIS.search(t)),
                bool(_QUOTE.search(t)),
                ":" in t,
                sum(ch.isupper() for ch in t) / max(1, len(t)),
                bool(_FIRST.search(t)),
                bool(_THIRD.search(t)),
            ]
        )
    return np.array(rows, dtype=float).reshape(len(texts), len(STYLE))


def layer_embeddings(embedder: Embedder, strings: Sequence[str]) -> np.ndarray:
    """Unit-norm mean-pooled hidden states of the middle and the last layer, concatenated,
    shape ``(n, 2 * dim)``; cached per model and text. A model without hidden states to read
    (not a plain transformer) gives its sentence embedding twice."""
    missing = [s for s in dict.fromkeys(strings) if (embedder.model_id, s) not in _CACHE]
    if missing:
        vectors = _forward(embedder, missing)
        _CACHE.update(((embedder.model_id, s), v) for s, v in zip(missing, vectors, strict=True))
    if not strings:
        return np.zeros((0, 2 * embedder.dim))
    return np.stack([_CACHE[(embedder.model_id, s)] for s in strings])


def _forward(embedder: Embedder, strings: list[str], batch: int = 32) -> np.ndarray:
    """Both pooled layers of each string, from one forward pass per batch.

    The strings are tokenised once, sorted by token count and cut into batches of ``batch``
    (about 1% padding on headlines; smaller batches were no slower on one thread). The
    batches run on as many Python threads as torch has intra-op threads, each with one
    intra-op thread: on two cores shared with other processes (load average 3 to 5), two
    intra-op threads spin waiting for each other (300 headlines: 6.2 s wall and CPU
    instead of 2.5 s on one thread), while two batches at once do not wait (torch releases
    the GIL in its kernels). torch's thread count is process-wide: 1 while this runs, then
    restored. ``benchmarks/scorer.py --timing-only`` times it against the previous way.
    """
    module = embedder.model[0]
    model, tokenizer = getattr(module, "auto_model", None), getattr(module, "tokenizer", None)
    if not strings:
        return np.zeros((0, 2 * embedder.dim), dtype=np.float32)
    if model is None or tokenizer is None:
        e = embedder.encode(strings)
        return np.hstack([e, e])
    import torch

    middle = max(1, model.config.num_hidden_layers // 2)
    enc = tokenizer(strings, truncation=True, max_length=128)
    pad = {"input_ids": tokenizer.pad_token_id or 0, "attention_mask": 0}
    pad["token_type_ids"] = getattr(tokenizer, "pad_token_type_id", 0)
    keys = [k for k in pad if k in enc]
    lengths = np.array([len(ids) for ids in enc["input_ids"]])
    order = np.argsort(lengths, kind="stable")
    batches = [order[k : k + batch] for k in range(0, len(strings), batch)]

    def run(idx: np.ndarray) -> np.ndarray:
        width = int(lengths[idx].max())
        inputs = {
            k: torch.tensor([enc[k][i] + [pad[k]] * (width - lengths[i]) for i in idx])
            for k in keys
        }
        real = torch.from_numpy(np.arange(width) < lengths[idx, None])
        with torch.inference_mode():
            hidden = model(**inputs, output_hidden_states=True).hidden_states
            mask = real.unsqueeze(-1).to(hidden[-1].dtype)
            pooled = [(hidden[k] * mask).sum(1) / mask.sum(1) for k in (middle, -1)]
            both = torch.cat([torch.nn.functional.normalize(p, dim=1) for p in pooled], 1)
        return both.float().numpy()

    out = np.zeros((len(strings), 2 * embedder.dim), dtype=np.float32)
    threads = torch.get_num_threads()
    workers = max(1, min(threads, len(batches)))
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            for idx, vectors in zip(batches, pool.map(run, batches), strict=True):
                out[idx] = vectors
    finally:
        torch.set_num_threads(threads)
    return out


class TextFeatures:
    """The scorer's design matrix: ``[middle layer, last layer, style * s, CTA * s]``.

    The style and call-to-action columns are standardised with the training set's mean and
    spread and multiplied by ``style_scale`` (0.1), which gives them a stronger L2 penalty
    than the embedding in the same model (0.1 was best of 0.03 to 0.3 by cross-validation).
    """

    def __init__(
        self,
        embedder: Embedder,
        ctas: Sequence[str] = (),
        mean: np.ndarray | None = None,
        scale: np.ndarray | None = None,
        style_scale: float = 0.1,
    ) -> None:
        self.embedder = embedder
        self.ctas = list(ctas)
        self.mean, self.scale = mean, scale
        self.style_scale = style_scale

    def _style(self, texts: Sequence[Text]) -> np.ndarray:
        cta = np.array([[c == x for x in self.ctas] for _, _, c in texts], dtype=float)
        return np.hstack([style_counts(texts), cta.reshape(len(texts), len(self.ctas))])

    def fit(self, texts: Sequence[Text]) -> TextFeatures:
        """Learn the calls to action (when there are several) and the standardisation."""
        ctas = sorted({c for _, _, c in texts})
        self.ctas = ctas if len(ctas) > 1 else []
        s = self._style(texts)
        self.mean, self.scale = s.mean(0), np.where(s.std(0) > 1e-9, s.std(0), 1.0)
        return self

    def transform(self, texts: Sequence[Text]) -> np.ndarray:
        """Shape ``(n, 2 * dim + 13 + len(ctas))``."""
        if self.mean is None or self.scale is None:
            raise ValueError("the features are not fitted")
        emb = layer_embeddings(self.embedder, [embedding_text(h, b) for h, b, _ in texts])
        style = (self._style(texts) - self.mean) / self.scale * self.style_scale
        return np.hstack([emb, style])
