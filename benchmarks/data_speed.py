"""One epoch of batches: the course's TensorLoader against torchvision's Dataset + DataLoader path.

    python benchmarks/data_speed.py [--threads 1] [--repeats 3]

Iterates every batch of an epoch (batch 64, shuffled) and touches it (a sum), as a training loop
would, for

- Fashion-MNIST's 60,000 training images: ``torchvision.datasets.FashionMNIST`` with ``ToTensor``
  in a ``DataLoader`` (PIL image per item, default collation), against ``load_split`` +
  ``TensorLoader`` (8-bit tensor in memory, batches by indexing, divided by 255 per batch);
- pseudo-diffraction's 9,454 training patterns: the per-item generator ``PseudoDiffraction`` in a
  ``DataLoader`` (timed on its first 640 images and scaled to the epoch: the whole epoch takes
  about 40 s), and the cached patterns in a ``DataLoader`` over a ``TensorDataset``, against
  ``TensorLoader``.

Times are the fastest of ``--repeats`` epochs; printed as ratios (DataLoader time / TensorLoader
time), measured side by side in one process, and the TensorLoader's own seconds per epoch. Loading
the split into memory (once per run) is timed apart. Fashion-MNIST must be staged
(``python -m helpers.data stage``).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

from helpers.config import data_dir
from helpers.data import load_split
from helpers.data.diffraction import PseudoDiffraction
from helpers.data.loader import TensorLoader

BATCH = 64


def epoch_seconds(batches, repeats: int) -> float:
    """The fastest of ``repeats`` passes over ``batches`` (an iterable made anew each pass)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        total = 0.0
        for images, _labels in batches():
            total += float(images.sum())  # touch every batch, as a training step would
        best = min(best, time.perf_counter() - start)
    return best


def fashion_mnist(repeats: int) -> None:
    import torchvision

    start = time.perf_counter()
    split = load_split("fashion-mnist", "train", mode="real", progress=False)
    loading = time.perf_counter() - start
    dataset = torchvision.datasets.FashionMNIST(str(data_dir()), train=True,
                                                transform=torchvision.transforms.ToTensor())
    loader = TensorLoader(split.images, split.labels, batch_size=BATCH, shuffle=True)
    ours = epoch_seconds(lambda: loader, repeats)
    theirs = epoch_seconds(lambda: DataLoader(dataset, batch_size=BATCH, shuffle=True), repeats)
    print(f"Fashion-MNIST, 60,000 images: TensorLoader {ours:.3f} s per epoch; DataLoader + ToTensor "
          f"{theirs:.2f} s: {theirs / ours:.0f}x (loading the split once: {loading:.2f} s)")


def pseudo_diffraction(repeats: int) -> None:
    start = time.perf_counter()
    split = load_split("pseudo-diffraction", "train", progress=False)
    loading = time.perf_counter() - start
    loader = TensorLoader(split.images, split.labels, batch_size=BATCH, shuffle=True)
    ours = epoch_seconds(lambda: loader, repeats)
    cached = TensorDataset(split.images, split.labels)
    over_tensors = epoch_seconds(lambda: DataLoader(cached, batch_size=BATCH, shuffle=True), repeats)
    part = Subset(PseudoDiffraction(len(split.labels)), range(640))
    per_item = epoch_seconds(lambda: DataLoader(part, batch_size=BATCH), 1) * len(split.labels) / len(part)
    print(f"pseudo-diffraction, {len(split.labels):,} patterns: TensorLoader {ours:.3f} s per epoch; "
          f"DataLoader over the generator {per_item:.1f} s (from 640 images): {per_item / ours:.0f}x; "
          f"DataLoader over the cached tensors {over_tensors:.3f} s: {over_tensors / ours:.1f}x "
          f"(loading the split once: {loading:.2f} s; the first run also generates and caches it)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="epochs timed per contender (default 3)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"One shuffled epoch in batches of {BATCH}, {args.threads} thread(s), fastest of {args.repeats}")
    fashion_mnist(args.repeats)
    pseudo_diffraction(args.repeats)


if __name__ == "__main__":
    main()
