from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import config


def test_profiles_share_one_table_of_settings():
    assert set(config.PROFILES) == {"smoke", "cpu", "gpu", "full"} == set(config.PROFILE_ORDER)
    assert not config.PROFILES["smoke"].tracked_figures  # a smoke run never writes tracked files
    assert not config.PROFILES["gpu"].tracked_figures  # nor a Colab session's: figures/ is the cpu run's
    assert config.figures_dir("gpu") == config.repo_root() / "runs" / "gpu" / "figures"
    assert config.PROFILES["smoke"].relaxed and not config.PROFILES["cpu"].relaxed


@pytest.mark.parametrize("notebook", sorted(config.NOTEBOOK_SETTINGS))
def test_each_training_notebook_has_one_row_per_profile_growing_with_it(notebook):
    rows = config.NOTEBOOK_SETTINGS[notebook]
    assert set(rows) == set(config.PROFILES) and len({type(r) for r in rows.values()}) == 1
    smoke, cpu, gpu, full = (rows[p] for p in config.PROFILE_ORDER)
    for field in ("train_images", "epochs", "seeds"):
        values = [getattr(row, field) for row in (smoke, cpu, gpu, full)]
        assert values == sorted(values), field
    assert smoke.train_images < cpu.train_images < gpu.train_images and cpu.seeds >= 2
    assert not any(row.amp for row in rows.values())  # the comparisons train without autocast
    assert config.notebook_settings(notebook, "cpu") is cpu


def test_notebook_settings_name_the_notebooks_that_have_them():
    with pytest.raises(ValueError, match=r"notebook must be one of \['04_el_vae'"):
        config.notebook_settings("01_variance_identity", "cpu")


def test_resolve_profile_prefers_argument_then_environment(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, "smoke")
    assert config.resolve_profile(None) == "smoke"
    assert config.resolve_profile("cpu") == "cpu"


def test_resolve_profile_falls_back_on_the_device(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.resolve_profile(None) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.resolve_profile(None) == "gpu"  # full: asked for by name only
    assert config.resolve_profile("full") == "full"


@pytest.mark.parametrize("bad", ["tiny", "Smoke", "", 3])
def test_unknown_profile_lists_the_valid_ones(bad):
    with pytest.raises(ValueError, match="'smoke', 'cpu', 'gpu', 'full'"):
        config.resolve_profile(bad)


def test_unknown_profile_from_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, "GPU")
    with pytest.raises(ValueError, match=r"\$COURSE_PROFILE.*'GPU'"):
        config.resolve_profile(None)


def test_device_is_cpu_without_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert config.device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert config.device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.device() == torch.device("cuda")


def test_seed_everything_repeats_every_generator():
    import random

    def draw():
        return random.random(), np.random.rand(), torch.rand(3)  # noqa: NPY002  (the global generators)

    config.seed_everything(7)
    first = draw()
    config.seed_everything(7)
    second = draw()
    config.seed_everything(8)
    third = draw()
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
    assert first[:2] != third[:2]


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(bad)


def test_paths_do_not_depend_on_the_working_directory(tmp_path):
    code = "from helpers import config; print(config.repo_root()); print(config.figures_dir('smoke'))"
    env = {k: v for k, v in os.environ.items() if k != config.ROOT_ENV}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    root = Path(out[0])
    assert (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir()
    assert root == config.repo_root()
    assert Path(out[1]) == root / "runs" / "smoke" / "figures"
    assert config.figures_dir("cpu") == root / "figures"
    assert config.runs_dir("full") == root / "runs" / "full"
    assert config.data_dir() == root / "data"


def test_course_root_override_is_checked(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="COURSE_ROOT"):
        config.repo_root()


def _forward_flops(notebook: str) -> float:
    """Forward FLOPs of one image through ``notebook``'s network at its gpu sizes, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    from helpers.experiments.overfitting import forward_macs
    from helpers.models.vae import VAE
    from helpers.models.vqvae import VQVAE

    s = config.NOTEBOOK_SETTINGS[notebook]["gpu"]
    if notebook == "06_overfitting":
        return 2 * forward_macs(s.width)  # checked against the counter in test_overfitting
    if notebook == "07_fid_analysis":
        model, inputs = VQVAE(3, s.width, s.codes, s.embedding_dim), (torch.rand(1, 3, 32, 32),)
    else:
        classes = 10 if notebook == "05_cvae" else 0
        model = VAE(32, 1, s.widths, s.latent, classes)
        inputs = (torch.rand(1, 1, 32, 32),) + ((torch.tensor([1]),) if classes else ())
    with FlopCounterMode(display=False) as counter:
        model.eval()(*inputs)
    return counter.get_total_flops()


@pytest.mark.parametrize("notebook", sorted(config.NOTEBOOK_SETTINGS))
def test_gpu_profile_estimate_is_the_counted_flops_and_fits_a_colab_session(notebook):
    flops, runs, images, flop_seconds, step_seconds = config.GPU_ESTIMATE[notebook]
    s = config.NOTEBOOK_SETTINGS[notebook]["gpu"]
    assert flops == pytest.approx(_forward_flops(notebook), rel=0.01)
    assert images == runs * s.train_images * s.epochs
    assert flop_seconds == pytest.approx(3 * flops * images / config.T4_ASSUMED_FLOPS, rel=0.01)
    assert step_seconds == pytest.approx(images / s.batch_size * 5e-3, rel=0.01)
    assert max(flop_seconds, step_seconds) <= 10 * 60  # training; evaluation gets the rest of 15 minutes
