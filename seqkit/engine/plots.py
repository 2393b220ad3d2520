"""The engine's plot of a run (``loss.png``: train and test loss per epoch), headless matplotlib."""
from __future__ import annotations

from typing import Sequence


def pyplot():
    """matplotlib's pyplot on the headless Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def loss_plot(history: Sequence[dict], path: str, *, title: str = "loss per epoch") -> str:
    """Train and test loss per epoch."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(epochs, [h.get("train_loss") for h in history], "o-", label="train")
    ax.plot(epochs, [h.get("test_loss") for h in history], "s-", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
