"""An ad-policy classifier on sentence embeddings, trained on the labelled set we ship.

``data/policy_labels.csv`` holds violating and compliant ad texts across the categories of
``checks.BUILT_IN_RULES`` and a few more (insults, misleading, prohibited products). A
logistic regression on the embeddings gives the probability that a text violates ad policy;
it catches paraphrases the rules miss. Trained in a second or two on first use.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.filter.embed import Embedder

LABELS = Path(__file__).with_name("data") / "policy_labels.csv"
_DEFAULT: dict[int, PolicyClassifier] = {}


def load_labels(path: Path = LABELS) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, labels (1 = violating), categories."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    texts = [r["text"] for r in rows]
    labels = np.array([1 if r["label"] == "violating" else 0 for r in rows])
    return texts, labels, [r["category"] for r in rows]


def split(n: int, test_share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    cut = int(round(n * (1 - test_share)))
    return order[:cut], order[cut:]


@dataclass
class PolicyClassifier:
    embedder: Embedder
    model: object  # sklearn LogisticRegression

    @classmethod
    def train(cls, embedder: Embedder, texts: list[str], labels: np.ndarray) -> PolicyClassifier:
        from sklearn.linear_model import LogisticRegression

        x = embedder.encode(texts)
        model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000)
        model.fit(x, labels)
        return cls(embedder, model)

    @classmethod
    def default(cls, embedder: Embedder) -> PolicyClassifier:
        """Trained on the whole shipped set; once per embedder and process."""
        key = id(embedder)
        if key not in _DEFAULT:
            texts, labels, _ = load_labels()
            _DEFAULT[key] = cls.train(embedder, texts, labels)
        return _DEFAULT[key]

    def scores(self, texts: list[str]) -> np.ndarray:
        """P(violating) per text, shape ``(n,)``."""
        if not texts:
            return np.zeros(0)
        return self.model.predict_proba(self.embedder.encode(texts))[:, 1]  # type: ignore[attr-defined]


def evaluate_heldout(
    embedder: Embedder, test_share: float = 0.25, seed: int = 0, threshold: float = 0.5
) -> dict[str, float]:
    """Precision and recall of the classifier on a held-out split of the labelled set."""
    texts, labels, _ = load_labels()
    train, test = split(len(texts), test_share, np.random.default_rng(seed))
    clf = PolicyClassifier.train(embedder, [texts[i] for i in train], labels[train])
    predicted = clf.scores([texts[i] for i in test]) >= threshold
    truth = labels[test] == 1
    tp = int((predicted & truth).sum())
    precision = tp / max(int(predicted.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    return {
        "precision": precision,
        "recall": recall,
        "test_size": len(test),
        "train_size": len(train),
    }
