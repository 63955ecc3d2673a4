"""Profiles, devices, seeds and the course's standard paths.

A *profile* says how big a run is. There are three, held in one table, :data:`PROFILES`:

- ``smoke``: what CI runs on two CPU cores; tiny data, one or two epochs, seconds per notebook.
- ``cpu``: a laptop; real data, minutes per notebook, reproduces each claim qualitatively.
- ``full``: a GPU; the write-ups' own sizes and epochs.

Every notebook resolves its profile with :func:`resolve_profile` and reads its sizes from
:func:`settings`. Paths come from :func:`repo_root`, never from the working directory: papermill,
nbval and Colab each start the kernel in a different one.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PROFILE_ENV = "COURSE_PROFILE"
ROOT_ENV = "COURSE_ROOT"


@dataclass(frozen=True)
class Profile:
    """The settings of one profile. Sizes are upper bounds; a notebook may use less."""

    name: str
    description: str
    train_samples: int  # images per training set (at most)
    val_samples: int  # images per validation or test set (at most)
    epochs: int  # training epochs of notebooks 04-07
    batch_size: int
    fid_samples: int  # generated images scored by notebook 07
    timing_repeats: int  # interleaved repeats of each timed call
    tracked_figures: bool  # True: figures go to figures/ (tracked); False: to runs/<name>/figures/


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("smoke", "CI on 2 CPU cores: tiny data, seconds per notebook",
                train_samples=256, val_samples=64, epochs=1, batch_size=32,
                fid_samples=64, timing_repeats=3, tracked_figures=False),
        Profile("cpu", "a laptop CPU: real data, minutes per notebook",
                train_samples=10_000, val_samples=2_000, epochs=10, batch_size=64,
                fid_samples=1_000, timing_repeats=15, tracked_figures=True),
        Profile("full", "a GPU: the write-ups' own sizes and epochs",
                train_samples=60_000, val_samples=10_000, epochs=100, batch_size=32,
                fid_samples=2_000, timing_repeats=50, tracked_figures=True),
    )
}


def resolve_profile(name: str | None = None) -> str:
    """Return the profile to use: ``name`` if given, else ``$COURSE_PROFILE`` if set,
    else ``"full"`` on a CUDA GPU and ``"cpu"`` otherwise.

    Raises ``ValueError`` naming the valid profiles when the chosen name is not one of them.
    """
    source = "profile"
    if name is None:
        name = os.environ.get(PROFILE_ENV) or None
        source = f"${PROFILE_ENV}"
    if name is None:
        return "full" if torch.cuda.is_available() else "cpu"
    if not isinstance(name, str) or name not in PROFILES:
        raise ValueError(
            f"{source} must be one of {', '.join(repr(p) for p in PROFILES)}; got {name!r}"
        )
    return name


def settings(name: str | None = None) -> Profile:
    """The :class:`Profile` chosen by :func:`resolve_profile` (``name``, env, or device)."""
    return PROFILES[resolve_profile(name)]


def device() -> torch.device:
    """The best device here: ``cuda`` if available, else Apple's ``mps``, else ``cpu``."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices) with ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (the legacy global generator, which libraries still use)
    torch.manual_seed(seed)


def _looks_like_root(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() and (path / "helpers").is_dir()


def repo_root() -> Path:
    """The repository's root folder, wherever the kernel was started.

    ``$COURSE_ROOT`` wins if set; then the folder above this package (an editable install or a
    clone on ``sys.path``); then the nearest folder above the working directory that holds
    ``pyproject.toml`` and ``helpers/``. Raises ``FileNotFoundError`` if none is found.
    """
    override = os.environ.get(ROOT_ENV)
    if override:
        path = Path(override).expanduser().resolve()
        if not _looks_like_root(path):
            raise FileNotFoundError(
                f"${ROOT_ENV} must name the course's root (with pyproject.toml and helpers/); "
                f"got {override!r}"
            )
        return path
    here = Path(__file__).resolve().parents[1]
    if _looks_like_root(here):
        return here
    for path in (Path.cwd(), *Path.cwd().parents):
        if _looks_like_root(path):
            return path
    raise FileNotFoundError(
        "cannot find the course's root folder (with pyproject.toml and helpers/); "
        f"set ${ROOT_ENV} to it"
    )


def notebooks_dir() -> Path:
    """``notebooks/``: the course's notebooks, outputs stripped."""
    return repo_root() / "notebooks"


def course_notebooks(folder: Path | None = None) -> list[Path]:
    """The course's notebooks, ``NN_*.ipynb``, in order, from ``folder`` (default: ``notebooks/``)."""
    folder = notebooks_dir() if folder is None else folder
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.is_file())


def data_dir() -> Path:
    """``data/``: downloaded or staged data sets (git-ignored apart from its README)."""
    return repo_root() / "data"


def runs_dir(profile: str | None = None) -> Path:
    """``runs/<profile>/``: executed notebooks, checkpoints and histories (git-ignored)."""
    return repo_root() / "runs" / resolve_profile(profile)


def figures_dir(profile: str | None = None) -> Path:
    """Where figures of ``profile`` go: ``figures/`` (tracked) for ``cpu`` and ``full``,
    ``runs/smoke/figures/`` for ``smoke``, so a smoke run never touches tracked files."""
    chosen = settings(profile)
    if chosen.tracked_figures:
        return repo_root() / "figures"
    return runs_dir(chosen.name) / "figures"
