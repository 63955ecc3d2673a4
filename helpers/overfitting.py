"""Notebook 06's experiment: the GDN network maps a density image to its diffraction pattern, trained
with 100 (1 - MS-SSIM), MSE or BCE, and the train/validation gap that follows.

    data = pattern_data(train=512, val=256)  # densities in, pseudo-LACBED patterns out, 128 x 128
    run = train_pattern_model(data, "ms_ssim", seed=0, code_size=64, width=16, epochs=8, batch_size=32,
                              lr=1e-3, root=runs_dir() / "06_overfitting")
    rule = gap_onset(run.history, "train_eval_loss")  # the epoch the gap starts to widen, or None

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
normalisation in train mode). The rules for the derived numbers (the onsets with a patience, the
relative gap and its mean over the last epochs, a run that diverges) are the functions below; the
notebook states them.

Every claim the notebook makes is decided by :func:`claims` from each run's final measurements
(:func:`run_record`, saved by the notebook through :mod:`helpers.results`) alone: a seed-paired
difference of two arms (:func:`helpers.stats.paired_difference`; seed s is the same initial weights and
the same batch order in every arm), "holds" only where its interval excludes 0. The tests re-decide
the saved reference run with the same function, and :func:`readme_summary` words it for the README.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from helpers import results, stats
from helpers.data import DatasetInfo, load_split
from helpers.loader import TensorLoader
from helpers.losses import get_loss
from helpers.models.gdn_autoencoder import SIDE, GDNAutoencoder
from helpers.ssim import ms_ssim_options_for_size
from helpers.train import Step, fit, load_run, read_history, run_directory

#: The losses the study compares, and the factor on each (the study minimised 100 (1 - MS-SSIM)).
LOSS_SCALES: dict[str, float] = {"ms_ssim": 100.0, "mse": 1.0, "bce": 1.0}
#: The common scales every run is measured on, in eval mode: name -> loss of helpers.losses.
METRICS: tuple[str, ...] = ("mse", "bce", "ms_ssim_loss")
#: The 12 fixed validation images whose outputs are kept after every epoch (the study's figure).
SNAPSHOT_COUNT = 12
SNAPSHOTS = "snapshots.pt"


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")


def _check_loss(loss: str) -> None:
    if loss not in LOSS_SCALES:
        raise ValueError(f"loss must be one of {tuple(LOSS_SCALES)}; got {loss!r}")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatternData:
    """Pairs in memory: ``train`` and ``val`` are ``(densities, patterns)``, float32 ``(N, 1, 128,
    128)`` in [0, 1] (the density image is the input, the pattern the target); ``info`` and
    ``val_info`` say where they came from (a synthetic stand-in, named so)."""

    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor]
    info: DatasetInfo
    val_info: DatasetInfo

    def first(self, count: int) -> PatternData:
        """The same data with only the first ``count`` training pairs (validation unchanged)."""
        _check_positive_int("count", count)
        if count > len(self.train[0]):
            raise ValueError(f"count must be at most the {len(self.train[0])} training pairs; got {count}")
        return PatternData(tuple(t[:count] for t in self.train), self.val,
                           dataclasses.replace(self.info, size=count), self.val_info)


def pattern_data(train: int, val: int, name: str = "pseudo-lacbed", progress: bool = True) -> PatternData:
    """The first ``train`` and ``val`` pairs of the ``train`` and ``val`` splits of ``name``
    (``"pseudo-lacbed"``, the study's kind of pattern, or ``"pseudo-diffraction"``, spots), at 128 x 128,
    never resized. Made once and cached under ``data/`` (about 60-90 pairs a second to make)."""
    _check_positive_int("train", train)
    _check_positive_int("val", val)
    splits = {}
    for split, size in (("train", train), ("val", val)):
        loaded = load_split(name, split, size=size, progress=progress)
        if loaded.densities is None:
            raise ValueError(f"name must be a data set with paired density images ('pseudo-lacbed' or "
                             f"'pseudo-diffraction'); got {name!r}")
        splits[split] = loaded
    return PatternData((splits["train"].densities, splits["train"].images),
                       (splits["val"].densities, splits["val"].images),
                       splits["train"].info, splits["val"].info)


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
        _check_loss(loss)
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
        _check_positive_int(name, value)
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


def _train_loader(data: PatternData, repeats: int, batch_size: int, seed: int) -> TensorLoader:
    """The training batches of a run: each pair ``repeats`` times an epoch, shuffled from ``(seed,
    epoch)``; the first ``len(data.train[0])`` samples are the distinct pairs."""
    tiled = tuple(torch.cat([t] * repeats) for t in data.train)
    return TensorLoader(*tiled, batch_size=batch_size, shuffle=True, seed=seed, drop_last=True,
                        info=data.info)


@dataclass
class PatternRun:
    """A finished run: ``model`` (eval mode, CPU), its ``history`` (one dict per epoch), its folder, and
    ``snapshots``: ``{epoch: outputs (12, 1, 128, 128) float32}`` of the first 12 validation images."""

    model: nn.Module
    history: list[dict]
    run_dir: Path
    snapshots: dict[int, Tensor]


def train_pattern_model(data: PatternData, loss: str, seed: int, *, code_size: int, width: int,
                        epochs: int, batch_size: int, lr: float, root: Path, repeats: int = 1,
                        train_eval_size: int | None = None, device: torch.device | str | None = None,
                        progress: bool = True) -> PatternRun:
    """Train (or reload) the GDN network with ``loss`` on ``data``: the same network, data, budget and
    seed for every arm; the initial weights and the batch order come from ``seed``.

    ``repeats``: each training pair appears this many times per epoch (shuffled together), so that a
    smaller training set can be trained for the same number of steps per epoch as a larger one and
    measured at the same steps (the data-size sweep). ``train_eval_size``: training pairs measured in
    eval mode after each epoch (default: as many as the validation set, at most the distinct training
    pairs). After each epoch the outputs for the first :data:`SNAPSHOT_COUNT` validation images are
    kept (``snapshots.pt``).
    """
    _check_loss(loss)
    for name, value in (("code_size", code_size), ("width", width), ("epochs", epochs),
                        ("batch_size", batch_size), ("repeats", repeats)):
        _check_positive_int(name, value)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise ValueError(f"lr must be a positive number; got {lr!r}")
    sizes = [len(data.train[0]), len(data.val[0])]
    if sizes[0] * repeats < batch_size:
        raise ValueError(f"batch_size must be at most the {sizes[0]} x {repeats} training pairs of an epoch; "
                         f"got {batch_size}")
    train_eval_size = min(sizes) if train_eval_size is None else train_eval_size
    _check_positive_int("train_eval_size", train_eval_size)
    if train_eval_size > sizes[0]:
        raise ValueError(f"train_eval_size must be at most the {sizes[0]} distinct training pairs; "
                         f"got {train_eval_size}")
    config = {"model": "gdn_autoencoder", "loss": loss, "scale": LOSS_SCALES[loss], "seed": seed,
              "code_size": code_size, "width": width, "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "sizes": sizes, "repeats": repeats, "train_eval_size": train_eval_size,
              "ms_ssim_options": ms_ssim_options()}
    run_dir = run_directory(root, f"{loss}-code{code_size}-n{sizes[0]}-seed{seed}", config,
                            data=[data.info, data.val_info])
    torch.manual_seed(seed)
    model = GDNAutoencoder(1, width, code_size)
    train = _train_loader(data, repeats, batch_size, seed)
    val = TensorLoader(*data.val, batch_size=64, info=data.val_info)
    shown = data.val[0][:SNAPSHOT_COUNT]
    path = run_dir / SNAPSHOTS
    snapshots: dict[int, Tensor] = torch.load(path) if path.exists() else {}

    def keep(epoch: int, row: dict) -> None:
        model.eval()
        with torch.no_grad():
            snapshots[epoch] = model(shown.to(next(model.parameters()).device)).cpu().half()
        torch.save(snapshots, path)

    fit(model, PatternObjective(loss), train, val, epochs, run_dir, metrics=pattern_metrics(), lr=lr,
        seed=seed, device=device, train_eval_size=train_eval_size, progress=progress, on_epoch_end=keep)
    finished = load_run(run_dir)
    return PatternRun(finished.model, read_history(run_dir), run_dir,
                      {e: s.float() for e, s in sorted(snapshots.items())})


@torch.no_grad()
def offset_parts(model: nn.Module, data: PatternData, loss: str, *, seed: int, batch_size: int,
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
    _check_loss(loss)
    for name, value in (("batch_size", batch_size), ("repeats", repeats), ("epoch", epoch)):
        _check_positive_int(name, value)
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


# --------------------------------------------------------------------------------------------
# The derived numbers, each by a stated rule
# --------------------------------------------------------------------------------------------


def _column(history: Sequence[Mapping[str, float]], key: str) -> np.ndarray:
    if not history:
        raise ValueError("history must hold at least one epoch; got none")
    if key not in history[0]:
        raise ValueError(f"history has no column {key!r}; its columns are {list(history[0])}")
    return np.array([row[key] for row in history], dtype=float)


def relative_gap(history: Sequence[Mapping[str, float]], train_key: str = "train_eval_loss",
                 val_key: str = "val_loss") -> np.ndarray:
    """Per epoch, ``(val - train) / val``: the share of the validation loss that the training images
    do not pay. Scale-free, so losses of different units compare; 0 without a gap, negative where the
    training measure is the larger (the train-mode epoch mean early on)."""
    train, val = _column(history, train_key), _column(history, val_key)
    if np.any(val <= 0):
        raise ValueError(f"{val_key} must be positive to divide by; got {val.tolist()}")
    return (val - train) / val


def tail_mean(values: Sequence[float], count: int = 3) -> float:
    """The mean of the last ``count`` values (all of them if there are fewer): a run's end, less
    dependent on its last epoch alone."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 1:
        raise ValueError(f"values must be a non-empty sequence of numbers; got {values!r}")
    _check_positive_int("count", count)
    return float(values[-count:].mean())


def _check_values(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 1 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be a non-empty sequence of finite numbers; got {values.tolist()}")
    return values


def plateau_onset(values: Sequence[float], patience: int = 3, tolerance: float = 0.01) -> int | None:
    """The epoch (1-based) at which a validation loss *stops improving*, by early stopping's rule:
    the first epoch ``e`` whose value is the best so far and after which ``patience`` epochs bring
    no value below ``(1 - tolerance)`` times it. None when no epoch has ``patience`` epochs after it
    without such an improvement (still improving, or too few epochs left to tell)."""
    values = _check_values(values)
    _check_positive_int("patience", patience)
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must be in [0, 1); got {tolerance!r}")
    for e in range(len(values) - patience):
        if values[e] > values[:e + 1].min():
            continue  # not the best so far
        if np.all(values[e + 1:e + 1 + patience] >= (1 - tolerance) * values[e]):
            return e + 1
    return None


def gap_onset(history: Sequence[Mapping[str, float]], train_key: str = "train_eval_loss",
              val_key: str = "val_loss", rise: float = 0.05, patience: int = 3) -> int | None:
    """The epoch (1-based) from which the train/validation gap *stays widened*, or None.

    With ``g`` the :func:`relative_gap` per epoch and ``floor = max(min(g), 0)`` (the gap at its
    narrowest, or no gap at all where the training measure was above validation): the onset is the
    first epoch ``e`` from which every ``g`` to the end is at least ``rise`` above ``floor`` (5
    points of the validation loss by default), for at least ``patience`` epochs. A single wide epoch
    at the end does not count, nor a gap that is negative and closes (a train-mode mean that lags and
    catches up): the training measure must stay *below* validation by ``rise``."""
    if not 0 < rise < 1:
        raise ValueError(f"rise must be in (0, 1); got {rise!r}")
    _check_positive_int("patience", patience)
    gap = relative_gap(history, train_key, val_key)
    wide = gap >= max(float(gap.min()), 0.0) + rise
    for e in range(len(gap) - patience + 1):
        if wide[e:].all():
            return e + 1
    return None


def diverged(values: Sequence[float], ratio: float = 1.5) -> bool:
    """Whether a run *diverges*: its last validation loss is more than ``ratio`` times its best
    (50 % above by default). Flagged, not dropped: the notebook prints such runs and the means with
    and without them."""
    values = _check_values(values)
    if not ratio > 1:
        raise ValueError(f"ratio must be above 1; got {ratio!r}")
    return bool(values[-1] > ratio * values.min())


def gap_growth(history: Sequence[Mapping[str, float]], train_key: str = "train_eval_loss",
               val_key: str = "val_loss", count: int = 3) -> float:
    """How far a run's :func:`relative_gap` has moved since its first epoch: the mean over its last
    ``count`` epochs less the gap after epoch 1. The two sets of pairs differ before the network has
    learnt anything specific to its training pairs (another set of crystals, see
    :func:`mean_pattern_baseline`); that offset is in the epoch-1 gap and drops out of the growth."""
    gap = relative_gap(history, train_key, val_key)
    return tail_mean(gap, count) - float(gap[0])


@torch.no_grad()
def mean_pattern_baseline(data: PatternData, metrics: Mapping[str, nn.Module] | None = None,
                          batch_size: int = 64) -> dict[str, dict[str, float]]:
    """The predictor that outputs the mean training pattern for every input, measured as the runs are:
    ``{metric: {"train": value on all training pairs, "val": on the validation pairs, "gap": (val -
    train) / val}}`` for each of ``metrics`` (default :func:`pattern_metrics`). It has learnt nothing
    about any one pair, so its gap is the offset between the two sets of pairs on that scale alone."""
    _check_positive_int("batch_size", batch_size)
    metrics = pattern_metrics() if metrics is None else metrics
    mean = data.train[1].mean(0, keepdim=True)
    found = {}
    for name, metric in metrics.items():
        values = {}
        for split, (_, targets) in (("train", data.train), ("val", data.val)):
            total = 0.0
            for start in range(0, len(targets), batch_size):
                batch = targets[start:start + batch_size]
                total += float(metric(mean.expand_as(batch), batch)) * len(batch)
            values[split] = total / len(targets)
        if values["val"] <= 0:
            raise ValueError(f"the mean pattern's validation {name} must be positive to divide by; "
                             f"got {values['val']}")
        found[name] = {**values, "gap": (values["val"] - values["train"]) / values["val"]}
    return found



# --------------------------------------------------------------------------------------------
# The claims, decided from each run's final measurements alone
# --------------------------------------------------------------------------------------------

#: How the claims name each loss.
LOSS_NAMES: dict[str, str] = {"ms_ssim": "MS-SSIM", "mse": "MSE", "bce": "BCE"}
#: The groups of claims in the notebook's order: its sections 3 (learning), 4 (offsets), 5 (outputs),
#: 6 (code), 7 (data) and 8 (questions, with the verdicts made of other claims).
CLAIM_GROUPS: tuple[str, ...] = ("learning", "offsets", "outputs", "code", "data", "questions")
#: What names a run in the saved data: its loss, code size, training pairs and seed.
RUN_IDENTITY: tuple[str, ...] = ("loss", "code", "pairs", "seed")


def run_record(history: Sequence[Mapping[str, float]], *, loss: str, code: int, pairs: int, seed: int,
               tail: int = 3) -> dict:
    """A run's identity and the final measurements the claims are computed from, as JSON:

    - ``train_eval_loss``, ``val_loss``: its own loss on all its training pairs and on the validation
      pairs (eval mode), each the :func:`tail_mean` of the last ``tail`` epochs;
    - ``val_ms_ssim_loss``: its validation 1 - MS-SSIM, the same epochs;
    - ``gap``: its :func:`relative_gap` on its own loss in eval mode, ``gap_train_mode`` the same with
      the train-mode epoch mean (the write-up's curve), ``common_gap`` the relative gap of
      1 - MS-SSIM, each the mean of the last ``tail`` epochs; ``growth``: :func:`gap_growth`;
    - ``val_first``, ``val_last``: its validation loss after the first and after the last epoch.

    The notebook adds what it measures besides (the offsets, the shown outputs, the onsets)."""
    _check_loss(loss)
    for name, value in (("code", code), ("pairs", pairs), ("tail", tail)):
        _check_positive_int(name, value)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    val = _column(history, "val_loss")
    common = relative_gap(history, "train_eval_ms_ssim_loss", "val_ms_ssim_loss")
    return {"loss": loss, "code": code, "pairs": pairs, "seed": seed,
            "train_eval_loss": tail_mean(_column(history, "train_eval_loss"), tail),
            "val_loss": tail_mean(val, tail),
            "val_ms_ssim_loss": tail_mean(_column(history, "val_ms_ssim_loss"), tail),
            "gap": tail_mean(relative_gap(history), tail),
            "gap_train_mode": tail_mean(relative_gap(history, "train_loss"), tail),
            "common_gap": tail_mean(common, tail), "growth": gap_growth(history, count=tail),
            "val_first": float(val[0]), "val_last": float(val[-1])}


@dataclass(frozen=True)
class Claim:
    """One claim of notebook 06 and its ``verdict`` ("holds", "reversed" or "unresolved").

    A measured claim has a ``difference``: ``a - b`` paired by seed
    (:func:`helpers.stats.paired_difference`), oriented so that "holds" is the claim as its ``name``
    words it; ``seeds`` are the seeds paired, and ``unpaired`` names the runs without a partner (two
    arms are paired on the seeds both have). A claim made of others has no difference but ``parts``
    (their names) and a ``note`` with its rule."""

    name: str
    group: str
    verdict: str
    difference: stats.Difference | None = None
    seeds: tuple[int, ...] = ()
    unpaired: str = ""
    parts: tuple[str, ...] = ()
    note: str = ""

    def describe(self, digits: int = 4) -> str:
        """One line: the name, then the difference with its interval and verdict (and what the design
        resolves, if unresolved), or the verdict with its rule."""
        if self.difference is None:
            return f"{self.name}: {self.verdict}" + (f" ({self.note})" if self.note else "")
        text = f"{self.name}: {self.difference.describe(digits)}"
        return text + (f"; {self.unpaired}" if self.unpaired else "")


def _loss_name(pairs: int, other: str, how: str) -> str:
    if how == "common":
        return f"loss, {pairs} pairs: MS-SSIM gap larger than {LOSS_NAMES[other]}'s on 1 - MS-SSIM"
    return f"loss, {pairs} pairs: MS-SSIM gap grows more than {LOSS_NAMES[other]}'s since epoch 1"


def _code_name(loss: str, code: int, shown: int, pairs: int, what: str) -> str:
    where = f"({LOSS_NAMES[loss]}, {pairs} pairs)"
    return {"worse": f"code: code {code} fits the training pairs worse than code {shown} {where}",
            "better": f"code: code {code} fits the training pairs better than code {shown} {where}",
            "better_val": f"code: code {code} fits the validation pairs better than code {shown} {where}",
            "narrower": f"code: the gap narrower with code {code} than code {shown} {where}"}[what]


def _data_name(loss: str, fewest: int, most: int, shown: int) -> str:
    return f"data: the gap larger with {fewest} pairs than with {most} ({LOSS_NAMES[loss]}, code {shown})"


def claim_names(design: Mapping) -> dict[str, str]:
    """The names of the claims the notebook's questions and the README rest on, by role:
    ``loss_common_<other>``, ``loss_growth_<other>`` (question 1's parts, ``other`` mse or bce, at the
    code sweep's size), ``fit_train``, ``fit_val``, ``narrower`` (question 2's parts),
    ``control_fit``, ``control_gap`` (the positive control), ``data`` (MS-SSIM), ``measurement``, and
    the claims made of others: ``question_1``, ``question_2``, ``control``, ``survives``."""
    shown, few, main = design["shown_code"], design["code_pairs"], design["train_images"]
    small, large = min(design["codes"]), max(design["codes"])
    names = {f"loss_{how}_{other}": _loss_name(few, other, how) for other in ("mse", "bce")
             for how in ("common", "growth")}
    return names | {
        "fit_train": _code_name("ms_ssim", large, shown, few, "better"),
        "fit_val": _code_name("ms_ssim", large, shown, few, "better_val"),
        "narrower": _code_name("ms_ssim", large, shown, few, "narrower"),
        "control_fit": _code_name("ms_ssim", small, shown, few, "worse"),
        "control_gap": _code_name("ms_ssim", small, shown, few, "narrower"),
        "data": _data_name("ms_ssim", min(design["train_sizes"]), max(design["train_sizes"]), shown),
        "measurement": f"measurement: the train-mode gap below the eval-mode gap (MS-SSIM, {main} pairs)",
        "question_1": f"question 1 (loss): the MS-SSIM gap larger than MSE's and BCE's by both measures "
                      f"({few} pairs)",
        "question_2": f"question 2 (code): code {large} relieves a bottleneck of code {shown} (MS-SSIM, "
                      f"{few} pairs)",
        "control": f"control: code {small} fits worse and narrows the gap (MS-SSIM, {few} pairs)",
        "survives": "the write-up's explanation survives (questions 1 and 2)",
    }


def _any_of(verdicts: Sequence[str]) -> str:
    """The verdict of "at least one of these holds": "holds" when one holds, "reversed" when each is
    reversed, else "unresolved"."""
    if not verdicts or any(v not in stats.VERDICTS for v in verdicts):
        raise ValueError(f"verdicts must be a non-empty list of {stats.VERDICTS}; got {list(verdicts)!r}")
    if stats.HOLDS in verdicts:
        return stats.HOLDS
    return stats.REVERSED if all(v == stats.REVERSED for v in verdicts) else stats.UNRESOLVED


Arm = tuple[dict[int, float], str]  # {seed: value} of one arm, and its label


def _arm(data: Mapping, loss: str, code: int, pairs: int, key: str) -> Arm:
    """``({seed: run[key]}, label)`` of every saved run of one arm."""
    label = f"{LOSS_NAMES[loss]} code {code}, {pairs} pairs"
    found: dict[int, float] = {}
    for run in data["runs"]:
        if (run["loss"], run["code"], run["pairs"]) != (loss, code, pairs):
            continue
        if key not in run:
            raise ValueError(f"the run of {label}, seed {run['seed']} has no {key!r}; it has {sorted(run)}")
        if run["seed"] in found:
            raise ValueError(f"data holds the run of {label}, seed {run['seed']} twice")
        found[run["seed"]] = float(run[key])
    if not found:
        raise ValueError(f"data has no run of {label}, which a claim needs")
    return found, label


def _constant(value: float, like: Arm, label: str) -> Arm:
    """``value`` for every seed of the arm ``like``: a one-sample comparison in the paired form."""
    return {seed: float(value) for seed in like[0]}, label


def _compare(name: str, group: str, a: Arm, b: Arm, level: float) -> Claim:
    """The claim ``a > b``, paired on the seeds both arms have (the others named in ``unpaired``)."""
    seeds = sorted(set(a[0]) & set(b[0]))
    if not seeds:
        raise ValueError(f"{name!r}: the arms {a[1]} and {b[1]} share no seed to pair on")
    left = [f"seed {', '.join(map(str, sorted(set(arm) - set(seeds))))} of {label}"
            for arm, label in (a, b) if set(arm) - set(seeds)]
    unpaired = f"paired on the seeds both arms have; unpaired: {'; '.join(left)}" if left else ""
    found = stats.paired_difference([a[0][s] for s in seeds], [b[0][s] for s in seeds], level)
    return Claim(name, group, found.verdict, found, tuple(seeds), unpaired)


def claims(data: Mapping, groups: Sequence[str] | None = None) -> dict[str, Claim]:
    """Every claim of notebook 06, decided from its saved ``data`` alone (what the notebook passes to
    ``helpers.results.save``): ``{"design": {...}, "baseline": {...}, "runs": [run_record, ...]}``.

    ``design``: ``losses``, ``swept`` (the losses of the sweeps), ``shown_code``, ``code_pairs`` (the
    code sweep's and the questions' training pairs), ``train_images``, ``codes``, ``train_sizes`` and
    ``level``; ``baseline``: :func:`mean_pattern_baseline` by training pairs (a string key). Each
    measured claim is a seed-paired :func:`helpers.stats.paired_difference` at ``level``. ``groups``:
    some of :data:`CLAIM_GROUPS` (default all; the claims made of others only with all). Returns
    ``{name: Claim}`` in the notebook's order. Raises ``ValueError`` when a run a claim needs is
    missing."""
    design = data["design"]
    level = design["level"]
    groups = CLAIM_GROUPS if groups is None else tuple(groups)
    if not groups or any(g not in CLAIM_GROUPS for g in groups):
        raise ValueError(f"groups must be some of {CLAIM_GROUPS}; got {list(groups)!r}")
    names = claim_names(design)
    shown, few, main = design["shown_code"], design["code_pairs"], design["train_images"]
    small, large = min(design["codes"]), max(design["codes"])
    fewest, most = min(design["train_sizes"]), max(design["train_sizes"])
    found: dict[str, Claim] = {}

    def add(name: str, group: str, a: Arm, b: Arm) -> None:
        if name in found:
            raise ValueError(f"two claims are named {name!r}")
        found[name] = _compare(name, group, a, b, level)

    def arm(loss: str, key: str, code: int = shown, pairs: int = main) -> Arm:
        return _arm(data, loss, code, pairs, key)

    if "learning" in groups:
        baseline = data["baseline"][str(main)]["ms_ssim_loss"]["val"]
        for loss in design["losses"]:
            name = LOSS_NAMES[loss]
            add(f"learning: the {name} model's validation loss lower after the last epoch than the first",
                "learning", arm(loss, "val_first"), arm(loss, "val_last"))
            model = arm(loss, "val_ms_ssim_loss")
            add(f"learning: the {name} model's validation 1 - MS-SSIM below the mean pattern's ({main} "
                "pairs)", "learning", _constant(baseline, model, "the mean pattern"), model)
    if "offsets" in groups:
        for loss in design["losses"]:
            for key, what in (("bn_rel", "batch normalisation in train mode"),
                              ("lag_rel", "the lag of the weights during the epoch")):
                part = arm(loss, key)
                add(f"offset: {what} raises the {LOSS_NAMES[loss]} model's epoch mean", "offsets", part,
                    _constant(0.0, part, "0"))
        add(names["measurement"], "offsets", arm("ms_ssim", "gap"), arm("ms_ssim", "gap_train_mode"))
        train_mode = arm("ms_ssim", "gap_train_mode")
        add(f"measurement: the train-mode epoch mean ends above the validation loss (MS-SSIM, {main} "
            "pairs)", "offsets", _constant(0.0, train_mode, "0"), train_mode)
    if "outputs" in groups:
        add("outputs: the MS-SSIM model's shown outputs closer to their patterns after the last epoch "
            "than the first (1 - MS-SSIM)", "outputs", arm("ms_ssim", "shown_first"),
            arm("ms_ssim", "shown_last"))
        add("outputs: clamping the MSE model's outputs at 0.999 lowers their BCE", "outputs",
            arm("mse", "bce_raw"), arm("mse", "bce_clamped"))
    if "code" in groups:
        for loss in design["swept"]:
            for code in design["codes"]:
                if code != shown:
                    add(_code_name(loss, code, shown, few, "worse"), "code",
                        arm(loss, "train_eval_loss", code, few), arm(loss, "train_eval_loss", shown, few))
                    add(_code_name(loss, code, shown, few, "narrower"), "code", arm(loss, "gap", shown, few),
                        arm(loss, "gap", code, few))
    if "data" in groups:
        for loss in design["swept"]:
            add(_data_name(loss, fewest, most, shown), "data", arm(loss, "gap", shown, fewest),
                arm(loss, "gap", shown, most))
    if "questions" in groups:
        for pairs in dict.fromkeys((few, main)):  # the questions' size, then the full set for the record
            for other in ("mse", "bce"):
                for how, key in (("common", "common_gap"), ("growth", "growth")):
                    add(_loss_name(pairs, other, how), "questions", arm("ms_ssim", key, shown, pairs),
                        arm(other, key, shown, pairs))
        if large != shown:
            for role, key in (("fit_train", "train_eval_loss"), ("fit_val", "val_loss")):
                add(names[role], "questions", arm("ms_ssim", key, shown, few),
                    arm("ms_ssim", key, large, few))
    if groups != CLAIM_GROUPS:
        return found

    def made_of(role: str, verdict: str, parts: Sequence[str], note: str) -> None:
        found[names[role]] = Claim(names[role], "questions", verdict, parts=tuple(parts), note=note)

    parts = [names[f"loss_{how}_{other}"] for other in ("mse", "bce") for how in ("common", "growth")]
    made_of("question_1", stats.all_of([found[p].verdict for p in parts]), parts,
            "each of its four parts must hold")
    if large != shown:
        parts = [names["fit_train"], names["fit_val"], names["narrower"]]
        verdict = stats.all_of([_any_of([found[p].verdict for p in parts[:2]]), found[parts[2]].verdict])
        made_of("question_2", verdict, parts,
                "it must fit the training or the validation pairs better, and its gap must be narrower")
    else:
        made_of("question_2", stats.UNRESOLVED, (), f"no code larger than {shown} in this design")
    if small != shown:
        parts = [names["control_fit"], names["control_gap"]]
        made_of("control", stats.all_of([found[p].verdict for p in parts]), parts, "both parts must hold")
    else:
        made_of("control", stats.UNRESOLVED, (), f"no code smaller than {shown} in this design")
    parts = [names["question_1"], names["question_2"]]
    made_of("survives", stats.all_of([found[p].verdict for p in parts]), parts, "both questions must hold")
    return found


def _said(claim: Claim, digits: int = 3) -> str:
    """A measured claim in a few words: its difference and interval, and its verdict (with what the
    design resolves, when unresolved)."""
    d = claim.difference
    text = f"{d.mean:+#.{digits}g} [{d.low:+#.{digits}g}, {d.high:+#.{digits}g}]"
    if claim.verdict == stats.UNRESOLVED:
        return f"{text} (unresolved; resolvable: ±{d.resolvable:#.2g})"
    return f"{text} ({claim.verdict})"


def readme_summary(data: Mapping) -> str:
    """One Markdown paragraph (at most 220 words) on what the run of ``data`` found, every number
    formatted from ``data``: question 1's differences, question 2's, the control, the data effect and
    the measurement, each with its interval and verdict (and what the design resolves where
    unresolved), and how many claims hold, are reversed or are unresolved."""
    design, found = data["design"], claims(data)
    names = claim_names(design)
    runs = data["runs"]
    arms = {(r["loss"], r["code"], r["pairs"]) for r in runs}
    seeds = sorted({sum((r["loss"], r["code"], r["pairs"]) == a for r in runs) for a in arms})
    counts = {v: sum(c.verdict == v for c in found.values()) for v in stats.VERDICTS}
    shown, few = design["shown_code"], design["code_pairs"]
    large, small = max(design["codes"]), min(design["codes"])
    fewest, most = min(design["train_sizes"]), max(design["train_sizes"])

    def said(role: str) -> str:
        return _said(found[names[role]])

    def verdict(role: str) -> str:
        return f"**{found[names[role]].verdict}**"

    code = (f"Code {large} against {shown}: training loss lower by {said('fit_train')}, gap narrower by "
            f"{said('narrower')}; question 2 (code) {verdict('question_2')}." if large != shown
            else f"Question 2 (code) {verdict('question_2')}: no code larger than {shown}.")
    seed_range = (f"{seeds[0]}–{seeds[-1]} seeds" if len(seeds) > 1
                  else f"{seeds[0]} seed{'s' * (seeds[0] > 1)}")
    run = "Reference run" if design["profile"] == results.REFERENCE_PROFILE else "Run"
    is_are = "is" if counts["reversed"] == 1 else "are"
    main = design["train_images"]
    at_main = [found[_loss_name(main, other, how)].verdict for other in ("mse", "bce")
               for how in ("common", "growth") if _loss_name(main, other, how) in found]
    main_text = (f" At {main} pairs the same four are {', '.join(at_main)}; {few} pairs was chosen after "
                 f"earlier runs of these seeds showed a gap there."
                 if at_main and main != few else "")
    return (
        f"{run} (`{design['profile']}` profile, {design['label']}, {len(runs)} runs of "
        f"{design['steps']} steps, {seed_range} an arm; every verdict a {100 * design['level']:g} % "
        f"seed-paired t-interval). At {few} pairs the MS-SSIM model's gap on 1 − MS-SSIM exceeds MSE's by "
        f"{said('loss_common_mse')} and BCE's by {said('loss_common_bce')}; with the gaps' growth, "
        f"question 1 (loss) {verdict('question_1')}.{main_text} {code} The control, code {small}: fits "
        f"worse by {said('control_fit')}, gap narrower by {said('control_gap')}, together "
        f"{verdict('control')}. {fewest} pairs against {most} widen the MS-SSIM gap by {said('data')}. "
        f"The train-mode gap lies below the eval-mode one by {said('measurement')}. The write-up's "
        f"explanation: {verdict('survives')}. Of {len(found)} claims {counts['holds']} "
        f"hold{'s' * (counts['holds'] == 1)}, {counts['reversed']} {is_are} reversed and "
        f"{counts['unresolved']} unresolved, each at 95 % and not corrected for their number (about "
        f"{0.05 * len(found):.1f} would be expected to hold or reverse by chance if nothing differed).")
