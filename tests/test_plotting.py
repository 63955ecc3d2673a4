from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import config  # noqa: E402
from helpers.plotting import image_grid, loss_curves, save_figure  # noqa: E402


@pytest.fixture
def root(tmp_path, monkeypatch):
    (tmp_path / "helpers").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path))
    return tmp_path


def test_smoke_figures_stay_out_of_the_tracked_folder(root):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = save_figure(fig, "01_variance_identity", "line", "A line.", profile="smoke")
    plt.close(fig)
    assert path == root / "runs" / "smoke" / "figures" / "01_variance_identity__line.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (root / "figures").exists()
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert list(manifest) == [path.name]
    entry = manifest[path.name]
    assert entry["notebook"] == "01_variance_identity" and entry["profile"] == "smoke"
    assert entry["caption"] == "A line." and entry["device"] == config.device().type
    assert entry["data_source"] is None and len(entry["date"]) == 10 and entry["commit"]


def test_manifest_records_the_data_source(root):
    fig = plt.figure()
    path = save_figure(fig, "04_el_vae", "grid", "A grid.", profile="smoke",
                       data_source="synthetic stand-in for CIFAR-10")
    plt.close(fig)
    entry = json.loads((path.parent / "manifest.json").read_text())[path.name]
    assert entry["data_source"] == "synthetic stand-in for CIFAR-10"


def test_reference_profiles_write_the_tracked_folder_and_keep_the_manifest(root):
    for name in ("b", "a"):
        fig = plt.figure()
        save_figure(fig, "02_gaussian_ssim", name, f"Figure {name}.", profile="cpu")
        plt.close(fig)
    manifest = json.loads((root / "figures" / "manifest.json").read_text())
    assert list(manifest) == ["02_gaussian_ssim__a.png", "02_gaussian_ssim__b.png"]


@pytest.mark.parametrize(
    ("notebook", "name", "caption", "match"),
    [("variance", "x", "c", "notebook"), ("01_x", "Bad Name", "c", "name"), ("01_x", "x", " ", "caption")],
)
def test_bad_names_are_refused(root, notebook, name, caption, match):
    fig = plt.figure()
    with pytest.raises(ValueError, match=match):
        save_figure(fig, notebook, name, caption, profile="smoke")
    plt.close(fig)


def test_image_grid_shows_one_row_per_tensor():
    originals, reconstructions = torch.rand(5, 1, 8, 8), torch.rand(5, 3, 8, 8)
    fig = image_grid([originals, reconstructions], ["original", "reconstruction"], columns=4)
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 4)
    assert fig.axes[0].get_ylabel() == "original"
    assert fig.axes[4].images[0].get_array().shape == (8, 8, 3)  # colour shown as colour
    plt.close(fig)
    with pytest.raises(ValueError, match=r"rows\[0\] must have shape \(N, C, H, W\); got shape \(8, 8\)"):
        image_grid([torch.rand(8, 8)])
    with pytest.raises(ValueError, match="row_titles must have one title per row"):
        image_grid([originals], ["a", "b"])


def test_loss_curves_draw_each_split_and_name_missing_columns():
    history = [{"epoch": e, "train_loss": 1 / e, "train_eval_loss": 1.1 / e, "val_loss": 1.2 / e,
                "train_kl": 0.1, "train_eval_kl": 0.1, "val_kl": 0.2} for e in (1, 2, 3)]
    fig = loss_curves(history, components=("loss", "kl"))
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3
    assert list(fig.axes[0].lines[2].get_ydata()) == [row["val_loss"] for row in history]
    plt.close(fig)
    with pytest.raises(ValueError, match=r"no column\(s\) \['train_mse'"):
        loss_curves(history, components=("mse",))


def _save_many(args: tuple[str, str, int]) -> int:
    """Save ``count`` figures named after ``tag`` under the root ``root``; return how many failed."""
    root, tag, count = args
    import os

    os.environ[config.ROOT_ENV] = root
    fig, _ = plt.subplots(figsize=(1, 1))
    failures = 0
    for i in range(count):
        try:
            save_figure(fig, "07_fid_analysis", f"race_{tag}_{i}", "A race.", profile="smoke", dpi=10)
        except Exception:  # noqa: BLE001  (a torn manifest raises JSONDecodeError: counted, not raised)
            failures += 1
    plt.close(fig)
    return failures


def test_processes_saving_at_once_keep_every_entry_of_a_whole_manifest(root):
    import multiprocessing

    count = 40
    with multiprocessing.get_context("fork").Pool(3) as pool:
        failures = pool.map(_save_many, [(str(root), tag, count) for tag in "abc"])
    assert failures == [0, 0, 0]
    folder = root / "runs" / "smoke" / "figures"
    manifest = json.loads((folder / "manifest.json").read_text())
    expected = [f"07_fid_analysis__race_{t}_{i}.png" for t in "abc" for i in range(count)]
    assert sorted(manifest) == sorted(expected)
    assert not list(folder.glob("*.tmp"))  # every temporary file replaced the manifest
