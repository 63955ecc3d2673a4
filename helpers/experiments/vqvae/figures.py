"""Notebook 07's figures: codebook usage per epoch, the Fréchet-distance table as dots per seed, and
the time of a training step relative to MSE's. One colour per loss (:func:`colour`); a mixture
MSE + w * loss is drawn hollow or dashed.

    fig = codebook_usage({name: [read_codes(run.run_dir) for run in runs]}, codes=512, title="...")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from helpers import stats
from helpers.experiments.vqvae.configurations import TITLES, colour


def codebook_usage(codes: Mapping[str, Sequence[Sequence[Mapping[str, float]]]], size: int, title: str
                   ) -> Figure:
    """Perplexity and dead codes per epoch (two panels), per configuration (``codes[name]``: one
    :func:`read_codes` list per seed): each seed a thin line, the mean ± std over seeds with markers.
    ``size``: the codebook's K."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, per_seed in codes.items():
        mixture = "+" in name
        style = dict(color=colour(name), linestyle="--" if mixture else "-", marker="s" if mixture else "o",
                     markerfacecolor="white" if mixture else None)
        for ax, key in zip(axes, ("perplexity", "dead_codes"), strict=True):
            # (seeds, epochs)
            values = np.array([[row[key] for row in rows] for rows in per_seed], dtype=float)
            epochs = np.arange(1, values.shape[1] + 1)
            for seed_values in values:
                ax.plot(epochs, seed_values, color=colour(name), alpha=0.55, linewidth=1.1,
                        linestyle=style["linestyle"])
            ax.errorbar(epochs, values.mean(0), yerr=values.std(0, ddof=1) if len(values) > 1 else None,
                        capsize=2, label=name, **style)
            ax.set_xticks(epochs)
            ax.set_xlabel("epoch", fontsize=10)
    axes[0].set_ylabel(f"code perplexity (of K = {size})", fontsize=10)
    axes[1].set_ylabel(f"dead codes in the epoch (of K = {size})", fontsize=10)
    axes[1].legend(fontsize=8, ncol=1, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def fd_table(readings: Mapping[str, Mapping[str, Sequence[float]]], layers: Sequence[str],
             floors: Mapping[str, float], metric: str, title: str) -> Figure:
    """One panel per layer: each configuration's distance on set A per seed (dots; hollow for a
    mixture) with its mean ± std, a grey cross at its mean on set B joined to set A's, and the
    real-vs-real distance of the two sets (dotted). Rows sorted by the last layer's mean on set A."""
    names = list(readings[f"{layers[-1]} · A"])
    order = sorted(names, key=lambda n: np.mean(readings[f"{layers[-1]} · A"][n]))
    y = np.arange(len(order))
    fig, axes = plt.subplots(1, len(layers), figsize=(4.6 * len(layers) + 1.2, 0.34 * len(order) + 1.9),
                             squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        values = readings[f"{layer} · A"]
        for i, name in enumerate(order):
            v = np.asarray(values[name])
            ax.scatter(v, np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), s=14, color=colour(name),
                       facecolors="white" if "+" in name else colour(name), zorder=3)
            ax.errorbar(v.mean(), i, xerr=np.std(v, ddof=1) if len(v) > 1 else 0.0, fmt="|",
                        color=colour(name), capsize=3, markersize=12, zorder=2)
        ax.axvline(floors[layer], color="black", linestyle=":", label=f"real A vs B ({floors[layer]:.3g})")
        means_a = [np.mean(values[name]) for name in order]
        means_b = [np.mean(readings[f"{layer} · B"][name]) for name in order]
        ax.hlines(y + 0.3, means_a, means_b, color="grey", linewidth=1.2, zorder=1)
        ax.scatter(means_b, y + 0.3, marker="x", s=16, color="grey", zorder=2,
                   label="mean on set B (line from set A's)")
        ax.set_yticks(y, order, fontsize=9)
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric}; dots and bars: set A, x: set B", fontsize=10)
        ax.set_title(f"layer: {layer}", fontsize=10)
        ax.legend(fontsize=7.5, loc="upper right")  # the top rows are the lowest values
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def step_time(ratios: Mapping[str, Mapping[str, stats.Interval]], names: Sequence[str], limit: float,
              title: str) -> Figure:
    """Bars of each loss's step time over MSE's with their intervals, one group per timed network
    (``ratios[label][name]``, hatched after the first), and the write-up's limit (dashed)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    bar = 0.8 / max(len(ratios), 1)
    for i, (label, rel) in enumerate(ratios.items()):
        x = np.arange(len(names)) + i * bar
        estimates = [rel[n].estimate for n in names]
        ax.bar(x, estimates, bar, color=[colour(n) for n in names], edgecolor="black",
               hatch="" if i == 0 else "//", label=label)
        ax.errorbar(x, estimates, yerr=[[rel[n].estimate - rel[n].low for n in names],
                                        [rel[n].high - rel[n].estimate for n in names]],
                    fmt="none", ecolor="black", capsize=3)
    ax.axhline(limit, color="tab:red", linestyle="--", label=f"the write-up's +{100 * (limit - 1):.0f} %")
    ax.axhline(1.0, color="black", linewidth=0.6)
    ax.set_xticks(np.arange(len(names)) + bar * (len(ratios) - 1) / 2, [TITLES[n] for n in names], fontsize=9)
    ax.set_ylabel("step time / MSE's, same round", fontsize=10)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
