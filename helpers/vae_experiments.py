"""The VAE experiments of notebooks 04 and 05: data, objective, one training run, the test report.

    data = vae_data("fashion-mnist", train=6_000, val=1_000, test=2_000, side=32)
    run = train_vae(data, "ms_ssim", beta=1e-3, seed=0, epochs=4, batch_size=64,
                    widths=(32, 64, 128, 256), latent=128, root=runs_dir() / "04_el_vae")
    report = test_report(run.model, data.test)  # means over the test images

The objective is the one both write-ups use, a reconstruction term plus a weighted KL divergence
(:class:`VAEObjective`)::

    loss = recon(output, x) + beta * KL,   KL = mean over images of the per-image KL in nats

``recon`` is a per-pixel *mean* (MSE, 1 - SSIM, 1 - MS-SSIM: each in [0, 1] or so, whatever the
image size) while KL is a per-image *sum* over the code. So ``beta`` is not a property of the
model: the same ``beta`` is a different trade-off between rate (KL) and distortion for each
reconstruction term, and for each image size. Notebook 04 compares losses at a matched rate.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.data import DatasetInfo, load_split
from helpers.images import as_float
from helpers.loader import TensorLoader
from helpers.losses import get_loss
from helpers.models.vae import VAE, kl_divergence
from helpers.reproductions import collection_ms_ssim
from helpers.ssim import _autocast_off, ms_ssim, ms_ssim_options_for_size, ssim
from helpers.train import NonFiniteLossError, Step, fit, load_run, read_history, run_directory

COLLECTION = "collection_ms_ssim"  # the reconstruction term of the collection's MSSIM VAE, faults on


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VAEData:
    """Three splits in memory, padded to ``side``: ``(images uint8 (N, 1, side, side), labels (N,))``
    each, and where they came from (``info``: the training split's :class:`DatasetInfo`)."""

    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    info: DatasetInfo
    val_info: DatasetInfo
    side: int


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
             progress: bool = True) -> VAEData:
    """The first ``train``, ``val``, ``test`` images of each split of ``name``, padded to ``side``.
    ``mode``: as for :func:`helpers.data.load_split` (``"real"`` raises where only a synthetic
    stand-in could be had; ``"auto"`` uses the stand-in and says so)."""
    splits = {}
    for split, size in (("train", train), ("val", val), ("test", test)):
        loaded = load_split(name, split, mode=mode, size=size, progress=progress)
        splits[split] = loaded
    return VAEData(*((pad_to(s.images, side), s.labels) for s in splits.values()),
                   info=splits["train"].info, val_info=splits["val"].info, side=side)


# --------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------


class CollectionMSSSIMLoss(nn.Module):
    """``1 - collection_ms_ssim(output, target)`` with every fault of the collection on (flipped
    window, zero padding, batch means, last scale to 4 w5, no clipping): its MSSIM loss, as it
    trains. Returns a scalar; NaN when a scale's batch-mean cs is negative (the run stops there)."""

    name = COLLECTION

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        with _autocast_off(output.device):
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


@dataclass
class VAERun:
    """A finished (or stopped) run: ``model`` (eval mode, CPU; None if it went NaN before its first
    checkpoint), its ``history``, its folder, and ``failure``: the NaN message, or None."""

    model: VAE | None
    history: list[dict]
    run_dir: Path
    failure: str | None


FAILED = "failed.txt"  # a run that went NaN records why here, so it is not trained again


def train_vae(data: VAEData, recon: str, beta: float, seed: int, *, epochs: int, batch_size: int,
              widths: Sequence[int], latent: int, root: Path, classes: int = 0, lr: float = 1e-3,
              warmup: float = 0.0, device: torch.device | str | None = None, progress: bool = True) -> VAERun:
    """Train (or reload) the VAE of ``(recon, beta, seed)`` on ``data``; same network, data, budget
    and seed for every arm. The model's initial weights and the batch order come from ``seed``.

    A run that goes NaN is recorded in ``failed.txt`` and returned with ``failure`` set: a NaN is a
    result of the collection's loss, not an error of the experiment.
    """
    config = {"model": "vae", "recon": recon, "beta": beta, "seed": seed, "epochs": epochs,
              "batch_size": batch_size, "widths": list(widths), "latent": latent, "classes": classes,
              "lr": lr, "warmup": warmup, "side": data.side,
              "sizes": [len(data.train[0]), len(data.val[0])]}
    if recon == "ms_ssim":
        config["ms_ssim_options"] = ms_ssim_options_for_size(data.side)  # the policy is part of the run
    run_dir = run_directory(root, f"{recon}-beta{beta:g}-seed{seed}", config, data=[data.info, data.val_info])
    if (run_dir / FAILED).exists():
        history = read_history(run_dir) if (run_dir / "history.csv").exists() else []
        return VAERun(None, history, run_dir, (run_dir / FAILED).read_text().strip())
    torch.manual_seed(seed)
    model = VAE(data.side, data.train[0].shape[1], tuple(widths), latent, classes)
    train = TensorLoader(*data.train, batch_size=batch_size, shuffle=True, seed=seed, drop_last=True,
                         info=data.info)
    val = TensorLoader(*data.val, batch_size=256, info=data.val_info)
    try:
        history = fit(model, VAEObjective(recon, beta, warmup), train, val, epochs, run_dir, lr=lr, seed=seed,
                      device=device, train_eval_size=min(1000, len(data.train[0])), progress=progress)
    except NonFiniteLossError as error:
        (run_dir / FAILED).write_text(str(error) + "\n")
        history = read_history(run_dir) if (run_dir / "history.csv").exists() else []
        return VAERun(None, history, run_dir, str(error))
    return VAERun(load_run(run_dir).model, history, run_dir, None)


# --------------------------------------------------------------------------------------------
# The test report
# --------------------------------------------------------------------------------------------


def _gradients(images: Tensor) -> tuple[Tensor, Tensor]:
    """Horizontal and vertical differences of neighbouring pixels, ``(N, C, H, W-1)``, ``(N, C, H-1, W)``."""
    return images[..., :, 1:] - images[..., :, :-1], images[..., 1:, :] - images[..., :-1, :]


def gradient_energy(images: Tensor) -> Tensor:
    """Mean squared difference of neighbouring pixels, horizontal plus vertical: ``(N, C, H, W)`` ->
    ``(N,)``. Blur lowers it; for images in [0, 1] it lies in [0, 2]."""
    dx, dy = _gradients(images)
    return dx.pow(2).flatten(1).mean(1) + dy.pow(2).flatten(1).mean(1)


def sharpness_ratio(output: Tensor, target: Tensor) -> float:
    """Gradient energy of ``output`` over that of ``target``, summed over the images before dividing:
    1 for reconstructions with as much detail as the originals, lower for blurrier ones. It counts
    every gradient, also edges in the wrong place and extra contrast: see :func:`edge_share`."""
    return float(gradient_energy(output).sum() / gradient_energy(target).sum())


def edge_share(output: Tensor, target: Tensor) -> float:
    """The share of the originals' gradients that the reconstructions reproduce in place:
    ``<grad output, grad target> / |grad target|^2`` over all images (1 for a copy, 0 for a flat
    image; misplaced edges do not count, and extra contrast counts only along the originals' edges: a
    projection coefficient, above 1 for edges stronger than the originals', negative for inverted ones)."""
    (ox, oy), (tx, ty) = _gradients(output), _gradients(target)
    return float(((ox * tx).sum() + (oy * ty).sum()) / (tx.pow(2).sum() + ty.pow(2).sum()))


def high_frequency_ratio(output: Tensor, target: Tensor) -> float:
    """The fraction of each image's power (its mean removed) above half the Nyquist frequency
    (``max(|fx|, |fy|) > 1/4`` cycles per pixel), for the reconstructions over that of the originals,
    summed over images before dividing: 1 when the detail is in the same proportion, lower when blurred.
    Unlike :func:`sharpness_ratio` it does not grow with contrast."""
    def fraction(images: Tensor) -> Tensor:
        centred = images - images.mean(dim=(-2, -1), keepdim=True)
        power = torch.fft.fft2(centred).abs().pow(2)
        fy = torch.fft.fftfreq(images.shape[-2]).abs()[:, None]
        fx = torch.fft.fftfreq(images.shape[-1]).abs()[None, :]
        high = (torch.maximum(fx, fy) > 0.25).to(power.dtype)
        return (power * high).sum() / power.sum()

    return float(fraction(output) / fraction(target))


@torch.no_grad()
def reconstruct(model: VAE, images: Tensor, labels: Tensor, batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """Reconstructions from the code's mean (eval mode) and the KL per image (nats):
    ``(N, C, H, W)`` float32 in [0, 1] and ``(N,)``, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    outputs, kls = [], []
    for start in range(0, len(images), batch_size):
        x = as_float(images[start:start + batch_size]).to(device)
        y = labels[start:start + batch_size].to(device) if model.arguments["classes"] else None
        out = model(x, y)
        outputs.append(out.reconstruction.float().cpu())
        kls.append(kl_divergence(out.mu.float(), out.logvar.float()).cpu())
    return torch.cat(outputs), torch.cat(kls)


REPORT_COLUMNS = ("mse", "psnr", "ssim", "ms_ssim", "kl", "sharpness", "edges", "high_freq")
SHARPNESS_COLUMNS = ("sharpness", "edges", "high_freq")  # three views of "sharper"; see the functions


@torch.no_grad()
def test_report(model: VAE, split: tuple[Tensor, Tensor]) -> dict[str, float]:
    """Means over the images of ``split``: ``mse``; ``psnr`` (dB, of each image's MSE, then
    averaged); ``ssim`` (11 taps); ``ms_ssim`` (the small-image policy of
    :func:`helpers.ssim.ms_ssim_options_for_size`); ``kl`` (nats per image); ``sharpness``
    (:func:`sharpness_ratio`), ``edges`` (:func:`edge_share`), ``high_freq``
    (:func:`high_frequency_ratio`). All in float32 on the reconstructions from the code's mean."""
    images, labels = split
    target = as_float(images)
    output, kl = reconstruct(model, images, labels)
    mse = (output - target).pow(2).flatten(1).mean(1)
    options = ms_ssim_options_for_size(min(target.shape[-2:]))
    return {
        "mse": float(mse.mean()),
        "psnr": float((10 * torch.log10(1 / mse.clamp_min(1e-10))).mean()),
        "ssim": float(ssim(output, target, reduction="none").mean()),
        "ms_ssim": float(ms_ssim(output, target, reduction="none", **options).mean()),
        "kl": float(kl.mean()),
        "sharpness": sharpness_ratio(output, target),
        "edges": edge_share(output, target),
        "high_freq": high_frequency_ratio(output, target),
    }


# --------------------------------------------------------------------------------------------
# Matching the rate
# --------------------------------------------------------------------------------------------


def beta_for_rate(betas: Sequence[float], rates: Sequence[float], target: float) -> float:
    """The KL weight expected to give ``target`` nats per image, by linear interpolation of
    log(rate) against log(beta) between the two measured betas whose rates bracket ``target`` (or
    extrapolation from the two nearest, when none do). ``betas`` > 0 and ``rates`` > 0, one rate per
    beta, measured with everything else the same."""
    if len(betas) != len(rates) or len(betas) < 2:
        raise ValueError(f"betas and rates must have the same length >= 2; got {len(betas)} and {len(rates)}")
    if min(betas) <= 0 or min(rates) <= 0 or target <= 0:
        raise ValueError(f"betas, rates and target must be > 0; got {list(betas)}, {list(rates)}, {target}")
    order = np.argsort(betas)
    lb, lr = np.log(np.asarray(betas, float)[order]), np.log(np.asarray(rates, float)[order])
    t = math.log(target)
    pairs = [(i, i + 1) for i in range(len(lb) - 1) if min(lr[i], lr[i + 1]) <= t <= max(lr[i], lr[i + 1])]
    if pairs:
        i, j = pairs[0]
    else:  # extrapolate from the end nearest to the target
        i, j = (0, 1) if abs(t - lr[0]) < abs(t - lr[-1]) else (len(lb) - 2, len(lb) - 1)
    if lr[i] == lr[j]:
        return float(math.exp((lb[i] + lb[j]) / 2))
    return float(math.exp(lb[i] + (t - lr[i]) * (lb[j] - lb[i]) / (lr[j] - lr[i])))


def weights_hash(model: nn.Module) -> str:
    """SHA-256 of a model's parameters and buffers (names, shapes, dtypes, bytes), first 16 hex digits:
    the same for the same weights, whatever file or device they came from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return digest.hexdigest()[:16]


@torch.no_grad()
def label_following(model: VAE, images: Tensor, labels: Tensor, judge: nn.Module,
                    shift: int = 1) -> tuple[float, float]:
    """How much a conditional VAE's output follows its label rather than its code.

    Each image is encoded with its own label, and the code's mean decoded with another one
    (``(label + shift) mod classes``). Returns the fraction of those decodings that ``judge`` assigns
    to the new label, and the fraction it assigns to the image's own class: (1, 0) when the label
    alone decides the class, (0, 1) when the code does.
    """
    classes = model.arguments["classes"]
    if classes == 0:
        raise ValueError("model must be conditional (classes > 0); got an unconditional VAE")
    model.eval()
    x = as_float(images)
    mu, _ = model.encode(x, labels)
    other = (labels + shift) % classes
    predicted = judge.predict(model.decode(mu, other))
    return float((predicted == other).float().mean()), float((predicted == labels).float().mean())


def sample_diversity(images: Tensor, labels: Tensor) -> float:
    """How different a class's images are from each other: for each class, the standard deviation of
    every pixel over that class's images, averaged over the pixels; then the mean over the classes.

    ``images``: ``(N, C, H, W)`` in [0, 1] (uint8 in [0, 255] is scaled); ``labels``: ``(N,)``, every
    class present at least twice. 0 when a class's images are all the same (a decoder that ignores its
    code); real Fashion-MNIST test images give about 0.2. A judge's accuracy on samples rewards low
    diversity (the class's mean image is the easiest to classify), so the two are read together."""
    x = as_float(images)
    if x.dim() != 4 or labels.dim() != 1 or len(labels) != len(x):
        raise ValueError(f"images must be (N, C, H, W) and labels (N,); got {tuple(x.shape)} and "
                         f"{tuple(labels.shape)}")
    classes, counts = torch.unique(labels, return_counts=True)
    if int(counts.min()) < 2:
        raise ValueError(f"every class must have at least 2 images; got counts {counts.tolist()}")
    spreads = [x[labels == c].std(dim=0, unbiased=True).mean() for c in classes]
    return float(torch.stack(spreads).mean())
