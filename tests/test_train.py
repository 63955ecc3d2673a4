"""The training loop: history per component, atomic checkpoints, resume after a kill, NaN stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helpers.config import repo_root
from helpers.train import CHECKPOINT, HISTORY, NonFiniteLossError, fit, read_history, run_directory

# The same set-up in this process and in the child that is killed: a tiny autoencoder on 8 x 8 images.
SETUP = textwrap.dedent('''
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(1)


    def make():
        torch.manual_seed(0)
        images = torch.rand(96, 1, 8, 8)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 64),
                              nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))
        train = DataLoader(TensorDataset(images[:64], torch.zeros(64)), batch_size=16, shuffle=True)
        val = DataLoader(TensorDataset(images[64:], torch.zeros(32)), batch_size=16)
        return model, train, val


    def objective(model, images, labels):
        out = model(images)
        mse = torch.mean((out - images) ** 2)
        l1 = torch.mean(torch.abs(out - images))
        return {"loss": mse + 0.1 * l1, "mse": mse, "l1": l1}
''')
namespace: dict = {}
exec(SETUP, namespace)
make, objective = namespace["make"], namespace["objective"]


def _fit(run_dir, epochs=3, **kwargs):
    model, train, val = make()
    return fit(model, objective, train, val, epochs=epochs, run_dir=run_dir, device="cpu", progress=False,
               train_eval_size=32, **kwargs)


def test_history_has_every_component_for_each_split(tmp_path):
    history = _fit(tmp_path)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for split in ("train", "train_eval", "val"):
        for component in ("loss", "mse", "l1"):
            assert f"{split}_{component}" in history[0]
    assert history[-1]["train_eval_mse"] < history[0]["train_eval_mse"]  # it learns
    assert read_history(tmp_path) == history
    assert (tmp_path / CHECKPOINT).exists() and not list(tmp_path.glob("*.tmp"))


def test_a_finished_run_is_reused_not_trained_again(tmp_path):
    first = _fit(tmp_path)
    calls = []

    def counting(model, images, labels):
        calls.append(1)
        return objective(model, images, labels)

    model, train, val = make()
    again = fit(model, counting, train, val, epochs=3, run_dir=tmp_path, device="cpu", progress=False)
    assert again == first and calls == []


def test_killed_after_epoch_two_and_resumed_gives_the_same_history(tmp_path):
    whole = tmp_path / "whole"
    _fit(whole)
    interrupted = tmp_path / "interrupted"
    child = SETUP + textwrap.dedent(f'''
        import os, signal
        from helpers.train import fit

        def die(epoch, row):
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGKILL)

        model, train, val = make()
        fit(model, objective, train, val, epochs=3, run_dir={str(interrupted)!r}, device="cpu",
            progress=False, train_eval_size=32, on_epoch_end=die)
    ''')
    env = dict(os.environ, PYTHONPATH=str(repo_root()))
    result = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert [row["epoch"] for row in read_history(interrupted)] == [1, 2]
    _fit(interrupted)  # resume
    assert (interrupted / HISTORY).read_bytes() == (whole / HISTORY).read_bytes()


def test_non_finite_loss_names_epoch_step_component_and_keeps_the_checkpoint(tmp_path):
    steps = []

    def breaks_in_epoch_two(model, images, labels):
        terms = dict(objective(model, images, labels))
        steps.append(1)
        # epoch 1 makes 8 calls (4 training steps, 2 + 2 evaluation batches): call 11 is epoch 2, step 3
        if model.training and len(steps) > 10:
            terms["kl"] = torch.tensor(float("nan"))
        else:
            terms["kl"] = torch.tensor(0.0)
        return terms

    model, train, val = make()
    with pytest.raises(NonFiniteLossError, match=r"component 'kl' is nan at epoch 2, step 3; .*of epoch 1"):
        fit(model, breaks_in_epoch_two, train, val, epochs=3, run_dir=tmp_path, device="cpu", progress=False,
            train_eval_size=32)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=False)
    assert state["epoch"] == 1 and [row["epoch"] for row in read_history(tmp_path)] == [1]


def test_run_directory_is_keyed_by_configuration(tmp_path):
    a = run_directory(tmp_path, "vae", {"loss": "ms-ssim", "epochs": 10})
    b = run_directory(tmp_path, "vae", {"epochs": 10, "loss": "ms-ssim"})
    c = run_directory(tmp_path, "vae", {"loss": "mse", "epochs": 10})
    assert a == b != c and a.name.startswith("vae-") and Path(a / "config.json").exists()


def test_bad_arguments(tmp_path):
    model, train, val = make()
    with pytest.raises(ValueError, match="epochs must be a positive int; got 0"):
        fit(model, objective, train, val, epochs=0, run_dir=tmp_path)
    with pytest.raises(ValueError, match=r"objective must return a dict .* 'loss' entry; got \['mse'\]"):
        fit(model, lambda m, x, y: {"mse": torch.mean(m(x) ** 2)}, train, val, epochs=1, run_dir=tmp_path,
            device="cpu", progress=False)
    with pytest.raises(ValueError, match="amp=True needs a CUDA device; got cpu"):
        fit(model, objective, train, val, epochs=1, run_dir=tmp_path, device="cpu", amp=True)
    assert isinstance(model, nn.Module) and isinstance(train.dataset, TensorDataset)
    assert isinstance(val, DataLoader)
