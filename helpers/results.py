"""The per-run measurements a training notebook's claims are decided from, saved as small JSON files.

A notebook calls :func:`save` with the final metrics of each of its runs and the verdicts it printed.
The ``cpu`` profile's files are the course's reference results: they go to ``results/<notebook>/`` and
are committed, so that the unit tests re-decide each claim from them without training, and
``python -m helpers.tools.generate`` writes the README's result numbers from them. Every other profile writes
to ``runs/<profile>/results/<notebook>/`` (git-ignored), so a smoke, GPU or Colab run never changes
the committed files.

A file holds ``{"notebook", "name", "profile", "environment": {...}, "data": ...}``; ``data`` is whatever
JSON the notebook passes (lists, dicts, numbers, strings), floats written as Python writes them.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helpers import config

REFERENCE_PROFILE = "cpu"  # the profile whose results are committed and quoted in the README


def results_dir(notebook: str, profile: str | None = None) -> Path:
    """``results/<notebook>/`` for the reference profile, ``runs/<profile>/results/<notebook>/`` else."""
    profile = config.resolve_profile(profile)
    if profile == REFERENCE_PROFILE:
        return config.repo_root() / "results" / notebook
    return config.runs_dir(profile) / "results" / notebook


def environment() -> dict[str, Any]:
    """What the numbers may move with: torch's version, its thread count, ``OMP_NUM_THREADS`` and the
    Python version (no host name, no path, no date)."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "python": platform.python_version()}


def _check_json(value: Any, where: str = "data") -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must hold finite numbers (JSON has no NaN); got {value!r}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} must have string keys; got {key!r}")
            _check_json(item, f"{where}[{key!r}]")
        return
    raise ValueError(f"{where} must be JSON: lists, dicts with string keys, numbers, strings; got "
                     f"{type(value).__name__} {value!r}")


def save(notebook: str, name: str, data: Any, profile: str | None = None) -> Path:
    """Write ``data`` (JSON: finite numbers, strings, lists, dicts with string keys) as
    ``<name>.json`` in :func:`results_dir`, through a temporary file so that an interrupted write
    leaves the old file whole. Returns the path."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"name must be a plain file name without '/'; got {name!r}")
    _check_json(data)
    profile = config.resolve_profile(profile)
    folder = results_dir(notebook, profile)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    record = {"notebook": notebook, "name": name, "profile": profile, "environment": environment(),
              "data": data}
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
    temporary.replace(path)
    return path


def load(notebook: str, name: str, profile: str | None = REFERENCE_PROFILE) -> dict[str, Any]:
    """The whole record of ``<name>.json`` (``data``, ``environment``, ...). Raises
    ``FileNotFoundError`` naming the file and the notebook that writes it."""
    path = results_dir(notebook, profile) / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run notebook {notebook} with profile {profile!r} "
                                "to write it")
    return json.loads(path.read_text())


def _numbers(value: Any, path: str = "") -> dict[str, float]:
    """Every number of a JSON value, keyed by its path (``matched/mse/0/kl``)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return {}
    if isinstance(value, int | float):
        return {path: float(value)}
    items = value.items() if isinstance(value, dict) else enumerate(value)
    found = {}
    for key, item in items:
        found.update(_numbers(item, f"{path}/{key}" if path else str(key)))
    return found


@dataclass(frozen=True)
class Replication:
    """Two runs of one notebook's record compared: the verdicts that differ (claim -> (first,
    second)), how many claims got the same verdict in both (verdict -> count), how many numbers the
    records share, the median and the largest relative move of a number, ``|b - a| / max(|a|, |b|)``
    (0 where both are 0), and the path of the largest."""

    notebook: str
    verdicts_changed: dict[str, tuple[str, str]]
    verdicts_kept: dict[str, int]
    claims: int
    numbers: int
    largest_move: float
    largest_at: str
    median_move: float


def compare(notebook: str, first: Mapping[str, Any], second: Mapping[str, Any],
            ignore: Sequence[str] = ()) -> Replication:
    """Compare two records (:func:`load` results) of ``notebook``: their ``data["verdicts"]`` and every
    number they share (the verdicts, the seeds and the keys of ``data`` named in ``ignore`` aside, such as
    step times measured anew on every run). Records that state their ``design`` must state the same one,
    else ``ValueError``: a replication reruns one design, it does not compare two."""
    a, b = first["data"], second["data"]
    if a.get("design") != b.get("design"):
        differ = sorted(k for k in set(a.get("design") or {}) | set(b.get("design") or {})
                        if (a.get("design") or {}).get(k) != (b.get("design") or {}).get(k))
        raise ValueError(f"the two records of {notebook} must have the same design to be compared; they "
                         f"differ in {differ or 'whether they state one'}")
    va, vb = a.get("verdicts", {}), b.get("verdicts", {})
    changed = {k: (va.get(k, "missing"), vb.get(k, "missing")) for k in sorted(set(va) | set(vb))
               if va.get(k) != vb.get(k)}
    kept = dict(sorted(Counter(v for k, v in va.items() if vb.get(k) == v).items()))
    na, nb = _numbers({k: v for k, v in a.items() if k not in ("verdicts", "seeds", *ignore)}), _numbers(b)
    shared = [k for k in na if k in nb]
    moves = {k: abs(nb[k] - na[k]) / max(abs(na[k]), abs(nb[k])) if na[k] != nb[k] else 0.0 for k in shared}
    worst = max(moves, key=moves.get) if moves else ""
    median = float(np.median(list(moves.values()))) if moves else 0.0
    return Replication(notebook, changed, kept, len(set(va) | set(vb)), len(shared), moves.get(worst, 0.0),
                       worst, median)
