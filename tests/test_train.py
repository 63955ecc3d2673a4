"""The training loop: components and metrics apart, the step the objective sees, timings, atomic
checkpoints, resume after a kill, NaN stops, no read from the device per step, runs found by their
data and reloaded without training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.overrides import TorchFunctionMode

from helpers.config import repo_root
from helpers.data import DatasetInfo
from helpers.data.loader import TensorLoader
from helpers.models.conv_autoencoder import ConvAutoencoder
from helpers.ssim import SSIMLoss
from helpers.train import (
    CHECKPOINT,
    CONFIG,
    FAILED,
    TIMING_COLUMNS,
    NonFiniteLossError,
    Run,
    Step,
    fit,
    load_run,
    read_history,
    run,
    run_directory,
)

# The same set-up in this process and in the child that is killed: a tiny autoencoder on 8 x 8 images.
SETUP = textwrap.dedent('''
    import torch
    from torch import nn

    from helpers.data.loader import TensorLoader

    torch.set_num_threads(1)


    def make(train_images=64):
        torch.manual_seed(0)
        images = torch.rand(train_images + 32, 1, 8, 8)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 64),
                              nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))
        labels = torch.zeros(len(images), dtype=torch.long)
        train = TensorLoader(images[:train_images], labels[:train_images], batch_size=16, shuffle=True)
        val = TensorLoader(images[train_images:], labels[train_images:], batch_size=16)
        return model, train, val


    def objective(model, images, labels, at):
        out = model(images)
        mse = torch.mean((out - images) ** 2)
        l1 = torch.mean(torch.abs(out - images))
        return {"loss": mse + 0.1 * l1, "mse": mse, "l1": l1, "output": out, "target": images}
''')
namespace: dict = {}
exec(SETUP, namespace)
make, objective = namespace["make"], namespace["objective"]


def max_error(a, b):
    return torch.max(torch.abs(a - b))


METRICS = {"max_error": max_error}


def _fit(run_dir, epochs=3, **kwargs):
    model, train, val = make()
    return fit(model, objective, train, val, epochs=epochs, run_dir=run_dir, device="cpu", progress=False,
               train_eval_size=32, **kwargs)


def test_history_has_every_component_and_metric_for_each_split(tmp_path):
    history = _fit(tmp_path, metrics=METRICS)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for split in ("train", "train_eval", "val"):
        for component in ("loss", "mse", "l1"):
            assert f"{split}_{component}" in history[0]
    assert "train_eval_max_error" in history[0] and "val_max_error" in history[0]
    assert "train_max_error" not in history[0]  # metrics are measured, never computed in a step
    assert "val_output" not in history[0]  # the images are not components
    assert history[-1]["train_eval_mse"] < history[0]["train_eval_mse"]  # it learns
    assert history[0]["val_max_error"] ** 2 > history[0]["val_mse"]  # the metric is its own number
    assert read_history(tmp_path) == history
    assert (tmp_path / CHECKPOINT).exists() and not list(tmp_path.glob("*.tmp"))


def test_each_epoch_records_its_wall_clock_time_and_throughput(tmp_path):
    for row in _fit(tmp_path):
        assert 0 < row["train_seconds"] <= row["epoch_seconds"]
        assert row["images_per_second"] == pytest.approx(64 / row["train_seconds"])


def test_metrics_run_in_eval_mode_without_a_graph(tmp_path):
    seen = []

    def watching(output, target):
        seen.append((torch.is_grad_enabled(), output.requires_grad))
        return max_error(output, target)

    _fit(tmp_path, epochs=1, metrics={"watched": watching})
    assert seen and set(seen) == {(False, False)}
    assert len(seen) == 2 + 2  # train_eval (32 images) and val (32), batches of 16; no training step


def test_the_objective_sees_the_epoch_and_the_step(tmp_path):
    calls = []

    def recording(model, images, labels, at):
        calls.append((at.epoch, at.step, at.steps, model.training, at.epochs_done))
        return objective(model, images, labels, at)

    model, train, val = make()
    fit(model, recording, train, val, epochs=2, run_dir=tmp_path, device="cpu", progress=False,
        train_eval_size=32)
    training = [c for c in calls if c[3]]
    assert [(e, s, n) for e, s, n, _, _ in training] == [(e, s, 4) for e in (1, 2) for s in (1, 2, 3, 4)]
    assert [c[4] for c in training[:4]] == [0.25, 0.5, 0.75, 1.0]
    measuring = [c for c in calls if not c[3]]
    assert {(e, s) for e, s, _, _, _ in measuring} == {(1, 4), (2, 4)}  # the end of each epoch
    assert Step(3, 2, 4).epochs_done == 2.5


def test_a_finished_run_is_reused_not_trained_again(tmp_path):
    first = _fit(tmp_path)
    calls = []

    def counting(model, images, labels, at):
        calls.append(1)
        return objective(model, images, labels, at)

    model, train, val = make()
    again = fit(model, counting, train, val, epochs=3, run_dir=tmp_path, device="cpu", progress=False)
    assert again == first and calls == []


def _without_timings(path):
    rows = read_history(path)
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]


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
    # every number but the wall-clock ones, to the last bit (the CSV keeps repr of each float)
    assert _without_timings(interrupted) == _without_timings(whole)
    assert set(TIMING_COLUMNS) <= set(read_history(whole)[0])


def test_non_finite_loss_names_epoch_step_component_and_keeps_the_checkpoint(tmp_path):
    def breaks_in_epoch_two(model, images, labels, at):
        terms = dict(objective(model, images, labels, at))
        bad = model.training and (at.epoch, at.step) >= (2, 3)
        terms["kl"] = torch.tensor(float("nan") if bad else 0.0)
        return terms

    model, train, val = make()
    with pytest.raises(NonFiniteLossError, match=r"'kl' is not finite at epoch 2, step 3; .*of epoch 1"):
        fit(model, breaks_in_epoch_two, train, val, epochs=3, run_dir=tmp_path, device="cpu", progress=False,
            train_eval_size=32)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=False)
    assert state["epoch"] == 1 and [row["epoch"] for row in read_history(tmp_path)] == [1]


class _DeviceReads(TorchFunctionMode):
    """Counts the calls that bring a tensor's value back to Python: on a GPU each one waits for it."""

    READS = {"item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy"}

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.count += getattr(func, "__name__", "") in self.READS
        return func(*args, **(kwargs or {}))


def test_a_training_step_reads_nothing_back_from_the_device(tmp_path):
    """The design check on CPU: the reads of an epoch do not grow with its number of steps. (On CUDA,
    ``torch.cuda.set_sync_debug_mode("error")`` is the direct check; it needs a GPU.)"""
    ssim_loss = SSIMLoss(window_size=3)

    def with_ssim(model, images, labels, at):
        terms = dict(objective(model, images, labels, at))
        terms["ssim"] = ssim_loss(terms["output"], images)  # the range check: first call only
        terms["loss"] = terms["loss"] + terms["ssim"]
        return terms

    reads = []
    for train_images in (32, 256):  # 2 and 16 steps per epoch
        model, train, val = make(train_images)
        ssim_loss.checked = False
        with _DeviceReads() as counter:
            fit(model, with_ssim, train, val, epochs=1, run_dir=tmp_path / str(train_images), device="cpu",
                optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False, train_eval_size=16,
                metrics=METRICS)
        reads.append(counter.count)
    assert reads[0] == reads[1] and reads[0] > 0


def _info(source: str, is_real: bool) -> DatasetInfo:
    return DatasetInfo(name="fashion-mnist", split="train", source=source, is_real=is_real,
                       classes=("a",), shape=(1, 28, 28), size=60000)


def test_run_directory_is_keyed_by_configuration_and_data_provenance(tmp_path):
    real = _info("Fashion-MNIST (official training set) from data/FashionMNIST/raw", True)
    stand_in = _info("SYNTHETIC stand-in for Fashion-MNIST", False)
    a = run_directory(tmp_path, "vae", {"loss": "ms-ssim", "epochs": 10}, data=real)
    b = run_directory(tmp_path, "vae", {"epochs": 10, "loss": "ms-ssim"}, data=[real])
    c = run_directory(tmp_path, "vae", {"loss": "mse", "epochs": 10}, data=real)
    d = run_directory(tmp_path, "vae", {"loss": "ms-ssim", "epochs": 10}, data=stand_in)
    assert a == b != c and a != d and a.name.startswith("vae-") and (a / CONFIG).exists()
    loader = TensorLoader(torch.zeros(4, 1, 4, 4), batch_size=2, info=stand_in)
    assert run_directory(tmp_path, "vae", {"loss": "ms-ssim", "epochs": 10}, data=loader) == d
    with pytest.raises(ValueError, match="data must be DatasetInfo"):
        run_directory(tmp_path, "vae", {}, data=TensorLoader(torch.zeros(4), batch_size=2))
    with pytest.raises(TypeError):
        run_directory(tmp_path, "vae", {})  # the data cannot be forgotten


def test_load_run_rebuilds_the_trained_model_without_data_or_fit(tmp_path):
    torch.manual_seed(0)
    images = torch.rand(24, 1, 8, 8)
    train = TensorLoader(images[:16], torch.zeros(16), batch_size=8, shuffle=True)
    val = TensorLoader(images[16:], torch.zeros(8), batch_size=8)
    model = ConvAutoencoder(channels=1, width=4)
    history = fit(model, objective, train, val, epochs=2, run_dir=tmp_path, device="cpu", progress=False)
    run = load_run(tmp_path)
    assert isinstance(run.model, ConvAutoencoder) and run.model.arguments == {"channels": 1, "width": 4}
    assert not run.model.training and run.history == history
    with torch.no_grad():
        assert torch.equal(run.model(images), model.eval()(images))
    with pytest.raises(FileNotFoundError, match="run_dir must hold"):
        load_run(tmp_path / "nothing")
    _fit(tmp_path / "sequential", epochs=1)
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        load_run(tmp_path / "sequential")


def test_bad_arguments(tmp_path):
    model, train, val = make()
    with pytest.raises(ValueError, match="epochs must be a positive int; got 0"):
        fit(model, objective, train, val, epochs=0, run_dir=tmp_path)
    with pytest.raises(ValueError, match=r"objective must return a dict .* 'loss' entry; got \['mse'\]"):
        fit(model, lambda m, x, y, at: {"mse": torch.mean(m(x) ** 2)}, train, val, epochs=1,
            run_dir=tmp_path / "a", device="cpu", progress=False)
    with pytest.raises(ValueError, match="with metrics, objective must also return 'output' and 'target'"):
        fit(model, lambda m, x, y, at: {"loss": torch.mean(m(x) ** 2)}, train, val, epochs=1,
            run_dir=tmp_path / "b", device="cpu", progress=False, metrics=METRICS)
    with pytest.raises(ValueError, match=r"metric names must differ .*\['mse'\]"):
        fit(model, objective, train, val, epochs=1, run_dir=tmp_path / "c", device="cpu", progress=False,
            metrics={"mse": max_error})
    with pytest.raises(ValueError, match="amp=True needs a CUDA device; got cpu"):
        fit(model, objective, train, val, epochs=1, run_dir=tmp_path / "d", device="cpu", amp=True)
    with pytest.raises(TypeError, match="train must be a helpers.data.TensorLoader; got list"):
        fit(model, objective, [], val, epochs=1, run_dir=tmp_path / "e")


def _autoencoder_run(run_dir, objective=objective, epochs=2, **kwargs):
    """One :func:`run` of a network of helpers.models (so that it can be reloaded) on 8 x 8 images."""
    torch.manual_seed(0)
    images = torch.rand(24, 1, 8, 8)
    train = TensorLoader(images[:16], torch.zeros(16), batch_size=8, shuffle=True, seed=0)
    val = TensorLoader(images[16:], torch.zeros(8), batch_size=8)
    torch.manual_seed(0)
    model = ConvAutoencoder(channels=1, width=4)
    return run(run_dir, model, objective, train, val, epochs, seed=0, device="cpu", progress=False,
               train_eval_size=8, **kwargs)


def test_run_trains_reloads_and_reuses_a_finished_run(tmp_path):
    run_dir = run_directory(tmp_path, "ae", {"width": 4}, data=_info("random", False))
    ended = []
    first = _autoencoder_run(run_dir, lock=True, on_epoch_end=lambda epoch, row: ended.append(epoch))
    assert isinstance(first, Run) and first.failure is None and first.run_dir == run_dir
    assert ended == [1, 2] and [row["epoch"] for row in first.history] == [1, 2]
    assert isinstance(first.model, ConvAutoencoder) and not first.model.training
    assert first.config == {"width": 4} and first.trained() is first
    stamp = (run_dir / CHECKPOINT).stat().st_mtime_ns
    again = _autoencoder_run(run_dir)
    assert (run_dir / CHECKPOINT).stat().st_mtime_ns == stamp and again.history == first.history
    assert load_run(run_dir).history == first.history and load_run(run_dir).run_dir == run_dir
    assert Run(None, [], tmp_path / "no config").config == {}


def test_run_records_a_nan_as_a_result_and_does_not_train_it_again(tmp_path):
    def breaks_in_epoch_two(model, images, labels, at):
        terms = dict(objective(model, images, labels, at))
        terms["loss"] = terms["loss"] * (float("nan") if at.epoch == 2 else 1.0)
        return terms

    failed = _autoencoder_run(tmp_path, breaks_in_epoch_two, epochs=3)
    assert failed.model is None and "is not finite at epoch 2" in failed.failure
    assert (tmp_path / FAILED).read_text().strip() == failed.failure
    assert [row["epoch"] for row in failed.history] == [1]  # the epoch that finished
    again = _autoencoder_run(tmp_path, epochs=3)  # a sound objective now: the recorded failure stands
    assert again.failure == failed.failure and again.model is None and len(again.history) == 1
    with pytest.raises(NonFiniteLossError, match="not finite at epoch 2"):
        again.trained()


def test_run_key_holds_device_amp_and_torch_version_and_fit_checks_amp(tmp_path):
    real = _info("real files", True)
    cpu = run_directory(tmp_path, "vae", {"epochs": 1}, data=real, device="cpu")
    assert cpu == run_directory(tmp_path, "vae", {"epochs": 1}, data=real, device=torch.device("cpu"))
    cuda = run_directory(tmp_path, "vae", {"epochs": 1}, data=real, device="cuda")
    amp = run_directory(tmp_path, "vae", {"epochs": 1}, data=real, device="cuda", amp=True)
    assert len({cpu, cuda, amp}) == 3
    recorded = json.loads((amp / CONFIG).read_text())["environment"]
    assert recorded == {"device": "cuda", "amp": True, "torch": torch.__version__}
    with pytest.raises(ValueError, match="amp must be True or False; got 'yes'"):
        run_directory(tmp_path, "vae", {}, data=real, amp="yes")
    with pytest.raises(ValueError, match="amp must be the True that .* records"):
        _fit(amp, epochs=1)
    with pytest.warns(RuntimeWarning, match="records device 'cuda' but the run trains on 'cpu'"):
        _fit(cuda, epochs=1)
    _fit(cpu, epochs=1)  # the environment it records is the one it trains in: no warning, no error
    with pytest.raises(ValueError, match="amp must be True or False; got None"):
        _fit(tmp_path / "none", epochs=1, amp=None)
