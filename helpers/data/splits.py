"""The splits of one experiment, in memory: the one type every training notebook's data comes in.

    data = Splits(train=(images, labels), val=(val_images, val_labels), info=info, val_info=val_info)
    data.first(512)  # the same splits with the first 512 training pairs only

Notebooks 04-05 (images and labels, padded), 06 (density images and their patterns) and 07 (images and
labels of a real data set, with the reason it was chosen) each build one with their own loader in
:mod:`helpers.experiments`; :func:`helpers.train.run` keys a run by ``info`` and ``val_info``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import Tensor

from helpers.checks import positive_int
from helpers.data.sets import DatasetInfo


@dataclass(frozen=True)
class Splits:
    """``train``, ``val`` and, where the experiment has one, ``test``: each a pair ``(inputs,
    targets)`` of tensors with the same first dimension N. Images and labels: ``(N, C, H, W)`` uint8
    (or float32 in [0, 1]) and ``(N,)`` int64; paired data: density images and patterns, float32
    ``(N, 1, 128, 128)`` in [0, 1]. ``info``, ``val_info``, ``test_info``: where each split came from
    (:class:`helpers.data.DatasetInfo`, a synthetic stand-in named so); ``reason``: a sentence saying
    which data set was chosen and why, where there was a choice ("" otherwise)."""

    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor]
    info: DatasetInfo
    val_info: DatasetInfo
    test: tuple[Tensor, Tensor] | None = None
    test_info: DatasetInfo | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            pair = getattr(self, name)
            if pair is None and name == "test":
                continue
            if not isinstance(pair, tuple) or len(pair) != 2 or len(pair[0]) != len(pair[1]):
                shown = [tuple(t.shape) for t in pair] if isinstance(pair, tuple) else type(pair).__name__
                raise ValueError(f"{name} must be a pair (inputs, targets) of the same length; got {shown}")

    @property
    def side(self) -> int:
        """The width of the training inputs in pixels (``W`` of ``(N, C, H, W)``)."""
        return self.train[0].shape[-1]

    @property
    def label(self) -> str:
        """The training data set's name for titles and tables (:attr:`DatasetInfo.label`)."""
        return self.info.label

    def first(self, count: int) -> Splits:
        """The same splits with only the first ``count`` training pairs (validation and test unchanged)."""
        positive_int("count", count)
        if count > len(self.train[0]):
            raise ValueError(f"count must be at most the {len(self.train[0])} training pairs; got {count}")
        return dataclasses.replace(self, train=tuple(t[:count] for t in self.train),
                                   info=dataclasses.replace(self.info, size=count))
