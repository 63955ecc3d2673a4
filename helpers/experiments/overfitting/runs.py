"""The runs of notebook 06: the GDN network maps a density image to its diffraction pattern, trained
with 100 (1 - MS-SSIM), MSE or BCE on the same data, budget and seeds.

    data = pattern_data(train=512, val=256)  # densities in, pseudo-LACBED patterns out, 128 x 128
    run = train_pattern_model(data, "ms_ssim", seed=0, code_size=64, width=16, epochs=8, batch_size=32,
                              lr=1e-3, root=runs_dir() / "06_overfitting")
    outputs = read_snapshots(run.run_dir)  # {epoch: the first 12 validation outputs}

The losses (:data:`LOSS_SCALES`): ``ms_ssim`` is 100 (1 - MS-SSIM) with a 7-tap window and 5 scales,
the study's loss (5 scales of a 7-tap window fit 128 px; :func:`helpers.ssim.ms_ssim_options_for_size`
gives exactly that at 128 px); ``mse`` is the mean squared error; ``bce`` is torch's binary
cross-entropy *less the target's entropy* (:mod:`helpers.losses`): the same gradient as torch's BCE,
but 0 at identical images, so its values are a divergence, not torch's BCE values.

Every run is measured after every epoch on three common scales (:func:`pattern_metrics`): MSE, BCE
(as above) and 1 - MS-SSIM, in eval mode, on a fixed training subset (``train_eval_*``) and on the
validation images (``val_*``); the loss it optimises is also logged as the original logged it
(``train_loss``: the epoch's mean in train mode). :func:`offset_parts` splits the difference between
that epoch mean and the eval-mode loss into its two causes (weights moving during the epoch, batch
normalisation in train mode). The derived numbers and their rules are in
:mod:`helpers.experiments.overfitting.rules`, the claims in
:mod:`helpers.experiments.overfitting.verdicts`."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
from torch import Tensor, nn

from helpers.checks import non_negative_int, positive_int, positive_number
from helpers.data import Splits, TensorLoader, load_split
from helpers.losses import get_loss
from helpers.models.gdn_autoencoder import SIDE, GDNAutoencoder
from helpers.ssim import ms_ssim_options_for_size
from helpers.train import Run, Step, run, run_directory

#: The losses the study compares, and the factor on each (the study minimised 100 (1 - MS-SSIM)).
LOSS_SCALES: dict[str, float] = {"ms_ssim": 100.0, "mse": 1.0, "bce": 1.0}
#: The common scales every run is measured on, in eval mode: name -> loss of helpers.losses.
METRICS: tuple[str, ...] = ("mse", "bce", "ms_ssim_loss")
#: The 12 fixed validation images whose outputs are kept after every epoch (the study's figure).
SNAPSHOT_COUNT = 12
SNAPSHOTS = "snapshots.pt"


def check_loss(loss: str) -> None:
    """Raise ``ValueError`` unless ``loss`` is one of :data:`LOSS_SCALES`."""
    if loss not in LOSS_SCALES:
        raise ValueError(f"loss must be one of {tuple(LOSS_SCALES)}; got {loss!r}")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def pattern_data(train: int, val: int, name: str = "pseudo-lacbed", progress: bool = True) -> Splits:
    """The first ``train`` and ``val`` pairs of the ``train`` and ``val`` splits of ``name``
    (``"pseudo-lacbed"``, the study's kind of pattern, or ``"pseudo-diffraction"``, spots), at 128 x 128,
    never resized: :class:`helpers.data.Splits` of ``(densities, patterns)``, float32 ``(N, 1, 128,
    128)`` in [0, 1] (the density image is the input, the pattern the target), without a test split.
    Made once and cached under ``data/`` (about 60-90 pairs a second to make)."""
    positive_int("train", train)
    positive_int("val", val)
    splits = {}
    for split, size in (("train", train), ("val", val)):
        loaded = load_split(name, split, size=size, progress=progress)
        if loaded.densities is None:
            raise ValueError(f"name must be a data set with paired density images ('pseudo-lacbed' or "
                             f"'pseudo-diffraction'); got {name!r}")
        splits[split] = loaded
    return Splits(train=(splits["train"].densities, splits["train"].images),
                  val=(splits["val"].densities, splits["val"].images),
                  info=splits["train"].info, val_info=splits["val"].info)


# --------------------------------------------------------------------------------------------
# Objective and metrics
# --------------------------------------------------------------------------------------------


def ms_ssim_options() -> dict:
    """The MS-SSIM of the study at 128 px: a 7-tap window (sigma 1.5) and 5 scales."""
    options = ms_ssim_options_for_size(SIDE)
    if options["window_size"] != 7 or len(options["weights"]) != 5:  # the course's policy changed
        raise RuntimeError(f"the MS-SSIM at {SIDE} px must have 7 taps and 5 scales; the policy gives "
                           f"{options}")
    return options


class PatternObjective:
    """``loss = LOSS_SCALES[loss] * loss(model(density), pattern)`` for :func:`helpers.train.fit`,
    with ``output`` and ``target`` for the metrics."""

    def __init__(self, loss: str) -> None:
        check_loss(loss)
        self.name, self.scale, self.loss = loss, LOSS_SCALES[loss], get_loss(loss)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, at: Step) -> dict[str, Tensor]:
        output = model(x)
        return {"loss": self.scale * self.loss(output, y), "output": output, "target": y}


def forward_macs(width: int = 128, code_size: int = 64, bottleneck: int = 32) -> int:
    """Multiply-adds of one forward pass of :class:`GDNAutoencoder` on one 1 x 128 x 128 image: the
    convolutions, the GDN layers (a 1 x 1 convolution of the squares per pixel) and the fully connected
    layers; BatchNorm, ReLU, Sigmoid and the square roots left out (a fraction of a per cent). A
    training step costs about three forward passes (forward, and a backward of twice its cost)."""
    for name, value in (("width", width), ("code_size", code_size), ("bottleneck", bottleneck)):
        positive_int(name, value)
    sides = [SIDE // 2 ** k for k in range(1, 6)]  # 64, 32, 16, 8, 4: each convolution's output side
    channels = [1, width, width, width, width, bottleneck]
    convs = sum(25 * channels[k] * channels[k + 1] * sides[k] ** 2 for k in range(5))
    gdn = sum(width * width * side ** 2 for side in sides[:4])
    hidden = 16 * bottleneck
    fc = 2 * hidden * hidden + hidden * code_size
    return 2 * (convs + gdn + fc)  # the decoder mirrors the encoder, multiply-add for multiply-add


def pattern_metrics() -> dict[str, nn.Module]:
    """The common scales of :data:`METRICS`: MSE, BCE less the target's entropy, 1 - MS-SSIM (7 taps,
    5 scales at 128 px), each without a factor."""
    return {"mse": get_loss("mse"), "bce": get_loss("bce"), "ms_ssim_loss": get_loss("ms_ssim")}


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


def _train_loader(data: Splits, repeats: int, batch_size: int, seed: int) -> TensorLoader:
    """The training batches of a run: each pair ``repeats`` times an epoch, shuffled from ``(seed,
    epoch)``; the first ``len(data.train[0])`` samples are the distinct pairs."""
    tiled = tuple(torch.cat([t] * repeats) for t in data.train)
    return TensorLoader(*tiled, batch_size=batch_size, shuffle=True, seed=seed, drop_last=True,
                        info=data.info)


def train_pattern_model(data: Splits, loss: str, seed: int, *, code_size: int, width: int,
                        epochs: int, batch_size: int, lr: float, root: Path, repeats: int = 1,
                        train_eval_size: int | None = None, device: torch.device | str | None = None,
                        amp: bool = False, progress: bool = True) -> Run:
    """Train (or reload) the GDN network with ``loss`` on ``data`` (:func:`pattern_data`) with
    :func:`helpers.train.run`: the same network, data, budget and seed for every arm; the initial
    weights and the batch order come from ``seed``.

    ``repeats``: each training pair appears this many times per epoch (shuffled together), so that a
    smaller training set can be trained for the same number of steps per epoch as a larger one and
    measured at the same steps (the data-size sweep). ``train_eval_size``: training pairs measured in
    eval mode after each epoch (default: as many as the validation set, at most the distinct training
    pairs). ``device``, ``amp`` (bfloat16 autocast, CUDA only): as :func:`helpers.train.fit` takes
    them, and part of the run's key. After each epoch the outputs for the first
    :data:`SNAPSHOT_COUNT` validation images are kept (``snapshots.pt``, read by
    :func:`read_snapshots`). Raises :class:`helpers.train.NonFiniteLossError` if the run went NaN.
    """
    check_loss(loss)
    for name, value in (("code_size", code_size), ("width", width), ("epochs", epochs),
                        ("batch_size", batch_size), ("repeats", repeats)):
        positive_int(name, value)
    non_negative_int("seed", seed)
    positive_number("lr", lr)
    sizes = [len(data.train[0]), len(data.val[0])]
    if sizes[0] * repeats < batch_size:
        raise ValueError(f"batch_size must be at most the {sizes[0]} x {repeats} training pairs of an epoch; "
                         f"got {batch_size}")
    train_eval_size = min(sizes) if train_eval_size is None else train_eval_size
    positive_int("train_eval_size", train_eval_size)
    if train_eval_size > sizes[0]:
        raise ValueError(f"train_eval_size must be at most the {sizes[0]} distinct training pairs; "
                         f"got {train_eval_size}")
    config = {"model": "gdn_autoencoder", "code_activation": "relu", "loss": loss,
              "scale": LOSS_SCALES[loss], "seed": seed, "code_size": code_size, "width": width,
              "epochs": epochs, "batch_size": batch_size, "lr": lr, "sizes": sizes, "repeats": repeats,
              "train_eval_size": train_eval_size, "ms_ssim_options": ms_ssim_options()}
    run_dir = run_directory(root, f"{loss}-code{code_size}-n{sizes[0]}-seed{seed}", config,
                            data=[data.info, data.val_info], device=device, amp=amp)
    torch.manual_seed(seed)
    model = GDNAutoencoder(1, width, code_size)
    batches = _train_loader(data, repeats, batch_size, seed)
    val = TensorLoader(*data.val, batch_size=64, info=data.val_info)
    shown = data.val[0][:SNAPSHOT_COUNT]
    path = run_dir / SNAPSHOTS
    snapshots: dict[int, Tensor] = torch.load(path) if path.exists() else {}

    def keep(epoch: int, row: dict) -> None:
        model.eval()
        with torch.no_grad():
            snapshots[epoch] = model(shown.to(next(model.parameters()).device)).cpu().half()
        torch.save(snapshots, path)

    return run(run_dir, model, PatternObjective(loss), batches, val, epochs, seed=seed,
               metrics=pattern_metrics(), lr=lr, device=device, amp=amp, train_eval_size=train_eval_size,
               progress=progress, on_epoch_end=keep).trained()


def read_snapshots(run_dir: Path) -> dict[int, Tensor]:
    """The outputs a run of :func:`train_pattern_model` kept in ``run_dir`` after each epoch for the
    first :data:`SNAPSHOT_COUNT` validation images: ``{epoch: (12, 1, 128, 128) float32}``, epochs in
    order (stored as float16)."""
    path = Path(run_dir) / SNAPSHOTS
    if not path.exists():
        raise FileNotFoundError(f"run_dir must hold a run of train_pattern_model; {path} does not exist")
    return {e: s.float() for e, s in sorted(torch.load(path).items())}


@torch.no_grad()
def offset_parts(model: nn.Module, data: Splits, loss: str, *, seed: int, batch_size: int,
                 repeats: int, epoch: int, epoch_mean: float) -> dict[str, float]:
    """Why the write-up's training curve (the train-mode mean over an epoch) differs from the training
    pairs measured in eval mode after it, split in two parts that add up to the whole.

    ``model``: the run's weights at the end of ``epoch``; ``epoch_mean``: that epoch's ``train_loss``.
    The epoch's own batches (same ``seed``, ``repeats``, ``batch_size``, so the same samples in the
    same batches) are passed again through a copy of the model, once in train mode (batch
    normalisation with each batch's statistics, as during training, but with the end-of-epoch
    weights) and once in eval mode (running statistics). Returns, in units of the run's loss:

    - ``train_mode_end``, ``eval_end``: the two means (``eval_end`` is the run's ``train_eval_loss``
      when that was measured on all its training pairs);
    - ``lag = epoch_mean - train_mode_end``: what the weights moving during the epoch add (the same
      batches, the same normalisation; only the weights differ);
    - ``batchnorm = train_mode_end - eval_end``: what batch statistics in place of running
      statistics add (the same weights, the same samples);
    - ``total = lag + batchnorm = epoch_mean - eval_end``.

    Each pass runs on a fresh copy, so the model's running statistics stay as they were (train mode
    updates them).
    """
    check_loss(loss)
    for name, value in (("batch_size", batch_size), ("repeats", repeats), ("epoch", epoch)):
        positive_int(name, value)
    if not math.isfinite(epoch_mean):
        raise ValueError(f"epoch_mean must be a finite number; got {epoch_mean!r}")
    objective = PatternObjective(loss)
    loader = _train_loader(data, repeats, batch_size, seed)
    means = {}
    for name, train_mode in (("train_mode_end", True), ("eval_end", False)):
        probe = copy.deepcopy(model).cpu().train(train_mode)  # a fresh copy: train mode moves the statistics
        loader.set_epoch(epoch)
        total, count = 0.0, 0
        for step, (x, y) in enumerate(loader, start=1):
            total += float(objective(probe, x, y, Step(epoch, step, len(loader)))["loss"]) * len(x)
            count += len(x)
        means[name] = total / count
    lag = epoch_mean - means["train_mode_end"]
    batchnorm = means["train_mode_end"] - means["eval_end"]
    return {"epoch_mean": float(epoch_mean), **means, "lag": lag, "batchnorm": batchnorm,
            "total": lag + batchnorm}
