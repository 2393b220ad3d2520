"""classify's plot: the row-normalised confusion matrix (``confusion.png``)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from seqkit.engine.plots import pyplot


def confusion_plot(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: str,
                   *, title: str = "confusion (row-normalized)") -> str:
    """Row-normalized confusion matrix with the class names on both axes."""
    plt = pyplot()
    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(labels)
    size = max(5.0, 0.38 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size), dpi=120)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
