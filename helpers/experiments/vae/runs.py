"""The VAE runs of notebooks 04 and 05: data, objective, one training run.

    data = vae_data("fashion-mnist", train=6_000, val=1_000, test=2_000, side=32)
    run = train_vae(data, "ms_ssim", beta=1e-3, seed=0, epochs=4, batch_size=64,
                    widths=(32, 64, 128, 256), latent=128, root=runs_dir() / "04_el_vae")
    report = test_report(run.model, data.test)  # means over the test images (helpers.experiments.vae.report)

The objective is the one both write-ups use, a reconstruction term plus a weighted KL divergence
(:class:`VAEObjective`)::

    loss = recon(output, x) + beta * KL,   KL = mean over images of the per-image KL in nats

``recon`` is a per-pixel *mean* (MSE, 1 - SSIM, 1 - MS-SSIM: each in [0, 1] or so, whatever the
image size) while KL is a per-image *sum* over the code. So ``beta`` is not a property of the
model: the same ``beta`` is a different trade-off between rate (KL) and distortion for each
reconstruction term, and for each image size. Notebook 04 compares losses at a matched rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.data import Splits, TensorLoader, load_split
from helpers.losses import get_loss
from helpers.models.vae import VAE, kl_divergence
from helpers.reproductions import collection_ms_ssim
from helpers.ssim import autocast_off, ms_ssim_options_for_size
from helpers.train import Run, Step, run, run_directory

COLLECTION = "collection_ms_ssim"  # the reconstruction term of the collection's MSSIM VAE, faults on


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def pad_to(images: Tensor, side: int) -> Tensor:
    """Zero-pad ``(N, C, H, W)`` images equally on every side to ``side x side`` (Fashion-MNIST's
    28 px to 32 px for four stride-2 blocks: 2 px of background, which is 0 in those images)."""
    h, w = images.shape[-2:]
    if h > side or w > side or (side - h) % 2 or (side - w) % 2:
        raise ValueError(f"side must be >= the images' sides with an even difference; got side={side} for "
                         f"images of {h} x {w}")
    p, q = (side - h) // 2, (side - w) // 2
    return F.pad(images, (q, q, p, p))


def vae_data(name: str, train: int, val: int, test: int, side: int = 32, mode: str = "auto",
             progress: bool = True) -> Splits:
    """The first ``train``, ``val``, ``test`` images of each split of ``name``, padded to ``side``:
    :class:`helpers.data.Splits` of ``(images uint8 (N, 1, side, side), labels (N,))``. ``mode``: as
    for :func:`helpers.data.load_split` (``"real"`` raises where only a synthetic stand-in could be
    had; ``"auto"`` uses the stand-in and says so)."""
    loaded = {split: load_split(name, split, mode=mode, size=size, progress=progress)
              for split, size in (("train", train), ("val", val), ("test", test))}
    pairs = {split: (pad_to(s.images, side), s.labels) for split, s in loaded.items()}
    return Splits(train=pairs["train"], val=pairs["val"], test=pairs["test"], info=loaded["train"].info,
                  val_info=loaded["val"].info, test_info=loaded["test"].info)


# --------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------


class CollectionMSSSIMLoss(nn.Module):
    """``1 - collection_ms_ssim(output, target)`` with every fault of the collection on (flipped
    window, zero padding, batch means, last scale to 4 w5, no clipping): its MSSIM loss, as it
    trains. Returns a scalar; NaN when a scale's batch-mean cs is negative (the run stops there)."""

    name = COLLECTION

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        with autocast_off(output.device):
            return 1 - collection_ms_ssim(output.float(), target.float())


def reconstruction_loss(name: str) -> nn.Module:
    """The reconstruction term called ``name``: one of :data:`helpers.losses.LOSSES`, a combination
    ``"mse+<loss>@<w>"``, or :data:`COLLECTION`."""
    return CollectionMSSSIMLoss() if name == COLLECTION else get_loss(name)


class VAEObjective:
    """``loss = recon(output, x) + beta * KL`` for :func:`helpers.train.fit`, with components ``recon``
    and ``kl`` (nats per image), and ``output``/``target`` for the metrics. Conditional models get the
    labels. ``warmup``: epochs over which the KL weight grows linearly from 0 to ``beta`` (0: none)."""

    def __init__(self, recon: str, beta: float, warmup: float = 0.0) -> None:
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < math.inf:
            raise ValueError(f"beta must be a finite number >= 0; got {beta!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or warmup < 0:
            raise ValueError(f"warmup must be a number of epochs >= 0; got {warmup!r}")
        self.recon, self.beta, self.warmup = reconstruction_loss(recon), float(beta), float(warmup)

    def weight(self, at: Step) -> float:
        """The KL weight at ``at``: ``beta``, or its linear warm-up."""
        if self.warmup == 0:
            return self.beta
        return self.beta * min(1.0, at.epochs_done / self.warmup)

    def __call__(self, model: VAE, x: Tensor, y: Tensor, at: Step) -> dict[str, Tensor]:
        labels = y if model.arguments["classes"] else None
        out = model(x, labels)
        recon = self.recon(out.reconstruction, x)
        kl = kl_divergence(out.mu.float(), out.logvar.float()).mean()
        return {"loss": recon + self.weight(at) * kl, "recon": recon, "kl": kl,
                "output": out.reconstruction, "target": x}


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


def train_vae(data: Splits, recon: str, beta: float, seed: int, *, epochs: int, batch_size: int,
              widths: Sequence[int], latent: int, root: Path, classes: int = 0, lr: float = 1e-3,
              warmup: float = 0.0, device: torch.device | str | None = None, amp: bool = False,
              progress: bool = True) -> Run:
    """Train (or reload) the VAE of ``(recon, beta, seed)`` on ``data`` (:func:`vae_data`) with
    :func:`helpers.train.run`; same network, data, budget and seed for every arm. The model's initial
    weights and the batch order come from ``seed``.

    ``device``, ``amp`` (bfloat16 autocast, CUDA only): as :func:`helpers.train.fit` takes them, and
    part of the run's key. A run that goes NaN is returned with ``failure`` set (and recorded, so it
    is not trained again): a NaN is a result of the collection's loss, not an error of the experiment.
    """
    config = {"model": "vae", "recon": recon, "beta": beta, "seed": seed, "epochs": epochs,
              "batch_size": batch_size, "widths": list(widths), "latent": latent, "classes": classes,
              "lr": lr, "warmup": warmup, "side": data.side,
              "sizes": [len(data.train[0]), len(data.val[0])]}
    if recon == "ms_ssim":
        config["ms_ssim_options"] = ms_ssim_options_for_size(data.side)  # the policy is part of the run
    run_dir = run_directory(root, f"{recon}-beta{beta:g}-seed{seed}", config, data=[data.info, data.val_info],
                            device=device, amp=amp)
    torch.manual_seed(seed)
    model = VAE(data.side, data.train[0].shape[1], tuple(widths), latent, classes)
    batches = TensorLoader(*data.train, batch_size=batch_size, shuffle=True, seed=seed, drop_last=True,
                           info=data.info)
    val = TensorLoader(*data.val, batch_size=256, info=data.val_info)
    return run(run_dir, model, VAEObjective(recon, beta, warmup), batches, val, epochs, seed=seed, lr=lr,
               device=device, amp=amp, train_eval_size=min(1000, len(data.train[0])), progress=progress)
