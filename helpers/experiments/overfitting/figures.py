"""The figures of notebook 06, each from the runs' histories: the training curves two ways (at the
main and at the questions' size), and the sweeps (code size, training pairs, the gap pass by pass).

    fig = curves(main, names=NAMES, title="...")  # main: {loss: [Run, ...]}, one run per seed

Lines are means over seeds, bands or dashes each seed's value (their range); every panel is labelled
with what it measures and in which mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter

from helpers.experiments.overfitting.rules import diverged, relative_gap
from helpers.experiments.overfitting.runs import LOSS_SCALES
from helpers.experiments.overfitting.verdicts import OWN_METRIC
from helpers.train import Run

_STYLES = {"train": ("tab:blue", "-", "train (train mode, epoch mean)"),
           "train_eval": ("tab:blue", "--", "train (eval mode, after the epoch)"),
           "val": ("tab:orange", "-", "validation (eval mode)")}


def band(runs: Sequence[Run], values: Callable[[Run], Sequence[float]]) -> tuple[np.ndarray, ...]:
    """Per epoch: the mean, min and max over ``runs`` of ``values(run)`` (one value per epoch)."""
    stacked = np.array([values(run) for run in runs], dtype=float)
    return stacked.mean(0), stacked.min(0), stacked.max(0)


def _draw(ax, x, runs: Sequence[Run], values, colour: str, line: str, label: str) -> tuple[np.ndarray, ...]:
    mean, low, high = band(runs, values)
    ax.plot(x, mean, line, color=colour, label=label, marker="o", ms=3)
    ax.fill_between(x, low, high, color=colour, alpha=0.2)
    return mean, low, high


def curves(main: Mapping[str, Sequence[Run]], names: Mapping[str, str], title: str,
           baseline: Mapping[str, Mapping[str, float]] | None = None, diverge_ratio: float = 1.5) -> Figure:
    """Three rows per loss (a column each): its own loss (train mode, eval mode, validation), its
    1 - MS-SSIM (the common scale), and the relative gap (val - train) / val measured both ways. The
    gap's y-axis is fitted to the eval-mode gap and the train-mode gap from epoch 3 on; a train-mode
    curve that jumps outside it at the first epochs is clipped, and the panel says so. ``baseline``:
    the mean pattern's measures on the same training pairs (metric -> {"val", "gap"}, as
    :attr:`Study.baseline` holds them), drawn dotted grey: its validation loss in the first two rows
    (the value a model must beat to have learnt anything), its relative gap in the third. A seed whose
    run :func:`diverged` (its last validation loss above ``diverge_ratio`` times its best) is named in
    its loss's first panel, since the mean and range it enters are then not those of a converging run."""
    losses = list(main)
    fig, axes = plt.subplots(3, len(losses), figsize=(4.4 * len(losses), 9.6), squeeze=False)
    for column, loss in enumerate(losses):
        epochs = np.arange(1, len(main[loss][0].history) + 1)
        for row, (suffix, ylabel) in enumerate((("loss", f"{names[loss]} (its own loss)"),
                                                ("ms_ssim_loss", "1 − MS-SSIM (common scale)"))):
            ax = axes[row, column]
            if baseline is not None:
                value = (LOSS_SCALES[loss] * baseline[OWN_METRIC[loss]]["val"] if suffix == "loss"
                         else baseline["ms_ssim_loss"]["val"])
                ax.axhline(value, color="grey", ls=":", lw=1.5, label="the mean pattern (validation)")
            for split, (colour, line, label) in _STYLES.items():
                key = f"{split}_{suffix}"
                if key in main[loss][0].history[0]:  # the train-mode mean: for the optimised loss only
                    _draw(ax, epochs, main[loss], lambda r, k=key: [h[k] for h in r.history], colour, line,
                          label)
            ax.set_ylabel(ylabel, fontsize=10)
            ax.set_title(f"trained with {names[loss]}", fontsize=10)
        seeds = [r.config.get("seed", i) for i, r in enumerate(main[loss])
                 if diverged([h["val_loss"] for h in r.history], diverge_ratio)]
        if seeds:
            note = (f"seed {', '.join(map(str, seeds))} diverges:\nlast validation loss "
                    f"> {diverge_ratio:g} × its best")
            axes[0, column].text(0.98, 0.97, note, transform=axes[0, column].transAxes, ha="right", va="top",
                                 fontsize=8, color="firebrick")
        ax, kept, every = axes[2, column], [np.zeros(1)], []
        for how in ("train", "train_eval"):
            _, line, label = _STYLES[how]
            _, low, high = _draw(ax, epochs, main[loss],
                                 lambda r, h=how: relative_gap(r.history, f"{h}_loss"), "tab:green", line,
                                 f"(val − {label}) / val")
            kept += [low, high] if how == "train_eval" else [low[2:], high[2:]]
            every += [low, high]
        if baseline is not None:
            reference = baseline[OWN_METRIC[loss]]["gap"]
            ax.axhline(reference, color="grey", ls=":", lw=1.5, label="the mean pattern's gap")
            kept.append(np.array([reference]))
        kept, every = np.concatenate(kept), np.concatenate(every)
        pad = 0.1 * (kept.max() - kept.min()) or 0.01
        ax.set_ylim(kept.min() - pad, kept.max() + pad)
        if every.min() < kept.min() - pad or every.max() > kept.max() + pad:
            ax.text(0.98, 0.03, "clipped: train-mode curve at the first epochs", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7, color="dimgrey")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylabel("relative gap (its own loss)", fontsize=10)
        for ax in axes[:, column]:
            ax.set_xlabel("epoch", fontsize=10)
            ax.tick_params(labelsize=9)
            ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    lines, labels = axes[0, 0].get_legend_handles_labels()
    gap_lines, gap_labels = axes[2, 0].get_legend_handles_labels()
    fig.legend(lines + gap_lines, labels + gap_labels, loc="lower center", ncol=4, fontsize=9,
               frameon=False)  # one legend for every panel, below them and off the data
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def sweeps(by_code: Mapping[str, Mapping[int, Sequence[float]]],
           by_size: Mapping[str, Mapping[int, Sequence[float]]],
           by_pass: Mapping[str, Mapping[int, tuple[np.ndarray, np.ndarray]]],
           names: Mapping[str, str], labels: Sequence[str], title: str, equal: int | None = None) -> Figure:
    """Three panels: the relative gap against the code size and against the training pairs (each
    seed a dash, the mean a dot, per loss), and the gap pass by pass (``by_pass``: ``{loss: {pairs:
    (passes, mean gap)}}``; ``equal``, where the sizes are compared pass for pass, a dotted line).
    ``labels``: the three panels' x-axis labels."""
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.7))
    colours = {"ms_ssim": "tab:orange", "mse": "tab:blue"}
    for ax, table, xlabel in zip(axes[:2], (by_code, by_size), labels[:2], strict=True):
        for loss, colour in colours.items():
            xs = sorted(table[loss])
            ax.plot(xs, [np.mean(table[loss][x]) for x in xs], "o-", color=colour,
                    label=f"trained with {names[loss]}")
            for x in xs:
                ax.plot([x] * len(table[loss][x]), table[loss][x], "_", color=colour, ms=10)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(xlabel, fontsize=10)
        ax.set_ylabel("relative gap, last epochs", fontsize=10)
    ax = axes[2]
    for loss, colour in colours.items():
        for k, (pairs, (passes, gaps)) in enumerate(sorted(by_pass[loss].items())):
            ax.plot(passes, gaps, ("-", "--", ":", "-.")[k % 4], marker="osD^"[k % 4], ms=4, color=colour,
                    label=f"{names[loss]}, {pairs} pairs")
    if equal is not None:
        ax.axvline(equal, color="black", linestyle=":", label=f"equal passes ({equal})")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.set_xlabel(labels[2], fontsize=10)
    ax.set_ylabel("relative gap (mean over seeds)", fontsize=10)
    for ax in axes:
        ax.axhline(0, color="grey", lw=0.8)
        ax.tick_params(labelsize=9)
    axes[0].legend(fontsize=8)
    axes[2].legend(fontsize=7, handlelength=3.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
