"""A small, resumable training loop with a history that separates each loss component.

    history = fit(model, objective, train_loader, val_loader, epochs=20, run_dir=run_directory(...))

``objective(model, images, labels)`` returns a dict of scalar tensors: ``"loss"``, the value that is
minimised, and any components worth following (``"mse"``, ``"ssim"``, ``"kl"``, ...). After every
epoch ``fit`` records, per component:

- ``train_<c>``: the mean over the epoch's training steps, in train mode, as the optimiser saw it;
- ``train_eval_<c>``: on a fixed subset of the training set, in eval mode, after the epoch;
- ``val_<c>``: on the validation set, in eval mode, after the epoch.

The gap between ``train_eval`` and ``val`` is the generalisation gap; the one between ``train`` and
``train_eval`` is what train mode (dropout, batch norm, the weights moving during the epoch) adds.

Every epoch ends with an atomic checkpoint (written to a temporary file, then renamed) and
``history.csv``; ``fit(..., resume=True)`` continues after the last checkpoint, and a run that was
interrupted and resumed writes the same history as one that was not (on CPU; tested). The random state
is set from ``(seed, epoch)`` at the start of every epoch, which is what makes that hold. A
finished run of the same configuration is reused, not trained again (:func:`run_directory`).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import random
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from helpers.config import device as best_device

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], Mapping[str, torch.Tensor]]
CHECKPOINT = "checkpoint.pt"
HISTORY = "history.csv"
CONFIG = "config.json"


class NonFiniteLossError(RuntimeError):
    """A loss component became NaN or infinite; the last good checkpoint is kept."""


def run_directory(root: str | Path, name: str, config: Mapping) -> Path:
    """``root/<name>-<hash>``: one folder per configuration, with ``config.json`` written in it.

    ``config``: JSON-serialisable settings that decide the result (model, loss, data, epochs, seed,
    ...). The same configuration gives the same folder, so a finished run is found and reused.
    """
    text = json.dumps(config, sort_keys=True, default=str)
    folder = Path(root) / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG).write_text(json.dumps(config, sort_keys=True, indent=2, default=str) + "\n")
    return folder


def read_history(run_dir: str | Path) -> list[dict[str, float]]:
    """The rows of ``run_dir/history.csv`` as dicts of floats (``epoch`` as int)."""
    with open(Path(run_dir) / HISTORY, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in rows]


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


def _check_finite(terms: Mapping[str, torch.Tensor], epoch: int, step: int, where: str) -> None:
    if not isinstance(terms, Mapping) or "loss" not in terms:
        shown = list(terms) if isinstance(terms, Mapping) else type(terms).__name__
        raise ValueError(f"objective must return a dict of scalar tensors with a 'loss' entry; got {shown}")
    for name, value in terms.items():
        if not torch.isfinite(value.detach()).all():
            raise NonFiniteLossError(
                f"{where} loss component {name!r} is {value.item()} at epoch {epoch}, step {step}; "
                f"training stopped, the last good checkpoint (end of epoch {epoch - 1}) is kept"
            )


def _batch(batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = batch[0], batch[1]
    return images.to(device, non_blocking=True), torch.as_tensor(labels).to(device, non_blocking=True)


@torch.no_grad()
def evaluate(model: nn.Module, objective: Objective, loader: DataLoader, device: torch.device,
             autocast: Callable | None = None, epoch: int = 0) -> dict[str, float]:
    """Means of every component of ``objective`` over ``loader``, in eval mode (weighted by batch size).

    ``epoch`` only names the epoch in the error raised for a non-finite component.
    """
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    for step, batch in enumerate(loader):
        images, labels = _batch(batch, device)
        with autocast() if autocast else contextlib.nullcontext():
            terms = objective(model, images, labels)
        _check_finite(terms, epoch, step + 1, where="evaluation:")
        for name, value in terms.items():
            totals[name] = totals.get(name, 0.0) + value.item() * len(images)
        count += len(images)
    return {name: total / count for name, total in totals.items()}


def fit(
    model: nn.Module,
    objective: Objective,
    train_loader: DataLoader,
    val_loader: DataLoader,
    epochs: int,
    run_dir: str | Path,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    resume: bool = True,
    train_eval_size: int = 1000,
    amp: bool | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> list[dict[str, float]]:
    """Train ``model`` for ``epochs`` epochs; return the history, one dict per epoch.

    ``objective(model, images, labels)`` -> ``{"loss": ..., <component>: ...}`` (scalar tensors);
    ``optimizer``: default Adam with ``lr``; ``device``: default :func:`helpers.config.device`;
    ``resume``: continue from ``run_dir/checkpoint.pt`` when there is one (a finished run returns its
    history at once); ``train_eval_size``: images of the fixed training subset measured in eval mode;
    ``amp``: mixed precision (bfloat16 autocast), default on CUDA only; ``on_epoch_end(epoch, row)``:
    called after each epoch's checkpoint. Raises :class:`NonFiniteLossError` on a NaN or infinite
    component, naming the epoch, the step and the component.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int; got {epochs!r}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device) if device is not None else best_device()
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    use_amp = (device.type == "cuda") if amp is None else amp
    if use_amp and device.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device; got {device}")

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16)

    history: list[dict[str, float]] = []
    start = 1
    checkpoint_path = run_dir / CHECKPOINT
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        start = state["epoch"] + 1
    train_subset = Subset(train_loader.dataset, range(min(train_eval_size, len(train_loader.dataset))))
    train_eval_loader = DataLoader(train_subset, batch_size=train_loader.batch_size or 64, shuffle=False)
    quiet = not progress or bool(os.environ.get("CI"))

    for epoch in range(start, epochs + 1):
        _seed_epoch(seed, epoch)
        model.train()
        totals: dict[str, float] = {}
        count = 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False, disable=quiet, unit="batch")
        for step, batch in enumerate(bar, start=1):
            images, labels = _batch(batch, device)
            optimizer.zero_grad(set_to_none=True)
            with autocast() if use_amp else contextlib.nullcontext():
                terms = objective(model, images, labels)
            _check_finite(terms, epoch, step, where="training:")
            terms["loss"].backward()
            optimizer.step()
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + value.item() * len(images)
            count += len(images)
            bar.set_postfix(loss=f"{totals['loss'] / count:.4g}")
        row: dict[str, float] = {"epoch": epoch}
        row.update({f"train_{k}": v / count for k, v in totals.items()})
        amp_context = autocast if use_amp else None
        for prefix, loader in (("train_eval", train_eval_loader), ("val", val_loader)):
            measured = evaluate(model, objective, loader, device, amp_context, epoch)
            row.update({f"{prefix}_{k}": v for k, v in measured.items()})
        for key, value in row.items():
            if key != "epoch" and not math.isfinite(value):
                raise NonFiniteLossError(
                    f"{key} is {value} at epoch {epoch}; the last good checkpoint (epoch {epoch - 1}) is kept"
                )
        history.append(row)
        if not quiet:
            tqdm.write(f"epoch {epoch}/{epochs}: train loss {row['train_loss']:.4g}, "
                       f"val loss {row['val_loss']:.4g}")
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                 "history": history}
        _atomic_write(checkpoint_path, lambda path, s=state: torch.save(s, path))
        _write_history(run_dir, history)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
    return history
