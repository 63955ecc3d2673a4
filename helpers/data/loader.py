"""Batches from tensors held in memory: the course's data loader.

Every data set of the course fits in memory (Fashion-MNIST's 60,000 training images are 47 MB as
8-bit values), so each split is loaded once as tensors, moved to the training device once, and
batched by indexing. No worker processes, no per-image Python, no copy to the GPU per batch::

    train = TensorLoader(split.images, split.labels, batch_size=64, shuffle=True, seed=0, device="cuda")
    for images, labels in train:  # images float32 (B, C, H, W) in [0, 1], labels as stored
        ...

Tensors of 8-bit values (``uint8``) are turned into float32 in [0, 1] per batch (divided by 255);
every other tensor is handed out as it is stored. The order of a shuffled epoch is drawn from
``(seed, epoch)`` alone, so a resumed run sees the same batches as one that was never interrupted:
:func:`helpers.train.fit` calls :meth:`TensorLoader.set_epoch` before each epoch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from helpers.checks import positive_int


class TensorLoader:
    """Batches of ``(tensors[0][i], tensors[1][i], ...)`` for ``i`` in batches of ``batch_size``.

    ``tensors``: one or more tensors with the same first dimension ``N`` (for example images
    ``(N, C, H, W)`` and labels ``(N,)``), moved to ``device`` once (default: where they are).
    ``shuffle``: a new order each epoch, drawn from ``seed`` and the epoch; ``drop_last``: leave out a
    last, smaller batch. ``info``: where the data came from (:class:`helpers.data.DatasetInfo`), kept
    for the run's identity (:func:`helpers.train.run_directory`).
    """

    def __init__(self, *tensors: Tensor, batch_size: int, shuffle: bool = False, seed: int = 0,
                 device: torch.device | str | None = None, drop_last: bool = False, info=None) -> None:
        if not tensors or not all(isinstance(t, Tensor) for t in tensors):
            kinds = [type(t).__name__ for t in tensors]
            raise TypeError(f"tensors must be one or more torch.Tensors; got {kinds}")
        sizes = {len(t) for t in tensors}
        if len(sizes) != 1 or 0 in sizes:
            lengths = [len(t) for t in tensors]
            raise ValueError(f"tensors must have one non-zero first dimension; got {lengths}")
        positive_int("batch_size", batch_size)
        self.tensors = tuple(t.to(device) if device is not None else t for t in tensors)
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.info = info
        self.epoch = 0

    @property
    def size(self) -> int:
        """The number of samples, ``N``."""
        return len(self.tensors[0])

    @property
    def device(self) -> torch.device:
        return self.tensors[0].device

    def __len__(self) -> int:
        """The number of batches of an epoch."""
        full, rest = divmod(self.size, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the next epoch's order from ``(seed, epoch)``: the same epoch gives the same batches."""
        self.epoch = epoch

    def order(self) -> Tensor:
        """The indices of this epoch, on the tensors' device: shuffled from ``(seed, epoch)``, or in order."""
        if not self.shuffle:
            return torch.arange(self.size, device=self.device)
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(self.size, generator=generator).to(self.device, non_blocking=True)

    def __iter__(self):
        order = self.order()
        self.epoch += 1  # plain iteration, outside fit, still gets a new order each time
        for batch in range(len(self)):
            index = order[batch * self.batch_size: (batch + 1) * self.batch_size]
            yield tuple(_as_float(t.index_select(0, index)) for t in self.tensors)

    def subset(self, count: int) -> TensorLoader:
        """The first ``count`` samples (all if fewer), in order: a fixed subset to measure on."""
        count = min(count, self.size)
        return TensorLoader(*(t[:count] for t in self.tensors), batch_size=self.batch_size, info=self.info)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in self.tensors)
        return (f"TensorLoader({shapes}; batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"seed={self.seed}, device={self.device})")


def _as_float(t: Tensor) -> Tensor:
    """8-bit images to float32 in [0, 1]; anything else as it is."""
    return t.float().div_(255) if t.dtype == torch.uint8 else t
