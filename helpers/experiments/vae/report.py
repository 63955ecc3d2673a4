"""What notebooks 04 and 05 measure of a trained VAE: the test report, the sharpness measures, the KL
weight for a matched rate, and how far a conditional VAE's output follows its label.

    report = test_report(run.model, data.test)  # {"mse": ..., "sharpness": ..., ...}, means over images
    beta = beta_for_rate(betas, rates, target=18.0)  # the beta expected to give 18 nats per image
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from helpers.images import as_float
from helpers.models.vae import VAE, kl_divergence
from helpers.ssim import ms_ssim, ms_ssim_options_for_size, ssim
from helpers.stats import summarise

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
    code); real Fashion-MNIST test images give about 0.19 at 28 x 28 and 0.15 padded to 32 x 32 (the
    padding has no spread). Not a quality score: images of other classes raise it (the real test images
    with shuffled labels: 0.21) and blur lowers it (0.12 after a Gaussian blur of sigma 1). A judge's
    accuracy on samples tends to reward low diversity (an image near its class's average is typically
    easy to classify), so the two are read together."""
    x = as_float(images)
    if x.dim() != 4 or labels.dim() != 1 or len(labels) != len(x):
        raise ValueError(f"images must be (N, C, H, W) and labels (N,); got {tuple(x.shape)} and "
                         f"{tuple(labels.shape)}")
    classes, counts = torch.unique(labels, return_counts=True)
    if int(counts.min()) < 2:
        raise ValueError(f"every class must have at least 2 images; got counts {counts.tolist()}")
    spreads = [x[labels == c].std(dim=0, unbiased=True).mean() for c in classes]
    return float(torch.stack(spreads).mean())


def val_rate(runs: Sequence) -> float:
    """The mean over the finished ``runs`` (:class:`helpers.train.Run`) of the validation KL at the last
    epoch, nats per image; ``ValueError`` when none finished."""
    rates = [run.history[-1]["val_kl"] for run in runs if run.failure is None]
    if not rates:
        raise ValueError("runs must hold at least one finished run; every run failed")
    return float(np.mean(rates))


def report_table(rows: dict[tuple[str, float], Sequence[dict[str, float]]]) -> str:
    """Mean ± std over seeds (:func:`helpers.stats.summarise`) of each :data:`REPORT_COLUMNS` entry of
    :func:`test_report`, one line per ``(loss, beta)`` of ``rows`` (its reports, one per finished
    seed), under a header; PSNR in dB, KL in nats per image, MS-SSIM the course's 3-scale variant at
    32 px."""
    units = {"psnr": "psnr (dB)", "kl": "kl (nats)", "ms_ssim": "ms_ssim (3 sc.)"}
    header = " ".join(f"{units.get(c, c):>16}" for c in REPORT_COLUMNS)
    lines = [f"{'loss':>20} {'beta':>9} {'runs':>4} {header}"]
    for (loss, beta), found in rows.items():
        if not found:
            lines.append(f"{loss:>20} {beta:9.3g}    0 (every run went NaN)")
            continue
        summary = summarise(found)
        lines.append(f"{loss:>20} {beta:9.3g} {len(found):4d} "
                     + " ".join(f"{summary[c][0]:9.4g} ± {summary[c][1]:<5.2g}" for c in REPORT_COLUMNS))
    return "\n".join(lines)
