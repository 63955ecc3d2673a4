"""Each experiment's training function hands ``device`` and ``amp`` both to the run's key
(:func:`helpers.train.run_directory`) and to the training (:func:`helpers.train.run`, then ``fit``), so a
GPU run with autocast never reuses, or is reused by, a CPU run in float32."""

from __future__ import annotations

import json

import pytest
import torch

from helpers.data import DatasetInfo, Splits
from helpers.experiments.overfitting import runs as overfitting_runs
from helpers.experiments.vae import runs as vae_runs
from helpers.experiments.vqvae import runs as vqvae_runs
from helpers.train import CONFIG


def _images(name: str, shape: tuple[int, ...], count: int = 40) -> Splits:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, *shape), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, 3, (count,), generator=generator)

    def info(split: str, size: int) -> DatasetInfo:
        return DatasetInfo(name, split, "random test bytes", True, ("a", "b", "c"), shape, size)

    return Splits(train=(images[:32], labels[:32]), val=(images[32:], labels[32:]), info=info("train", 32),
                  val_info=info("val", count - 32))


def _pairs() -> Splits:
    generator = torch.Generator().manual_seed(0)
    pairs = [tuple(torch.rand(n, 1, 128, 128, generator=generator) for _ in range(2)) for n in (4, 2)]

    def info(split: str, size: int) -> DatasetInfo:
        return DatasetInfo("pseudo-lacbed", split, "random test pairs", False, ("P", "I", "F"), (1, 128, 128),
                           size)

    return Splits(train=pairs[0], val=pairs[1], info=info("train", 4), val_info=info("val", 2))


CALLS = {
    "vae": (vae_runs, lambda root, **kw: vae_runs.train_vae(
        _images("fashion-mnist", (1, 16, 16)), "mse", 1e-3, 0, epochs=1, batch_size=16, widths=(4, 8),
        latent=3, root=root, progress=False, **kw)),
    "vqvae": (vqvae_runs, lambda root, **kw: vqvae_runs.train_vqvae(
        _images("fashion-mnist", (1, 16, 16)), "mse", 0, epochs=1, batch_size=16, width=8, embedding_dim=8,
        codes=16, beta=1.0, lr=1e-3, root=root, progress=False, **kw)),
    "overfitting": (overfitting_runs, lambda root, **kw: overfitting_runs.train_pattern_model(
        _pairs(), "mse", 0, code_size=4, width=4, epochs=1, batch_size=2, lr=1e-3, root=root, progress=False,
        **kw)),
}


@pytest.mark.parametrize("experiment", sorted(CALLS))
def test_device_and_amp_reach_the_run_key_and_the_training(experiment, tmp_path, monkeypatch):
    module, call = CALLS[experiment]
    seen = []

    class Trained:  # what the replaced run returns: a run that trained
        def trained(self):
            return self

    def run(run_dir, *args, **kwargs):
        seen.append((run_dir, kwargs))
        return Trained()

    monkeypatch.setattr(module, "run", run)
    call(tmp_path / "gpu", device="cuda", amp=True)  # nothing is trained: run is replaced
    call(tmp_path / "cpu", device="cpu", amp=False)
    (gpu_dir, gpu), (cpu_dir, cpu) = seen
    assert (gpu["device"], gpu["amp"], cpu["device"], cpu["amp"]) == ("cuda", True, "cpu", False)
    environments = [json.loads((d / CONFIG).read_text())["environment"] for d in (gpu_dir, cpu_dir)]
    assert [(e["device"], e["amp"]) for e in environments] == [("cuda", True), ("cpu", False)]
    assert gpu_dir.name != cpu_dir.name  # different keys, so neither run is reused for the other
