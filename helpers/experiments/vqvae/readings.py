"""Notebook 07's Fréchet-distance readings, and what moves them besides the loss: the image set, the
seed and the sample size.

    real, readings = fd_readings(extractors, {"A": (set_a, outputs_a), "B": (set_b, outputs_b)})
    effects = image_set_effects(readings, names)  # per layer: how far values and differences move
    print(effects_table(effects, floors))

A *reading* is one feature layer on one image set, named ``"<layer> · <set>"``; it holds, per
configuration, one distance per seed between the set's real images and that run's reconstructions of
them. Two readings of one layer share the runs and differ only in the images.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import linregress, pearsonr
from torch import Tensor

from helpers.fid import feature_distance

Readings = dict[str, dict[str, list[float]]]


def fd_readings(extractors: Mapping[str, Callable[[Tensor], Tensor]],
                sets: Mapping[str, tuple[Tensor, Mapping[str, Sequence[Tensor]]]]
                ) -> tuple[dict[str, dict[str, Tensor]], Readings]:
    """For each layer's feature extractor and each image set ``{set: (real images, {configuration:
    [reconstruction per seed]})}`` (images ``(N, C, H, W)`` in [0, 1]): ``real[layer][set]``, the real
    images' features, and ``readings["<layer> · <set>"][configuration]``, the Fréchet distance of each
    seed's reconstructions to the real images (:func:`helpers.fid.feature_distance`)."""
    real: dict[str, dict[str, Tensor]] = {}
    readings: Readings = {}
    for layer, extract in extractors.items():
        real[layer] = {}
        for name, (images, outputs) in sets.items():
            real[layer][name] = reals = extract(images)
            readings[f"{layer} · {name}"] = {config: [feature_distance(reals, extract(o)) for o in per_seed]
                                              for config, per_seed in outputs.items()}
    return real, readings


def _pair_differences(values: Mapping[str, Sequence[float]], names: Sequence[str]) -> list[list[float]]:
    """Per pair (a, b) of ``names`` in order, the seed-paired differences FD(b) - FD(a)."""
    return [[y - x for x, y in zip(values[a], values[b], strict=True)]
            for i, a in enumerate(names) for b in names[i + 1:]]


def image_set_effects(readings: Readings, names: Sequence[str], sets: tuple[str, str] = ("A", "B")
                      ) -> dict[str, dict[str, float]]:
    """Per layer with readings on both ``sets``, what the image set and the seed do:

    - ``shift``, ``shift_std``: mean and std over runs of FD on the second set less FD on the first;
    - ``move``, ``move_max``: median and largest ``|FD_A - FD_B|`` of a run;
    - ``seed_std``, ``seed_std_max``: median and largest std over seeds of a configuration's FD (set A);
    - ``pair_move``, ``pair_move_max``: median and largest move of a seed-paired difference between two
      configurations from one set to the other, ``pair_seed_std`` the median std over seeds of those
      differences (NaN with one seed), ``pair_size`` the median ``|d|`` on set A and ``correlation``
      Pearson's r of the differences on the two sets (NaN with fewer than 3).

    A comparison's noise from the image set is ``pair_move`` against ``pair_seed_std``."""
    first, second = sets
    found = {}
    for reading in readings:
        layer, image_set = reading.rsplit(" · ", 1)
        if image_set != first or f"{layer} · {second}" not in readings:
            continue
        a, b = readings[reading], readings[f"{layer} · {second}"]
        shift = [y - x for n in names for x, y in zip(a[n], b[n], strict=True)]
        stds = [statistics.stdev(a[n]) if len(a[n]) > 1 else 0.0 for n in names]
        d_a, d_b = _pair_differences(a, names), _pair_differences(b, names)
        flat_a, flat_b = [v for d in d_a for v in d], [v for d in d_b for v in d]
        moves = [abs(x - y) for x, y in zip(flat_a, flat_b, strict=True)]
        pair_stds = [statistics.stdev(d) for d in d_a if len(d) > 1]
        found[layer] = {
            "shift": statistics.mean(shift), "shift_std": statistics.stdev(shift) if len(shift) > 1 else 0.0,
            "move": statistics.median(abs(v) for v in shift), "move_max": max(abs(v) for v in shift),
            "seed_std": statistics.median(stds), "seed_std_max": max(stds),
            "pair_move": statistics.median(moves) if moves else float("nan"),
            "pair_move_max": max(moves) if moves else float("nan"),
            "pair_seed_std": statistics.median(pair_stds) if pair_stds else float("nan"),
            "pair_size": statistics.median(abs(v) for v in flat_a) if flat_a else float("nan"),
            "correlation": float(pearsonr(flat_a, flat_b).statistic) if len(flat_a) > 2 else float("nan")}
    return found


def effects_table(effects: Mapping[str, Mapping[str, float]], floors: Mapping[str, float],
                  splits: Mapping[str, tuple[float, float]]) -> str:
    """:func:`image_set_effects` per layer beside the real-vs-real distance of the two sets
    (``floors``) and its mean and std over random disjoint splits (``splits``), one line a layer."""
    lines = [f"{'layer':>14} {'real A vs B':>11} {'random splits':>15} {'run A-to-B':>10} {'seed std':>9} "
             f"{'pair A-to-B':>11} {'pair seed std':>13} {'|d|':>8} {'corr(d_A, d_B)':>14}"]
    for layer, e in effects.items():
        mean, std = splits[layer]
        lines.append(f"{layer:>14} {floors[layer]:11.4g} {mean:8.4g} ± {std:<5.2g} {e['move']:10.4g} "
                     f"{e['seed_std']:9.4g} {e['pair_move']:11.3g} {e['pair_seed_std']:13.3g} "
                     f"{e['pair_size']:8.3g} {e['correlation']:14.5f}")
    return "\n".join(lines)


def bias_slope(sizes: Sequence[int], distances: Sequence[float]) -> float:
    """The slope of log FD against log n (:func:`scipy.stats.linregress`): -1 for a bias that falls as
    1/n, -1/2 for a noise level that falls as 1/sqrt(n)."""
    if len(sizes) != len(distances) or len(sizes) < 2 or min(sizes) <= 0 or min(distances) <= 0:
        raise ValueError(f"sizes and distances must be two or more positive numbers each, as many of one as "
                         f"of the other; got {list(sizes)} and {list(distances)}")
    return float(linregress(np.log(sizes), np.log(distances)).slope)
