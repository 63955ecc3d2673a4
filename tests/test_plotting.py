from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers import config  # noqa: E402
from helpers.plotting import save_figure  # noqa: E402


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
    assert manifest == {path.name: {"notebook": "01_variance_identity", "profile": "smoke",
                                    "caption": "A line."}}


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
