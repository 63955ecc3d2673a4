"""The runs of notebook 07's loss zoo: the data, the objective, one keyed run per configuration and
seed, its codebook usage, its reconstructions.

    data = zoo_data("cifar10", "fashion-mnist", train=8_000, val=500, test=4_000)  # says which, and why
    run = train_vqvae(data, "mse+ssim@0.5", seed=0, epochs=4, batch_size=128, width=32, embedding_dim=32,
                      codes=512, beta=1.0, lr=2e-4, root=runs_dir() / "07")
    usage = read_codes(run.run_dir)  # per epoch: perplexity, dead and used codes

Every configuration (:mod:`helpers.experiments.vqvae.configurations`) is an independent run keyed by
its settings and data (:func:`helpers.train.run_directory`): runs made on several machines are reused
by a final run.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from helpers.data import Splits, TensorLoader, load_split
from helpers.experiments.vqvae.configurations import parse_configuration
from helpers.images import as_float
from helpers.losses import get_loss
from helpers.models.vqvae import VQVAE, code_counts, code_usage, vqvae_loss
from helpers.train import Run, Step, run, run_directory

# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def zoo_data(preferred: str, fallback: str, train: int, val: int, test: int, progress: bool = True,
             download: bool | None = None) -> Splits:
    """The first ``train``, ``val`` and ``test`` images of the real data set ``preferred`` (CIFAR-10),
    or of the real ``fallback`` (Fashion-MNIST) when ``preferred`` is neither here nor downloadable:
    :class:`helpers.data.Splits` of ``(images uint8 (N, C, H, W), labels (N,))``, whose ``reason`` says
    which data set is used, and why. Never a synthetic stand-in: raises ``FileNotFoundError`` when
    neither is real."""
    chosen, reason = preferred, f"{preferred} is here (or could be downloaded)"
    try:
        first = load_split(preferred, "train", mode="real", size=train, progress=progress, download=download)
    except FileNotFoundError as error:
        if fallback == preferred:
            raise
        chosen = fallback
        reason = (f"no real {preferred} here and none could be downloaded ({str(error).split('. ')[0]}), so "
                  f"the real data set {fallback} stands in for it")
        first = load_split(fallback, "train", mode="real", size=train, progress=progress, download=download)
    splits = [first] + [load_split(chosen, split, mode="real", size=size, progress=progress,
                                   download=download) for split, size in (("val", val), ("test", test))]
    for split, wanted in zip(splits, (train, val, test), strict=True):
        if len(split.images) < wanted:
            raise ValueError(f"the {split.info.split} split of {chosen} has {len(split.images)} images; "
                             f"{wanted} were asked for")
    train_split, val_split, test_split = splits
    return Splits(train=(train_split.images, train_split.labels), val=(val_split.images, val_split.labels),
                  test=(test_split.images, test_split.labels), info=train_split.info,
                  val_info=val_split.info, test_info=test_split.info, reason=reason)


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


class VQObjective:
    """Equation (3) of :mod:`helpers.models.vqvae` with the reconstruction loss ``name``, for
    :func:`helpers.train.fit`: components ``recon``, ``codebook``, ``commitment``. In training mode it
    adds the codes chosen to ``counts`` (device operations only), which :meth:`epoch_usage` reads and
    resets."""

    def __init__(self, name: str, beta: float, codes: int, device: torch.device | str = "cpu") -> None:
        self.name, self.recon, self.beta = name, get_loss(name), beta
        self.codes = codes
        self.counts = torch.zeros(codes, dtype=torch.long, device=device)

    def __call__(self, model: VQVAE, x: Tensor, y: Tensor, at: Step) -> dict[str, Tensor]:
        out = model(x)
        recon = self.recon(out.output, x)
        if model.training:
            if self.counts.device != out.indices.device:
                self.counts = self.counts.to(out.indices.device)
            self.counts.add_(code_counts(out.indices, self.codes))
        return {"loss": vqvae_loss(recon, out, beta=self.beta), "recon": recon, "codebook": out.codebook_loss,
                "commitment": out.commitment_loss, "output": out.output, "target": x}

    def epoch_usage(self) -> dict[str, float]:
        """Perplexity, dead and used codes of the training steps since the last call; resets them."""
        usage = code_usage(self.counts)
        self.counts.zero_()
        return {"perplexity": usage.perplexity, "dead_codes": usage.dead_codes,
                "used_codes": usage.used_codes}


CODES_FILE = "codes.csv"  # codebook usage per epoch, beside history.csv


def read_codes(run_dir: Path) -> list[dict]:
    """The codebook usage a run of :func:`train_vqvae` recorded in ``run_dir``, one row per epoch:
    ``epoch``, ``perplexity`` (of the codes chosen in the epoch's training steps, in [1, K]),
    ``dead_codes`` and ``used_codes`` (of K); none before its first epoch."""
    path = Path(run_dir) / CODES_FILE
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (float(v) if k == "perplexity" else int(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


def _append_codes(run_dir: Path, row: dict) -> None:
    rows = [r for r in read_codes(run_dir) if r["epoch"] < row["epoch"]] + [row]
    with open(run_dir / CODES_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
        writer.writerows(rows)


def train_vqvae(data: Splits, name: str, seed: int, *, epochs: int, batch_size: int, width: int,
                embedding_dim: int, codes: int, beta: float, lr: float, root: Path,
                device: torch.device | str | None = None, amp: bool = False, progress: bool = True) -> Run:
    """Train (or reload) the VQ-VAE of configuration ``name`` with ``seed`` on ``data`` (:func:`zoo_data`)
    with :func:`helpers.train.run`: the same network, data, budget and optimiser for every
    configuration; initial weights and batch order from ``seed``. Keyed by every setting and the data,
    so a finished run is reused, an interrupted one continued, and two tasks given the same
    configuration train it once (the run's lock). A run that goes NaN is recorded and returned with
    ``failure`` set. Each epoch's codebook usage is kept beside its history (:func:`read_codes`).
    ``device``, ``amp`` (bfloat16 autocast, CUDA only): as :func:`helpers.train.fit` takes them, and
    part of the run's key."""
    parse_configuration(name)
    images = data.train[0]
    config = {"model": "vqvae", "recon": name, "seed": seed, "epochs": epochs, "batch_size": batch_size,
              "width": width, "embedding_dim": embedding_dim, "codes": codes, "beta": beta, "lr": lr,
              "shape": list(images.shape[1:]), "sizes": [len(images), len(data.val[0])]}
    run_dir = run_directory(root, f"{name}-seed{seed}", config, data=[data.info, data.val_info],
                            device=device, amp=amp)
    torch.manual_seed(seed)
    model = VQVAE(images.shape[1], width, codes, embedding_dim)
    objective = VQObjective(name, beta, codes)
    batches = TensorLoader(*data.train, batch_size=batch_size, shuffle=True, seed=seed, drop_last=True,
                           info=data.info)
    val = TensorLoader(*data.val, batch_size=500, info=data.val_info)

    def on_epoch_end(epoch: int, row: dict) -> None:
        _append_codes(run_dir, {"epoch": epoch, **objective.epoch_usage()})

    return run(run_dir, model, objective, batches, val, epochs, seed=seed, lock=True, lr=lr, device=device,
               amp=amp, train_eval_size=min(500, len(images)), progress=progress, on_epoch_end=on_epoch_end)


@torch.no_grad()
def reconstruct(model: VQVAE, images: Tensor, batch_size: int = 500) -> Tensor:
    """Reconstructions ``(N, C, H, W)`` float32 in [0, 1] on the CPU, in eval mode (batch norm's running
    statistics), of ``images`` (uint8 or float in [0, 1])."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(as_float(images[i:i + batch_size]).to(device)).output.float().cpu()
                      for i in range(0, len(images), batch_size)])


def codebook_table(codes: Mapping[str, Sequence[Sequence[Mapping[str, float]]]]) -> str:
    """Codebook usage per configuration (``codes[name]``: one :func:`read_codes` list per seed): the
    perplexity / dead codes of each epoch, means over seeds, and the dead codes after the last epoch,
    mean (lowest to highest seed)."""
    epochs = len(next(iter(codes.values()))[0])
    lines = [f"{'configuration':>18} " + " ".join(f"{'epoch ' + str(e):>15}" for e in range(1, epochs + 1))
             + f" {'dead at the end':>20}"]
    for name, per_seed in codes.items():
        cells = [f"{np.mean([s[e]['perplexity'] for s in per_seed]):7.1f} / "
                 f"{np.mean([s[e]['dead_codes'] for s in per_seed]):5.0f}" for e in range(epochs)]
        dead = [s[-1]["dead_codes"] for s in per_seed]
        lines.append(f"{name:>18} " + " ".join(f"{c:>15}" for c in cells)
                     + f" {np.mean(dead):7.0f} ({min(dead)} to {max(dead)})")
    return "\n".join(lines)
