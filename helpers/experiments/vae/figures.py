"""Notebook 04's rate-distortion figure: for each loss's grid of KL weights (seed 0), the rate
against each measure of the test report, with the matched-rate arms (mean ± std over seeds).

    fig = rate_distortion(curves, {"mse": mse_arm, "ms_ssim": msssim_arm}, target, title)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from helpers.stats import summarise

#: The panels: a test-report column and its title.
PANELS: tuple[tuple[str, str], ...] = (
    ("ms_ssim", "MS-SSIM, 3 scales × 7 taps\n(the course's 32 px variant; higher is better)"),
    ("mse", "MSE (lower is better)"), ("sharpness", "gradient energy / originals'"),
    ("edges", "originals' edges reproduced"), ("high_freq", "high-frequency share / originals'"))
_COLOURS = {"mse": "tab:blue", "ms_ssim": "tab:orange"}
_NAMES = {"mse": "MSE", "ms_ssim": "1 − MS-SSIM"}
_MARKERS = {"mse": "s", "ms_ssim": "D"}


def rate_distortion(curves: Mapping[str, Sequence[tuple[float, Mapping[str, float]]]],
                    arms: Mapping[str, Sequence[Mapping[str, float]]], target: float, title: str) -> Figure:
    """One panel per :data:`PANELS` entry: rate (KL, nats per image, log axis) against the measure,
    ``curves[loss]`` the ``(beta, test report)`` of each grid run (a line per loss), ``arms[loss]``
    the matched-rate arm's reports (a black marker with its seed std), ``target`` the matched rate
    (a dashed line)."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(20, 4.4))
    for ax, (column, panel_title) in zip(axes, PANELS, strict=True):
        for loss, points in curves.items():
            ax.plot([p["kl"] for _, p in points], [p[column] for _, p in points], "o-", color=_COLOURS[loss],
                    label=f"trained with {_NAMES[loss]} (β grid, seed 0)")
        for loss, arm in arms.items():
            summary = summarise(arm)
            ax.errorbar(summary["kl"][0], summary[column][0], xerr=summary["kl"][1], yerr=summary[column][1],
                        fmt=_MARKERS[loss], color="black", ms=6, capsize=3, zorder=5)
        ax.axvline(target, color="grey", ls="--", lw=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("rate: KL (nats per image)", fontsize=10)
        ax.set_title(panel_title, fontsize=11)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=10)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # room for the legend below
    return fig
