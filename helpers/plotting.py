"""Saving figures: one helper, so every figure is named, sized and recorded the same way.

Figures are named after their notebook, ``<notebook>__<name>.png`` (for example
``01_variance_identity__local_stats.png``), and listed in ``manifest.json`` beside them with the
notebook, profile and caption that made them. A ``smoke`` run writes under ``runs/smoke/figures/``
and never touches the tracked ``figures/`` folder (see :func:`helpers.config.figures_dir`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from matplotlib.figure import Figure

from helpers.config import figures_dir, resolve_profile

_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_NOTEBOOK = re.compile(r"^\d\d_[a-z0-9_]+$")
MANIFEST = "manifest.json"


def save_figure(
    fig: Figure, notebook: str, name: str, caption: str, profile: str | None = None, dpi: int = 100
) -> Path:
    """Save ``fig`` as ``<notebook>__<name>.png`` in the profile's figure folder; return its path.

    ``notebook``: the notebook's stem, e.g. ``"01_variance_identity"``; ``name``: lower-case words
    joined by ``_``; ``caption``: one sentence, recorded in the manifest. ``dpi`` keeps PNGs small.
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

    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[path.name] = {"notebook": notebook, "profile": profile, "caption": caption.strip()}
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    return path
