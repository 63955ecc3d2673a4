"""The derived numbers of notebook 06, each by a stated rule: the relative train/validation gap, its
growth and its mean over the last epochs, the onsets (with a patience), a run that diverges, the mean
pattern's baseline, and the record of each run that the claims are decided from.

    gap = relative_gap(run.history)      # per epoch, (val - train) / val
    onset = gap_onset(run.history)       # the epoch from which the gap stays widened, or None
    record = run_record(run.history, loss="ms_ssim", code=64, pairs=512, seed=0)  # saved, then judged
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from helpers.checks import non_negative_int, positive_int
from helpers.data import Splits
from helpers.experiments.overfitting.runs import check_loss, pattern_metrics


def column(history: Sequence[Mapping[str, float]], key: str) -> np.ndarray:
    """The values of ``key`` over a run's epochs, float64 ``(epochs,)``."""
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
    train, val = column(history, train_key), column(history, val_key)
    if np.any(val <= 0):
        raise ValueError(f"{val_key} must be positive to divide by; got {val.tolist()}")
    return (val - train) / val


def tail_mean(values: Sequence[float], count: int = 3) -> float:
    """The mean of the last ``count`` values (all of them if there are fewer): a run's end, less
    dependent on its last epoch alone."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 1:
        raise ValueError(f"values must be a non-empty sequence of numbers; got {values!r}")
    positive_int("count", count)
    return float(values[-count:].mean())


def _finite_values(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 1 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be a non-empty sequence of finite numbers; got {values.tolist()}")
    return values


def plateau_onset(values: Sequence[float], patience: int = 3, tolerance: float = 0.01) -> int | None:
    """The epoch (1-based) at which a validation loss *stops improving*, by early stopping's rule:
    the first epoch ``e`` whose value is the best so far and after which ``patience`` epochs bring
    no value below ``(1 - tolerance)`` times it. None when no epoch has ``patience`` epochs after it
    without such an improvement (still improving, or too few epochs left to tell)."""
    values = _finite_values(values)
    positive_int("patience", patience)
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
    positive_int("patience", patience)
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
    values = _finite_values(values)
    if not ratio > 1:
        raise ValueError(f"ratio must be above 1; got {ratio!r}")
    return bool(values[-1] > ratio * values.min())


def gap_growth(history: Sequence[Mapping[str, float]], train_key: str = "train_eval_loss",
               val_key: str = "val_loss", count: int = 3) -> float:
    """How far a run's :func:`relative_gap` has moved since its first epoch: the mean over its last
    ``count`` epochs less the gap after epoch 1. It does not remove the offset between the two sets of
    pairs (:func:`mean_pattern_baseline`): after one epoch a model is often worse than the mean pattern,
    and that shared error dilutes the offset, which then emerges as the model improves. So the notebook
    decides nothing on it: it compares gaps only between models that beat the mean pattern."""
    gap = relative_gap(history, train_key, val_key)
    return tail_mean(gap, count) - float(gap[0])


@torch.no_grad()
def mean_pattern_baseline(data: Splits, metrics: Mapping[str, nn.Module] | None = None,
                          batch_size: int = 64) -> dict[str, dict[str, float]]:
    """The predictor that outputs the mean training pattern for every input, measured as the runs are:
    ``{metric: {"train": value on all training pairs, "val": on the validation pairs, "gap": (val -
    train) / val}}`` for each of ``metrics`` (default :func:`pattern_metrics`). It has learnt nothing
    about any one pair, only the training mean: its gap is the offset between the two sets of pairs on
    that scale plus its own fit to the training pairs (larger for fewer pairs), a reference for what a
    model that learnt nothing pair-specific shows."""
    positive_int("batch_size", batch_size)
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


def run_record(history: Sequence[Mapping[str, float]], *, loss: str, code: int, pairs: int, seed: int,
               tail: int = 3, passes_per_epoch: int = 1) -> dict:
    """A run's identity and the final measurements the claims are computed from, as JSON:

    - ``train_eval_loss``, ``val_loss``: its own loss on all its training pairs and on the validation
      pairs (eval mode), each the :func:`tail_mean` of the last ``tail`` epochs;
    - ``val_ms_ssim_loss``: its validation 1 - MS-SSIM, the same epochs;
    - ``gap``: its :func:`relative_gap` on its own loss in eval mode, ``gap_train_mode`` the same with
      the train-mode epoch mean (the write-up's curve), ``gap_on_<metric>`` the relative gap on each
      common scale (``ms_ssim_loss``, ``mse``, ``bce``), each the mean of the last ``tail`` epochs;
      ``growth``: :func:`gap_growth`;
    - ``val_first``, ``val_last``: its validation loss after the first and after the last epoch;
    - ``gaps``, ``val_losses``: its relative gap and its validation loss on its own loss in eval mode
      after every epoch, and
      ``passes_per_epoch``: how many times each training pair is seen in an epoch (the ``repeats`` of a
      smaller set), so runs on different numbers of pairs compare at the same passes.

    The notebook adds what it measures besides (the offsets, the shown outputs, the onsets)."""
    check_loss(loss)
    for name, value in (("code", code), ("pairs", pairs), ("tail", tail),
                        ("passes_per_epoch", passes_per_epoch)):
        positive_int(name, value)
    non_negative_int("seed", seed)
    val = column(history, "val_loss")
    common = {f"gap_on_{m}": tail_mean(relative_gap(history, f"train_eval_{m}", f"val_{m}"), tail)
              for m in ("ms_ssim_loss", "mse", "bce")}
    return {"loss": loss, "code": code, "pairs": pairs, "seed": seed,
            "train_eval_loss": tail_mean(column(history, "train_eval_loss"), tail),
            "val_loss": tail_mean(val, tail),
            "val_ms_ssim_loss": tail_mean(column(history, "val_ms_ssim_loss"), tail),
            "gap": tail_mean(relative_gap(history), tail),
            "gap_train_mode": tail_mean(relative_gap(history, "train_loss"), tail),
            **common, "growth": gap_growth(history, count=tail),
            "val_first": float(val[0]), "val_last": float(val[-1]), "gaps": relative_gap(history).tolist(),
            "val_losses": val.tolist(), "passes_per_epoch": passes_per_epoch}
