"""A small, resumable training loop that keeps the loss it optimises apart from what it only measures.

    run_dir = run_directory(runs_dir(), "vae", {"loss": "ms_ssim", "beta": 1e-3, "seed": 0}, data=train)
    history = fit(model, objective, train, val, epochs=20, run_dir=run_dir, metrics=get_metrics())
    model = load_run(run_dir).model  # later, anywhere: no data, no training

Every experiment of the course trains through :func:`run`, which adds to ``fit`` what a comparison of
many runs needs (a keyed folder reused when finished, a NaN recorded as a result, a lock between the
tasks of a job array) and returns one :class:`Run`::

    result = run(run_dir, model, objective, train, val, epochs=20, seed=0)
    result.model, result.history, result.run_dir, result.failure

``train`` and ``val`` are :class:`helpers.data.loader.TensorLoader`\\ s of ``(x, y)`` batches (images and
labels; or inputs and targets). ``objective(model, x, y, at)`` returns a dict of scalar tensors:
``"loss"``, the value that is minimised, and any components worth following (``"mse"``, ``"kl"``,
...). ``at`` (a :class:`Step`) says the epoch and step, for schedules such as a KL warm-up. To be
measured by ``metrics`` the objective also returns ``"output"`` and ``"target"``, the two image
batches ``(N, C, H, W)`` the metrics compare; they are not components.

After every epoch ``fit`` records:

- ``train_<c>``: each component's mean over the epoch's training steps, in train mode, as the
  optimiser saw it (the original write-ups' "train loss");
- ``train_eval_<c>``, ``train_eval_<m>``: components and metrics on a fixed subset of the training
  set, in eval mode, after the epoch, without a graph;
- ``val_<c>``, ``val_<m>``: the same on the validation set;
- ``train_seconds`` (the training steps), ``images_per_second`` (training images over those
  seconds) and ``epoch_seconds`` (with the measurements), wall-clock.

The gap between ``train_eval`` and ``val`` is the generalisation gap; the one between ``train`` and
``train_eval`` is what train mode (dropout, batch norm, weights moving during the epoch) adds.

On a GPU a training step never waits for the device: components are summed on the device and read
once per epoch, and a NaN or infinite component is found from those sums at the end of the epoch
(:class:`NonFiniteLossError` names the first step where it appeared; the last good checkpoint is
kept). Every epoch ends with an atomic checkpoint (written to a temporary file, then renamed) and
``history.csv``; ``fit`` continues after the last checkpoint, and a run that was interrupted and
resumed writes the same history as one that was not, timings apart (on CPU; tested). The random
state is set from ``(seed, epoch)`` at the start of every epoch, which is what makes that hold.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import random
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers import models
from helpers.config import device as best_device
from helpers.data.loader import TensorLoader
from helpers.locks import exclusive

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.csv"
CONFIG = "config.json"
TIMING_COLUMNS = ("train_seconds", "images_per_second", "epoch_seconds")
IMAGE_KEYS = ("output", "target")  # what an objective returns for the metrics; not components
PROGRESS_SECONDS = 10.0  # the training bar refreshes at most this often


@dataclass(frozen=True)
class Step:
    """Where training stands when the objective is called: ``epoch`` (1-based), ``step`` (1-based
    within the epoch), ``steps`` per epoch. Evaluation after an epoch sees its last step."""

    epoch: int
    step: int
    steps: int

    @property
    def epochs_done(self) -> float:
        """Epochs completed, fractional: 0 before the first step, ``epoch`` at the end of ``epoch``."""
        return self.epoch - 1 + self.step / self.steps


Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor, Step], Mapping[str, torch.Tensor]]
Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class NonFiniteLossError(RuntimeError):
    """A loss component became NaN or infinite; the last good checkpoint is kept."""


# --------------------------------------------------------------------------------------------
# Runs: found by their configuration and their data, reloaded without training
# --------------------------------------------------------------------------------------------


def _provenance(data) -> list[dict]:
    """What identifies the data of a run: name, split, source sentence, real or not, size."""
    items = data if isinstance(data, (list, tuple)) else [data]
    described = []
    for item in items:
        info = getattr(item, "info", item)
        if info is None or not hasattr(info, "is_real"):
            raise ValueError(
                "data must be DatasetInfo(s) or TensorLoader(s) made with info=...; got "
                f"{type(item).__name__}{' without info' if hasattr(item, 'info') else ''}"
            )
        described.append({"name": info.name, "split": info.split, "source": info.source,
                          "is_real": info.is_real, "size": info.size})
    return described


def run_environment(device: torch.device | str | None = None, amp: bool = False) -> dict:
    """What a run's numbers depend on besides its configuration and data: ``{"device": "cpu" | "cuda"
    | ..., "amp": bool, "torch": version}``. ``device``: default :func:`helpers.config.device`, as
    :func:`fit` picks it; ``amp``: bfloat16 autocast in training, as passed to :func:`fit`."""
    if not isinstance(amp, bool):
        raise ValueError(f"amp must be True or False; got {amp!r}")
    device = torch.device(device) if device is not None else best_device()
    return {"device": device.type, "amp": amp, "torch": torch.__version__}


def run_directory(root: str | Path, name: str, config: Mapping, *, data,
                  device: torch.device | str | None = None, amp: bool = False) -> Path:
    """``root/<name>-<hash>``: one folder per configuration, data and environment, with ``config.json``.

    ``config``: JSON-serialisable settings that decide the result (model, loss, epochs, seed, ...).
    ``data``: the :class:`helpers.data.DatasetInfo` of the data trained and validated on (or the
    :class:`TensorLoader`\\ s that carry it; one or a list). Their provenance, real or a synthetic
    stand-in, is part of the key, so a run trained on a stand-in is never reused once the real data
    are there. So is :func:`run_environment` (``device``, ``amp``, torch's version; pass the ones
    given to :func:`fit`, which checks them): a GPU run with autocast and a CPU run never share a
    folder. The same configuration on the same data and environment gives the same folder, reused.
    """
    record = {"config": dict(config), "data": _provenance(data), "environment": run_environment(device, amp)}
    text = json.dumps(record, sort_keys=True, default=str)
    folder = Path(root) / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG).write_text(json.dumps(record, sort_keys=True, indent=2, default=str) + "\n")
    return folder


def _check_environment(run_dir: Path, device: torch.device, amp: bool) -> None:
    """The amp of a :func:`run_directory` folder is the one ``fit`` trains with (else ``ValueError``);
    a different device type is warned about."""
    path = run_dir / CONFIG
    recorded = json.loads(path.read_text()).get("environment") if path.exists() else None
    if not recorded:
        return
    if recorded.get("amp") != amp:
        raise ValueError(f"amp must be the {recorded.get('amp')!r} that {path} records (pass amp to "
                         f"run_directory as well); got {amp!r}")
    if recorded.get("device") != device.type:  # a caller that forgot run_directory(device=...)
        warnings.warn(f"{path} records device {recorded.get('device')!r} but the run trains on "
                      f"{device.type!r}: pass device to run_directory as well", RuntimeWarning, stacklevel=3)


def read_history(run_dir: str | Path) -> list[dict[str, float]]:
    """The rows of ``run_dir/history.csv`` as dicts of floats (``epoch`` as int)."""
    with open(Path(run_dir) / HISTORY, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in rows]


@dataclass(frozen=True)
class Run:
    """A run of :func:`run`, or one reloaded by :func:`load_run`: ``model`` (eval mode, on the CPU by
    default; None when the run failed), its ``history`` (one dict per epoch, as :func:`fit` returns),
    its folder ``run_dir``, and ``failure``: the message of the NaN that stopped it, or None."""

    model: nn.Module | None
    history: list[dict[str, float]]
    run_dir: Path
    failure: str | None = None

    @property
    def config(self) -> dict:
        """The settings the run is keyed by (``config.json``'s ``"config"``; empty without one)."""
        path = self.run_dir / CONFIG
        return json.loads(path.read_text())["config"] if path.exists() else {}

    def trained(self) -> Run:
        """This run, if it did not fail; else :class:`NonFiniteLossError` with its failure (for an
        experiment that cannot go on without the model)."""
        if self.failure is not None:
            raise NonFiniteLossError(self.failure)
        return self


def load_run(run_dir: str | Path, device: torch.device | str = "cpu") -> Run:
    """Rebuild the model a run trained, from its checkpoint alone: no data loader, no ``fit``.

    The checkpoint keeps the model's constructor arguments (:func:`helpers.models.describe`), so
    this works for the course's networks (``helpers.models``). Raises ``FileNotFoundError`` when
    ``run_dir`` has no checkpoint, ``ValueError`` when its model cannot be rebuilt.
    """
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"run_dir must hold a finished or running run; {path} does not exist")
    state = torch.load(path, map_location=device, weights_only=False)
    if state.get("model_description") is None:
        raise ValueError(f"the model of {run_dir} cannot be rebuilt: it was not one of helpers.models' "
                         "networks (they record their constructor arguments)")
    model = models.build(state["model_description"])
    _load_weights(model, state["model"], run_dir)
    model.to(device).eval()
    return Run(model, state["history"], Path(run_dir))


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def _load_weights(model: nn.Module, weights: Mapping[str, torch.Tensor], run_dir: str | Path) -> None:
    """``model.load_state_dict(weights)``, with an error that names the run when they do not fit."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise ValueError(f"the checkpoint in {run_dir} was trained with another network than "
                         f"{type(model).__name__} as it is now ({first} ...); delete that folder to train "
                         "again, or put the network back as it was") from error


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


def _write_history(run_dir: Path, history: list[dict[str, float]]) -> None:
    def write(path: Path) -> None:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(history[0]))
            writer.writeheader()
            for row in history:
                writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})

    _atomic_write(run_dir / HISTORY, write)


def _seed_epoch(seed: int, epoch: int) -> None:
    """The random state of epoch ``epoch``: the same whether or not the run was resumed."""
    value = seed * 100_003 + epoch
    random.seed(value)
    np.random.seed(value % 2**32)  # noqa: NPY002  (the legacy global generator, which libraries still use)
    torch.manual_seed(value)


class _Sums:
    """Per-name sums of ``value * batch size`` kept on the device, and the first step at which each
    name was NaN or infinite: recorded with device operations only, read once by :meth:`read`."""

    NEVER = 2**62

    def __init__(self) -> None:
        self.totals: dict[str, torch.Tensor] = {}
        self.first_bad: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, values: Mapping[str, torch.Tensor], size: int, step: int) -> None:
        for name, value in values.items():
            value = value.detach().float()
            if name not in self.totals:
                self.totals[name] = torch.zeros((), device=value.device)
                self.first_bad[name] = torch.full((), self.NEVER, device=value.device, dtype=torch.long)
            self.totals[name] += value * size
            bad = torch.where(torch.isfinite(value), self.NEVER, step)
            torch.minimum(self.first_bad[name], bad, out=self.first_bad[name])
        self.count += size

    def read(self, where: str, epoch: int) -> dict[str, float]:
        """The means; raises :class:`NonFiniteLossError` naming the first non-finite name and step."""
        names = list(self.totals)
        if not names:
            return {}
        first_bad = torch.stack([self.first_bad[n] for n in names]).tolist()  # one read from the device
        if min(first_bad) < self.NEVER:
            step = min(first_bad)
            name = names[first_bad.index(step)]
            raise NonFiniteLossError(
                f"{where} {name!r} is not finite at epoch {epoch}, step {step}; training stopped, the "
                f"last good checkpoint (end of epoch {epoch - 1}) is kept"
            )
        means = (torch.stack([self.totals[n] for n in names]) / self.count).tolist()
        return dict(zip(names, means, strict=True))


def _components(terms, metrics: Mapping[str, Metric]) -> dict[str, torch.Tensor]:
    """The scalar components of an objective's result, checked once (Python only, no device read)."""
    if not isinstance(terms, Mapping) or "loss" not in terms:
        shown = list(terms) if isinstance(terms, Mapping) else type(terms).__name__
        raise ValueError(f"objective must return a dict of scalar tensors with a 'loss' entry; got {shown}")
    if metrics and not all(k in terms for k in IMAGE_KEYS):
        raise ValueError("with metrics, objective must also return 'output' and 'target', the image batches "
                         f"the metrics compare; got {list(terms)}")
    clash = set(metrics) & set(terms)
    if clash:
        raise ValueError(f"metric names must differ from the component names; both have {sorted(clash)}")
    return {k: v for k, v in terms.items() if k not in IMAGE_KEYS}


@torch.no_grad()
def evaluate(model: nn.Module, objective: Objective, loader: TensorLoader, at: Step,
             metrics: Mapping[str, Metric] | None = None,
             autocast: Callable | None = None) -> dict[str, float]:
    """Means of every component of ``objective`` and every metric over ``loader``, in eval mode.

    Means are weighted by batch size; ``at`` is passed to the objective (the end of the epoch).
    Raises :class:`NonFiniteLossError` for a NaN or infinite component or metric.
    """
    metrics = metrics or {}
    model.eval()
    sums = _Sums()
    for step, (x, y) in enumerate(loader, start=1):
        with autocast() if autocast else contextlib.nullcontext():
            terms = objective(model, x, y, at)
        values = _components(terms, metrics)
        values.update({name: metric(terms["output"], terms["target"]) for name, metric in metrics.items()})
        sums.add(values, len(x), step)
    return sums.read("evaluation:", at.epoch)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fit(
    model: nn.Module,
    objective: Objective,
    train: TensorLoader,
    val: TensorLoader,
    epochs: int,
    run_dir: str | Path,
    *,
    metrics: Mapping[str, Metric] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    train_eval_size: int = 1000,
    amp: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> list[dict[str, float]]:
    """Train ``model`` for ``epochs`` epochs; return the history, one dict per epoch.

    ``objective(model, x, y, at)`` -> ``{"loss": ..., <component>: ..., ["output", "target"]}``;
    ``train``, ``val``: :class:`TensorLoader`\\ s, on ``device`` already or moved there once;
    ``metrics``: ``{name: metric(output, target) -> scalar}`` measured in eval mode only (for
    example losses of :mod:`helpers.losses`); ``optimizer``: default Adam with ``lr``; ``device``:
    default :func:`helpers.config.device`; ``train_eval_size``: images of the fixed training subset
    measured in eval mode; ``amp``: bfloat16 autocast on CUDA (SSIM and the losses of
    :mod:`helpers.losses` compute in float32 inside it), off unless asked: the course's comparisons
    train every arm with the same numerics; ``on_epoch_end(epoch, row)``: called after each epoch's
    checkpoint. An existing ``run_dir/checkpoint.pt`` is continued (a finished run returns its history
    at once). Where ``run_dir`` came from :func:`run_directory`, ``amp`` must be the one its
    ``config.json`` records (else ``ValueError``; another device type: a warning). Raises
    :class:`NonFiniteLossError` on a NaN or infinite component.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int; got {epochs!r}")
    for name, loader in (("train", train), ("val", val)):
        if not isinstance(loader, TensorLoader):
            raise TypeError(f"{name} must be a helpers.data.TensorLoader; got {type(loader).__name__}")
    metrics = dict(metrics or {})
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device) if device is not None else best_device()
    model.to(device)
    train = train if train.device == device else _moved(train, device)
    val = val if val.device == device else _moved(val, device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    if not isinstance(amp, bool):
        raise ValueError(f"amp must be True or False; got {amp!r}")
    use_amp = amp
    if use_amp and device.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device; got {device}")
    _check_environment(run_dir, device, amp)

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16)

    history: list[dict[str, float]] = []
    start = 1
    checkpoint_path = run_dir / CHECKPOINT
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        _load_weights(model, state["model"], run_dir)
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        start = state["epoch"] + 1
    train_eval = train.subset(train_eval_size)
    quiet = not progress or bool(os.environ.get("CI"))
    steps = len(train)

    for epoch in range(start, epochs + 1):
        _seed_epoch(seed, epoch)
        train.set_epoch(epoch)
        model.train()
        sums = _Sums()
        _synchronise(device)
        began = time.perf_counter()
        # mininterval: a notebook run in batch (papermill) keeps every refresh of a text bar as a line
        bar = tqdm(train, desc=f"epoch {epoch}/{epochs}", total=steps, leave=False, disable=quiet,
                   unit="batch", mininterval=PROGRESS_SECONDS)
        for step, (x, y) in enumerate(bar, start=1):
            optimizer.zero_grad(set_to_none=True)
            with autocast() if use_amp else contextlib.nullcontext():
                terms = objective(model, x, y, Step(epoch, step, steps))
            values = _components(terms, {})
            values["loss"].backward()
            optimizer.step()
            sums.add(values, len(x), step)
        measured = sums.read("training:", epoch)  # the one read of the epoch's training steps
        _synchronise(device)
        train_seconds = time.perf_counter() - began
        row: dict[str, float] = {"epoch": epoch}
        row.update({f"train_{k}": v for k, v in measured.items()})
        at_end = Step(epoch, steps, steps)
        for prefix, loader in (("train_eval", train_eval), ("val", val)):
            found = evaluate(model, objective, loader, at_end, metrics, autocast if use_amp else None)
            row.update({f"{prefix}_{k}": v for k, v in found.items()})
        row.update(train_seconds=train_seconds, images_per_second=sums.count / train_seconds,
                   epoch_seconds=time.perf_counter() - began)
        history.append(row)
        if not quiet:
            tqdm.write(f"epoch {epoch}/{epochs}: train loss {row['train_loss']:.4g}, "
                       f"val loss {row['val_loss']:.4g}, {row['images_per_second']:.0f} images/s")
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                 "history": history, "model_description": models.describe(model)}
        _atomic_write(checkpoint_path, lambda path, s=state: torch.save(s, path))
        _write_history(run_dir, history)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
    return history


def _moved(loader: TensorLoader, device: torch.device) -> TensorLoader:
    """``loader`` with its tensors on ``device`` (moved once), same batches and order."""
    return TensorLoader(*loader.tensors, batch_size=loader.batch_size, shuffle=loader.shuffle,
                        seed=loader.seed, device=device, drop_last=loader.drop_last, info=loader.info)


# --------------------------------------------------------------------------------------------
# One run of an experiment
# --------------------------------------------------------------------------------------------

FAILED = "failed.txt"  # a run that went NaN records why here, so that it is not trained again
LOCK = "run.lock"


def run(
    run_dir: str | Path,
    model: nn.Module,
    objective: Objective,
    train: TensorLoader,
    val: TensorLoader,
    epochs: int,
    *,
    seed: int,
    lock: bool = False,
    **fit_options,
) -> Run:
    """Train ``model`` in ``run_dir`` (from :func:`run_directory`), or reload it: the one way every
    experiment of the course trains. Returns a :class:`Run`.

    ``model``: the network, built by the caller after ``torch.manual_seed(seed)`` so that its initial
    weights come from ``seed``; ``seed`` also fixes the batch order (:func:`fit`). ``fit_options``:
    :func:`fit`'s keyword arguments (``metrics``, ``lr``, ``device``, ``train_eval_size``,
    ``progress``, ``on_epoch_end``, ...). A finished run is reloaded from its checkpoint, an
    interrupted one continued. A run whose loss became NaN or infinite is recorded in ``failed.txt``
    and returned with ``failure`` set and no model, now and every later time: a NaN is a result of
    the objective, not an error of the experiment (:meth:`Run.trained` raises it where it is one).
    ``lock``: hold ``run_dir/run.lock`` (:func:`helpers.locks.exclusive`), so that two processes
    given the same configuration (the tasks of a job array) train it once: one trains, one reuses.
    """
    run_dir = Path(run_dir)
    with exclusive(run_dir / LOCK) if lock else contextlib.nullcontext():
        if (run_dir / FAILED).exists():
            return Run(None, _partial_history(run_dir), run_dir, (run_dir / FAILED).read_text().strip())
        try:
            history = fit(model, objective, train, val, epochs, run_dir, seed=seed, **fit_options)
        except NonFiniteLossError as error:
            (run_dir / FAILED).write_text(str(error) + "\n")
            return Run(None, _partial_history(run_dir), run_dir, str(error))
        return Run(load_run(run_dir).model, history, run_dir)


def _partial_history(run_dir: Path) -> list[dict[str, float]]:
    """The epochs a failed run finished (``history.csv``), or none."""
    return read_history(run_dir) if (run_dir / HISTORY).exists() else []
