"""Classification metrics (scikit-learn underneath), JSON-ready."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, labels: Sequence[str]) -> dict:
    """Top-1/2/3 accuracy, macro-F1, per-class accuracy (recall) and the confusion matrix.

    ``scores``: ``(n, C)`` class scores (logits or probabilities); ``labels``: the C
    class names. Classes absent from ``y_true`` get ``None`` per-class accuracy and are
    left out of macro-F1's average (scikit-learn's ``labels=`` of the present ones).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    n_classes = len(labels)
    all_classes = np.arange(n_classes)
    y_pred = scores.argmax(axis=1)
    out: dict = {}
    ranked = np.argsort(-scores, axis=1, kind="stable")
    for k in (1, 2, 3):
        hit = (ranked[:, :k] == y_true[:, None]).any(axis=1)
        out[f"top{k}"] = float(hit.mean()) if len(y_true) else 0.0
    present = np.unique(y_true)
    out["macro_f1"] = float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
    cm = confusion_matrix(y_true, y_pred, labels=all_classes)
    row = cm.sum(axis=1)
    out["per_class"] = {labels[i]: (float(cm[i, i] / row[i]) if row[i] else None) for i in range(n_classes)}
    out["support"] = {labels[i]: int(row[i]) for i in range(n_classes)}
    out["confusion"] = cm.tolist()
    out["labels"] = list(labels)
    return out


def majority_baseline(train_targets: Sequence[int], test_targets: Sequence[int]) -> tuple[int, float]:
    """The most frequent training class and its top-1 accuracy on the test targets."""
    majority = Counter(int(t) for t in train_targets).most_common(1)[0][0]
    test = np.asarray(test_targets)
    return majority, float(np.mean(test == majority)) if len(test) else 0.0
