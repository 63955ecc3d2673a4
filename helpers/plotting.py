"""Figures: one saver, so every figure is named and recorded the same way, and the common plots.

Figures are named after their notebook, ``<notebook>__<name>.png`` (for example
``01_variance_identity__local_stats.png``), and listed in ``manifest.json`` beside them with the
notebook, profile, caption, device, data source, date and commit that made them. A ``smoke`` run
writes under ``runs/smoke/figures/`` and never touches the tracked ``figures/`` folder (see
:func:`helpers.config.figures_dir`).

:func:`image_grid` shows rows of images (originals over reconstructions, one strip per epoch);
:func:`loss_curves` shows a training history's train and validation curves.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from helpers.config import device, figures_dir, repo_root, resolve_profile
from helpers.images import as_image
from helpers.locks import exclusive

_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_NOTEBOOK = re.compile(r"^\d\d_[a-z0-9_]+$")
MANIFEST = "manifest.json"


def _commit() -> str:
    """The repository's current commit (short), or ``"unknown"`` outside a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo_root(),
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def save_figure(
    fig: Figure,
    notebook: str,
    name: str,
    caption: str,
    profile: str | None = None,
    dpi: int = 100,
    data_source: str | None = None,
) -> Path:
    """Save ``fig`` as ``<notebook>__<name>.png`` in the profile's figure folder; return its path.

    ``notebook``: the notebook's stem, e.g. ``"01_variance_identity"``; ``name``: lower-case words
    joined by ``_``; ``caption``: one sentence, recorded in the manifest. ``dpi`` keeps PNGs small.
    ``data_source``: what the figure shows data of, e.g. ``info.label`` of
    :func:`helpers.data.get_dataset` (which says "synthetic stand-in" where it is one).
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure; got {type(fig).__name__}")
    if not _NOTEBOOK.match(notebook):
        raise ValueError(f"notebook must look like '01_variance_identity'; got {notebook!r}")
    if not _NAME.match(name):
        raise ValueError(f"name must be lower-case letters, digits and '_'; got {name!r}")
    if not caption.strip():
        raise ValueError("caption must be a non-empty sentence saying what the figure shows")
    profile = resolve_profile(profile)
    folder = figures_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{notebook}__{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})

    entry = {
        "notebook": notebook,
        "profile": profile,
        "caption": caption.strip(),
        "device": device().type,
        "data_source": data_source,
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "commit": _commit(),
    }
    manifest_path = folder / MANIFEST
    # several processes (the tasks of a job array, notebooks run side by side) may record figures at
    # once: read, change and write under one lock (a git-ignored file under runs/), and write to a
    # temporary file that replaces the manifest in one step, so no reader sees half a file
    with exclusive(repo_root() / "runs" / "figures-manifest.lock"):
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        manifest[path.name] = entry
        temporary = manifest_path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
        os.replace(temporary, manifest_path)
    return path


def image_grid(
    rows: Sequence[torch.Tensor], row_titles: Sequence[str] | None = None, columns: int = 8,
    size: float = 1.2, title: str | None = None,
) -> Figure:
    """One row of images per tensor: e.g. ``[originals, reconstructions]`` or one strip per epoch.

    ``rows``: tensors ``(N, C, H, W)`` with values in [0, 1] (C = 1 shown in grey, C = 3 in colour);
    the first ``columns`` images of each are shown. ``row_titles``: one label per row, at its left.
    """
    if len(rows) == 0:
        raise ValueError("rows must hold at least one (N, C, H, W) tensor; got none")
    if row_titles is not None and len(row_titles) != len(rows):
        raise ValueError(f"row_titles must have one title per row ({len(rows)}); got {len(row_titles)}")
    for i, r in enumerate(rows):
        if r.dim() != 4:
            raise ValueError(f"rows[{i}] must have shape (N, C, H, W); got shape {tuple(r.shape)}")
    shown = min(columns, max(len(r) for r in rows))
    fig, axes = plt.subplots(len(rows), shown, figsize=(size * shown, size * len(rows)), squeeze=False)
    for i, r in enumerate(rows):
        for j in range(shown):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(r):
                ax.imshow(np.clip(as_image(r, j), 0, 1), cmap="gray", vmin=0, vmax=1)
        if row_titles is not None:
            axes[i, 0].set_ylabel(row_titles[i], rotation=0, ha="right", va="center", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def loss_curves(
    history: Sequence[Mapping[str, float]], components: Sequence[str] = ("loss",),
    splits: Sequence[str] = ("train", "train_eval", "val"), title: str | None = None,
) -> Figure:
    """Per-epoch curves of a :func:`helpers.train.fit` history: one panel per loss component.

    ``history``: rows with ``epoch`` and ``<split>_<component>`` keys; ``splits``: which of ``train``
    (train mode, during the epoch), ``train_eval`` (eval mode, a fixed training subset) and ``val``.
    """
    if len(history) == 0:
        raise ValueError("history must hold at least one epoch; got none")
    missing = [f"{s}_{c}" for s in splits for c in components if f"{s}_{c}" not in history[0]]
    if missing:
        raise ValueError(f"history has no column(s) {missing}; its columns are {list(history[0])}")
    styles = {"train": ("tab:blue", "-"), "train_eval": ("tab:blue", "--"), "val": ("tab:orange", "-")}
    labels = {"train": "train (train mode)", "train_eval": "train (eval mode)", "val": "validation"}
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, len(components), figsize=(4.2 * len(components), 3.2), squeeze=False)
    for ax, component in zip(axes[0], components, strict=True):
        for split in splits:
            colour, line = styles.get(split, ("tab:grey", ":"))
            ax.plot(epochs, [row[f"{split}_{component}"] for row in history], line, color=colour,
                    label=labels.get(split, split), marker="o" if len(epochs) < 15 else None, ms=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(component)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
