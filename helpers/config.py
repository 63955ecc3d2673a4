"""Profiles, devices, seeds and the course's standard paths.

A *profile* says how big a run is. There are four, held in one table, :data:`PROFILES`:

- ``smoke``: what CI runs on two CPU cores; tiny data, one or two epochs, seconds per notebook.
- ``cpu``: a laptop; real data, minutes per notebook, reproduces each claim qualitatively.
- ``gpu``: one GPU session (Colab's T4): each notebook within about 15 minutes; the default on CUDA.
- ``full``: the write-ups' own sizes and epochs, hours per notebook on a GPU; asked for by name only.

Every notebook resolves its profile with :func:`resolve_profile`; a training notebook reads its sizes
from its own table, :func:`notebook_settings` (one place for all of them: :data:`NOTEBOOK_SETTINGS`).
Paths come from :func:`repo_root`, never from the working directory: papermill, nbval and Colab each
start the kernel in a different one.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers.checks import non_negative_int

PROFILE_ENV = "COURSE_PROFILE"
ROOT_ENV = "COURSE_ROOT"


@dataclass(frozen=True)
class Profile:
    """What a profile means for every notebook; each training notebook's sizes are in its own table
    below (:data:`NOTEBOOK_SETTINGS`)."""

    name: str
    description: str
    relaxed: bool  # True: asserts on trained models use the relaxed tolerances their notebook states
    tracked_figures: bool  # True: figures go to figures/ (tracked); False: to runs/<name>/figures/


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("smoke", "CI on 2 CPU cores: tiny data, seconds per notebook", relaxed=True,
                tracked_figures=False),
        Profile("cpu", "a laptop CPU: real data, minutes per notebook", relaxed=False, tracked_figures=True),
        # figures of a gpu run go to runs/gpu/figures/: the tracked ones stay those of the reference run
        Profile("gpu", "one GPU session (a Colab T4): at most about 15 minutes per notebook", relaxed=False,
                tracked_figures=False),
        Profile("full", "long GPU batch runs: the write-ups' own sizes and epochs, hours per notebook",
                relaxed=False, tracked_figures=True),
    )
}

#: The profiles in order of size; the settings tables grow along it.
PROFILE_ORDER = ("smoke", "cpu", "gpu", "full")

# --------------------------------------------------------------------------------------------
# How the gpu profile is sized: counted FLOPs, an assumed throughput
# --------------------------------------------------------------------------------------------

#: The throughput assumed for a Colab T4 in float32 (amp off), FLOP/s: a quarter of its 8.1 TFLOP/s
#: peak, what small convolutional networks on 28-128 px images reach at best. An assumption, not a
#: measurement: the gpu profile has not been timed on a T4.
T4_ASSUMED_FLOPS = 2.0e12

#: What the ``gpu`` rows below cost, estimated as 3 x (forward FLOPs per image) x (images trained) /
#: :data:`T4_ASSUMED_FLOPS` (a training step costs about three forward passes). Forward FLOPs per
#: image counted with ``torch.utils.flop_counter.FlopCounterMode`` on the notebook's network at the
#: profile's sizes (a multiply-add counted as 2); images trained = runs x train_images x epochs, the
#: runs counted as the ``cpu`` profile makes them (the ``gpu`` rows keep its grids and seeds).
#: A second bound: steps x 5 ms, a guess at the per-step cost of launching the kernels of small
#: networks, which then dominates. Evaluation, Frechet distances and figures add a few minutes.
#: ``{notebook: (forward FLOPs per image, runs, images trained, FLOP-bound seconds, step-bound seconds)}``
GPU_ESTIMATE: dict[str, tuple[float, int, int, float, float]] = {
    # VAE (widths 32-256, 32 x 32 input): 22 runs (3 losses x 4 seeds, 8 grid runs less 2 shared, 4 matched)
    # x 10,000 x 10
    "04_el_vae": (20.4e6, 22, 2_200_000, 67.3, 171.9),
    # conditional VAE: 29 runs (24 in the grid, 4 at a matched rate, 1 at alpha = beta = 1) x 10,000 x 10,
    # and the classifier
    "05_cvae": (21.3e6, 29, 2_900_000, 92.7, 226.6),
    # GDN network at width 32 on 128 x 128 patterns: at most 32 runs x 2,000 x 20
    "06_overfitting": (176.9e6, 32, 1_280_000, 340.0, 200.0),
    # VQ-VAE (width 64, D 64, K 512) on 32 x 32 x 3: 13 configurations x 3 seeds x 20,000 x 8
    "07_fid_analysis": (45.1e6, 39, 6_240_000, 422.0, 244.0),
}


# --------------------------------------------------------------------------------------------
# Each training notebook's settings, one row per profile. Images are counts taken from the start of
# each split; ``seeds`` is how many seeds each arm is trained with (0, 1, ...).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VAESettings:
    """Notebook 04 (VAE, MS-SSIM + KL vs MSE + KL) and 05 (conditional VAE, MSE + a SSIM + b KL)."""

    data: str  # the data set of helpers.data
    train_images: int
    val_images: int  # validation: the matched-rate search (04) and the per-epoch history
    test_images: int  # the reported numbers only
    epochs: int
    seeds: int
    batch_size: int
    widths: tuple[int, ...]  # channels of the stride-2 blocks
    latent: int  # size of the code
    betas: tuple[float, ...]  # KL weights (04: the grid of the matched-rate search; 05: the grid's beta)
    alphas: tuple[float, ...] = (0.0,)  # SSIM weights of notebook 05's grid
    classifier_epochs: int = 3  # notebook 05's frozen classifier of the real images
    amp: bool = False  # bfloat16 autocast in training (CUDA only): off, the comparisons need equal numerics


@dataclass(frozen=True)
class OverfittingSettings:
    """Notebook 06 (the GDN network, density -> 128 x 128 pattern): never a smaller image."""

    train_images: int
    val_images: int
    epochs: int
    seeds: int
    batch_size: int
    width: int  # channels of the convolutions; the original has 128
    codes: tuple[int, ...]  # code sizes of the sweep, 1, 2 and 4 a positive control; the original has 64
    code_pairs: int  # training pairs of the code sweep: where the gap widens (cpu), the write-up's (full)
    train_sizes: tuple[int, ...]  # training-set sizes of the sweep; the largest is train_images
    lr: float  # Adam's learning rate; the original has 1e-4
    amp: bool = False  # bfloat16 autocast in training (CUDA only): off, the comparisons need equal numerics


@dataclass(frozen=True)
class FIDSettings:
    """Notebook 07 (VQ-VAE loss zoo, Frechet distances). The write-up's network has width = D = 256,
    K = 512; ``cpu`` narrows it (state it where it matters)."""

    data: str  # the data set wanted (the write-up's CIFAR-10), real only
    fallback: str  # the real data set used when ``data`` can be neither found nor downloaded
    train_images: int
    val_images: int  # the per-epoch validation of fit (never used to choose a model)
    test_images: int  # FD, noise floor (needs 2 * fid_images), reconstructions
    epochs: int
    seeds: int
    batch_size: int
    width: int  # channels of the outer convolutions; the original has 256
    embedding_dim: int  # D of the codebook; the original has 256
    codes: int  # K; the original has 512
    beta: float  # commitment weight; the reproduction the write-up trained uses 1.0
    lr: float  # Adam's learning rate
    fid_images: int  # test images (and their reconstructions) per Frechet distance; the write-up's 2,000
    timing_repeats: int  # interleaved rounds of each timed training step
    timing_networks: tuple[tuple[int, int], ...]  # (width, D) of the networks whose steps are timed
    classifier_epochs: int  # the frozen classifier that gives the features when Inception cannot be had
    configs: tuple[str, ...]  # the configurations the profile trains (helpers.experiments.vqvae names)
    amp: bool = False  # bfloat16 autocast in training (CUDA only): off, the comparisons need equal numerics


_ZOO = ("psnr", "ssim", "ms_ssim", "haarpsi", "gmsd", "ms_gmsd")
_ZOO_ALONE_AND_HALF = ("mse", *_ZOO, *(f"mse+{loss}@0.5" for loss in _ZOO))  # the cpu minimum: 13
_ZOO_ALL = ("mse", *(c for loss in _ZOO for c in (loss, *(f"mse+{loss}@{w:g}" for w in (1, 0.5, 0.25)))))


NOTEBOOK_SETTINGS: dict[str, dict[str, object]] = {
    "04_el_vae": {
        "smoke": VAESettings("fashion-mnist", train_images=512, val_images=128, test_images=256, epochs=1,
                             seeds=1, batch_size=64, widths=(8, 16, 32), latent=16, betas=(1e-3, 4e-3)),
        "cpu": VAESettings("fashion-mnist", train_images=6_000, val_images=1_000, test_images=2_000, epochs=4,
                           seeds=4, batch_size=64, widths=(32, 64, 128, 256), latent=128,
                           betas=(6.25e-5, 2.5e-4, 1e-3, 4e-3)),
        "gpu": VAESettings("fashion-mnist", train_images=10_000, val_images=2_000, test_images=5_000,
                           epochs=10, seeds=4, batch_size=64, widths=(32, 64, 128, 256), latent=128,
                           betas=(6.25e-5, 2.5e-4, 1e-3, 4e-3)),
        "full": VAESettings("fashion-mnist", train_images=60_000, val_images=5_000, test_images=5_000,
                            epochs=30, seeds=4, batch_size=64, widths=(32, 64, 128, 256), latent=128,
                            betas=(1.5625e-5, 6.25e-5, 2.5e-4, 1e-3, 4e-3, 1.6e-2)),
    },
    "05_cvae": {
        "smoke": VAESettings("fashion-mnist", train_images=512, val_images=128, test_images=256, epochs=1,
                             seeds=1, batch_size=64, widths=(8, 16, 32), latent=16, betas=(1e-3,),
                             alphas=(0.0, 1.0), classifier_epochs=1),
        "cpu": VAESettings("fashion-mnist", train_images=6_000, val_images=1_000, test_images=2_000, epochs=4,
                           seeds=4, batch_size=64, widths=(32, 64, 128, 256), latent=32, betas=(2.5e-4, 1e-3),
                           alphas=(0.0, 0.5, 1.0), classifier_epochs=4),
        "gpu": VAESettings("fashion-mnist", train_images=10_000, val_images=2_000, test_images=5_000,
                           epochs=10, seeds=4, batch_size=64, widths=(32, 64, 128, 256), latent=32,
                           betas=(2.5e-4, 1e-3), alphas=(0.0, 0.5, 1.0), classifier_epochs=4),
        "full": VAESettings("fashion-mnist", train_images=60_000, val_images=5_000, test_images=5_000,
                            epochs=30, seeds=4, batch_size=64, widths=(32, 64, 128, 256), latent=32,
                            betas=(2.5e-4, 1e-3), alphas=(0.0, 0.5, 1.0), classifier_epochs=3),
    },
    "06_overfitting": {
        "smoke": OverfittingSettings(train_images=128, val_images=64, epochs=2, seeds=1, batch_size=32,
                                     width=8, codes=(1, 64), code_pairs=64, train_sizes=(64, 128), lr=1e-3),
        "cpu": OverfittingSettings(train_images=512, val_images=256, epochs=10, seeds=2, batch_size=32,
                                   width=16, codes=(1, 2, 4, 64, 256), code_pairs=128,
                                   train_sizes=(128, 512), lr=1e-3),
        "gpu": OverfittingSettings(train_images=2_000, val_images=500, epochs=20, seeds=2, batch_size=32,
                                   width=32, codes=(1, 2, 4, 64, 256), code_pairs=500,
                                   train_sizes=(500, 2_000), lr=1e-3),
        "full": OverfittingSettings(train_images=9_454, val_images=1_500, epochs=100, seeds=3, batch_size=32,
                                    width=128, codes=(1, 2, 4, 16, 64, 256), code_pairs=9_454,
                                    train_sizes=(1_000, 3_000, 9_454), lr=1e-4),
    },
    "07_fid_analysis": {
        "smoke": FIDSettings("fashion-mnist", "fashion-mnist", train_images=512, val_images=128,
                             test_images=512, epochs=1, seeds=1, batch_size=128, width=16, embedding_dim=16,
                             codes=512, beta=1.0, lr=1e-3, fid_images=256, timing_repeats=3,
                             timing_networks=((16, 16),), classifier_epochs=1,
                             configs=("mse", "psnr", "ssim", "gmsd", "mse+ssim@0.5", "mse+gmsd@0.5")),
        "cpu": FIDSettings("cifar10", "fashion-mnist", train_images=8_000, val_images=500, test_images=4_000,
                           epochs=4, seeds=3, batch_size=128, width=32, embedding_dim=32, codes=512, beta=1.0,
                           lr=1e-3, fid_images=2_000, timing_repeats=9,
                           timing_networks=((32, 32), (128, 128)), classifier_epochs=3,
                           configs=_ZOO_ALONE_AND_HALF),
        "gpu": FIDSettings("cifar10", "fashion-mnist", train_images=20_000, val_images=1_000,
                           test_images=5_000, epochs=8, seeds=3, batch_size=128, width=64, embedding_dim=64,
                           codes=512, beta=1.0, lr=1e-3, fid_images=2_000, timing_repeats=20,
                           timing_networks=((64, 64), (256, 256)), classifier_epochs=3,
                           configs=_ZOO_ALONE_AND_HALF),
        "full": FIDSettings("cifar10", "fashion-mnist", train_images=50_000, val_images=1_000,
                            test_images=5_000, epochs=50, seeds=3, batch_size=128, width=256,
                            embedding_dim=256, codes=512, beta=1.0, lr=2e-4, fid_images=2_000,
                            timing_repeats=50, timing_networks=((256, 256),), classifier_epochs=5,
                            configs=_ZOO_ALL),
    },
}


def notebook_settings(notebook: str, profile: str | None = None):
    """The settings of ``notebook`` (``"04_el_vae"``, ...) for ``profile`` (resolved as
    :func:`resolve_profile` does). Raises ``ValueError`` naming the notebooks that have settings."""
    if notebook not in NOTEBOOK_SETTINGS:
        raise ValueError(f"notebook must be one of {sorted(NOTEBOOK_SETTINGS)}; got {notebook!r}")
    return NOTEBOOK_SETTINGS[notebook][resolve_profile(profile)]


def resolve_profile(name: str | None = None) -> str:
    """Return the profile to use: ``name`` if given, else ``$COURSE_PROFILE`` if set,
    else ``"gpu"`` on a CUDA GPU (one notebook in about 15 minutes; ``"full"`` only by name) and
    ``"cpu"`` otherwise.

    Raises ``ValueError`` naming the valid profiles when the chosen name is not one of them.
    """
    source = "profile"
    if name is None:
        name = os.environ.get(PROFILE_ENV) or None
        source = f"${PROFILE_ENV}"
    if name is None:
        return "gpu" if torch.cuda.is_available() else "cpu"
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
    non_negative_int("seed", seed)
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
    ``runs/<profile>/figures/`` for ``smoke`` and ``gpu``, so those runs never touch tracked files."""
    chosen = settings(profile)
    if chosen.tracked_figures:
        return repo_root() / "figures"
    return runs_dir(chosen.name) / "figures"
