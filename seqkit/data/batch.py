"""The batch that flows from a collator to a model, and the collator base class.

A batch holds symbol *indices*; turning them into one-hot rows or embeddings is the
model's first layer (e.g. classify's :mod:`seqkit_plugins.classify.model`). Targets stay
in the caller's order: packing sorts sequences internally, but cells return ``h_n`` in the caller's order
(``PackedSequence.unsorted_indices``), so logits computed from it line up with
``targets`` without any reordering by the user.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import DataError

if TYPE_CHECKING:  # torch is imported where a batch is made, not with this module: a plugin's
    import torch  # hook module can subclass Collator without loading torch
    from torch.nn.utils.rnn import PackedSequence


@dataclass
class Batch:
    """One batch.

    - ``inputs``: a ``PackedSequence`` whose ``data`` is int64 symbol indices ``[N]``
      (or float rows ``[N, I]``), or a padded ``(T, B)`` int64 tensor (``(T, B, I)``
      for dense rows); padding uses the encoder's ``pad_index``.
    - ``lengths``: CPU int64 tensor ``(B,)`` in the caller's order.
    - ``targets``: what the task predicts, in the caller's order (class indices for
      classification), or ``None``.
    """

    inputs: PackedSequence | torch.Tensor
    lengths: torch.Tensor
    targets: Any = None

    @property
    def size(self) -> int:
        return int(self.lengths.numel())

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())

    @property
    def packed(self) -> bool:
        from torch.nn.utils.rnn import PackedSequence

        return isinstance(self.inputs, PackedSequence)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        """Move inputs and targets to ``device``; ``lengths`` (and ``batch_sizes``) stay on the CPU."""
        return replace(self, inputs=_to(self.inputs, device, non_blocking),
                       targets=_to(self.targets, device, non_blocking))

    def pin_memory(self) -> "Batch":
        """Called by ``DataLoader(pin_memory=True)``."""
        return replace(self, inputs=_pin(self.inputs), targets=_pin(self.targets))


def _to(x: Any, device, non_blocking: bool) -> Any:
    import torch
    from torch.nn.utils.rnn import PackedSequence

    if isinstance(x, (PackedSequence, torch.Tensor)):
        return x.to(device, non_blocking=non_blocking)
    return x


def _pin(x: Any) -> Any:
    import torch
    from torch.nn.utils.rnn import PackedSequence

    if isinstance(x, PackedSequence):
        return PackedSequence(x.data.pin_memory(), x.batch_sizes, x.sorted_indices, x.unsorted_indices)
    if isinstance(x, torch.Tensor):
        return x.pin_memory()
    return x


class Collator:
    """Base class of collators: encodes texts and turns labels into aligned targets.

    ``labels``: the class names; string labels are mapped to their index in it, int
    labels are taken as class indices already, ``None`` labels give ``targets=None``.
    """

    def __init__(self, encoder, *, labels: Sequence[str] | None = None):
        self.encoder = encoder
        self.labels = list(labels) if labels is not None else None
        self._label_index = {name: i for i, name in enumerate(self.labels or [])}

    def __call__(self, items: Sequence[tuple[str, Any]]) -> Batch:  # pragma: no cover - abstract
        raise NotImplementedError

    def split(self, items: Sequence[tuple[str, Any]]) -> tuple[list[str], torch.Tensor | None]:
        """Texts and the targets tensor of ``items`` (caller order)."""
        import torch

        if len(items) == 0:
            raise DataError("cannot collate an empty batch; check the sampler and batch size")
        texts = [item[0] for item in items]
        raw = [item[1] if len(item) > 1 else None for item in items]
        if all(r is None for r in raw):
            return texts, None
        targets = []
        for i, r in enumerate(raw):
            if isinstance(r, str):
                if r not in self._label_index:
                    known = "no label list was given to the collator" if self.labels is None else \
                        f"known labels: {', '.join(self.labels)}"
                    raise DataError(f"batch item {i} ({texts[i]!r}) has label {r!r} that the collator "
                                    f"does not know ({known})")
                targets.append(self._label_index[r])
            elif r is None:
                raise DataError(f"batch item {i} ({texts[i]!r}) has no label while others do")
            else:
                targets.append(int(r))
        return texts, torch.tensor(targets, dtype=torch.long)

    def encode(self, texts: Sequence[str]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """One int64 index tensor per text and the CPU int64 lengths; empty texts are refused."""
        import torch

        seqs = [torch.tensor(self.encoder.encode(t), dtype=torch.long) for t in texts]
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        if seqs and int(lengths.min()) == 0:
            i = int((lengths == 0).nonzero()[0])
            raise DataError(f"batch item {i} ({texts[i]!r}) encodes to zero symbols; recurrent cells "
                            f"need at least one step: remove empty texts from the data")
        return seqs, lengths
