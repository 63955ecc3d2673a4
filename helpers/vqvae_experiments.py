"""The VQ-VAE loss zoo of notebook 07: configurations, data, one keyed run, timings, loss scales, and
the Fréchet-distance table in the write-up's layout.

    data = zoo_data("cifar10", "fashion-mnist", train=8_000, val=500, test=4_000)  # says which, and why
    run = train_vqvae(data, "mse+ssim@0.5", seed=0, epochs=4, batch_size=128, width=32, embedding_dim=32,
                      codes=512, beta=1.0, lr=2e-4, root=runs_dir() / "07")
    seconds = step_times(lambda: VQVAE(1, 32, 512, 32), ["mse", "ssim"], batch, repeats=15, beta=1.0)
    table = layout_table({name: (mean, std), ...})  # alone / MSE + w * loss, w = 1, 0.5, 0.25
    found = claim_checks({"penultimate": {name: [fd per seed]}, ...})  # holds / reversed / unresolved
    verdicts = {n: c.verdict for n, c in claims(record).items()}  # every verdict, from the saved record
    judge = train_shared_classifier(images, labels, ..., root=root)  # safe when job-array tasks start at once

A *configuration* is a reconstruction loss by :func:`helpers.losses.get_loss`'s name: ``"mse"``, a
loss alone (``"ssim"``) or MSE + w * loss (``"mse+ssim@0.5"``). The write-up ("Better
Reconstruction Loss for VQ-VAE") trained 25: MSE, and each of six losses alone and with w = 1, 0.5,
0.25 (:data:`CONFIGURATIONS`; its issue's "22" is a miscount: 1 + 6 x 4 = 25). Every configuration
is an independent run keyed by its settings and data (:func:`helpers.train.run_directory`): runs made
on several machines are reused by a final run.

Every verdict comes from :mod:`helpers.stats`: seed-paired differences and their intervals for the
Fréchet distances, a bootstrap interval for the step times. :func:`claims` recomputes all of them from
the record the notebook saves with :mod:`helpers.results`, and :func:`readme_summary` words that record
for the README.
"""

from __future__ import annotations

import copy
import csv
import functools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from helpers import results, stats
from helpers.data import DatasetInfo, load_split
from helpers.images import as_float
from helpers.loader import TensorLoader
from helpers.locks import exclusive
from helpers.losses import LOSSES, get_loss
from helpers.models.vqvae import VQVAE, code_counts, code_usage, vqvae_loss
from helpers.train import NonFiniteLossError, Step, fit, load_run, read_history, run_directory

#: The six losses of the write-up, in its table's order.
ZOO = ("psnr", "ssim", "ms_ssim", "haarpsi", "gmsd", "ms_gmsd")
#: The weights w of its combinations MSE + w * loss.
WEIGHTS = (1.0, 0.5, 0.25)
#: Labels of the write-up's table.
TITLES = {"mse": "MSE", "psnr": "PSNR", "ssim": "SSIM", "ms_ssim": "MS-SSIM", "haarpsi": "HaarPSI",
          "gmsd": "GMSD", "ms_gmsd": "MS-GMSD"}
#: One colour per loss, the same in every figure of notebook 07 (a mixture MSE + w * loss takes its
#: loss's colour, drawn hollow or dashed).
LOSS_COLOURS = {"mse": "tab:gray", "psnr": "tab:blue", "ssim": "tab:orange", "ms_ssim": "tab:green",
                "haarpsi": "tab:red", "gmsd": "tab:purple", "ms_gmsd": "tab:brown"}
#: The write-up's FIDs on 2,000 CIFAR-10 images (its section 3.2): configuration -> FID.
PUBLISHED_FID = {
    "mse": 86.3,
    "psnr": 81.9, "mse+psnr@1": 84.3, "mse+psnr@0.5": 81.6, "mse+psnr@0.25": 83.7,
    "ssim": 69.0, "mse+ssim@1": 84.2, "mse+ssim@0.5": 74.5, "mse+ssim@0.25": 72.3,
    "ms_ssim": 78.4, "mse+ms_ssim@1": 90.0, "mse+ms_ssim@0.5": 87.8, "mse+ms_ssim@0.25": 86.3,
    "haarpsi": 384.0, "mse+haarpsi@1": 251.0, "mse+haarpsi@0.5": 205.0, "mse+haarpsi@0.25": 161.0,
    "gmsd": 361.0, "mse+gmsd@1": 109.0, "mse+gmsd@0.5": 87.9, "mse+gmsd@0.25": 88.1,
    "ms_gmsd": 278.0, "mse+ms_gmsd@1": 97.1, "mse+ms_gmsd@0.5": 90.4, "mse+ms_gmsd@0.25": 83.8,
}


def configuration(loss: str, weight: float | None = None) -> str:
    """The name of ``loss`` alone (``weight=None``) or of MSE + ``weight`` * ``loss``."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}")
    return loss if weight is None else f"mse+{loss}@{weight:g}"


#: The write-up's 25 configurations, in the order of its table (rows, then columns).
CONFIGURATIONS = ("mse", *(c for loss in ZOO for c in (configuration(loss),
                                                           *(configuration(loss, w) for w in WEIGHTS))))


def parse_configuration(name: str) -> tuple[str, float | None]:
    """``(loss, weight)`` of a configuration: ``("ssim", None)`` for ``"ssim"``, ``("ssim", 0.5)`` for
    ``"mse+ssim@0.5"``. Raises ``ValueError`` (from :func:`helpers.losses.get_loss`) for other names."""
    built = get_loss(name)
    if hasattr(built, "weight"):
        return built.loss.name, built.weight
    return built.name, None


def colour(name: str) -> str:
    """The colour of configuration ``name``'s loss (:data:`LOSS_COLOURS`); a mixture takes its loss's."""
    loss, _ = parse_configuration(name)
    return LOSS_COLOURS.get(loss, "black")


def check_configurations(names: Sequence[str] | str) -> list[str]:
    """``names`` as a list, each a valid configuration, none twice; raises ``ValueError`` otherwise.

    ``names`` may also be the JSON text of such a list, ``'["ssim", "mse+ssim@0.5"]'``: what
    ``papermill -p CONFIGS '["ssim"]'`` passes (``-p`` gives text; ``-y "CONFIGS: ['ssim']"`` a list)."""
    if isinstance(names, str):
        try:
            names = json.loads(names)
        except json.JSONDecodeError:
            raise ValueError(f"configurations given as text must be a JSON list of names such as "
                             f"'[\"mse\", \"mse+ssim@0.5\"]'; got {names!r}") from None
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) == 0:
        raise ValueError(f"configurations must be a non-empty list of names such as ['mse', 'mse+ssim@0.5'] "
                         f"(with papermill: -y \"CONFIGS: ['ssim']\" or -p CONFIGS '[\"ssim\"]'); "
                         f"got {names!r}")
    for name in names:
        parse_configuration(name)
    if len(set(names)) != len(names):
        raise ValueError(f"configurations must name each configuration once; got {list(names)}")
    return list(names)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZooData:
    """Three splits of real images in memory: ``(images uint8 (N, C, H, W), labels (N,))`` each, their
    :class:`DatasetInfo`\\ s, and ``reason``: a sentence saying which data set is used, and why."""

    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    info: DatasetInfo
    val_info: DatasetInfo
    test_info: DatasetInfo
    reason: str

    @property
    def label(self) -> str:
        return self.info.label


def zoo_data(preferred: str, fallback: str, train: int, val: int, test: int, progress: bool = True,
             download: bool | None = None) -> ZooData:
    """The first ``train``, ``val`` and ``test`` images of the real data set ``preferred`` (CIFAR-10),
    or of the real ``fallback`` (Fashion-MNIST) when ``preferred`` is neither here nor downloadable.
    Never a synthetic stand-in: raises ``FileNotFoundError`` when neither is real."""
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
    return ZooData(*((s.images, s.labels) for s in splits), *(s.info for s in splits), reason=reason)


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


# --------------------------------------------------------------------------------------------
# Runs shared by the tasks of a job array
# --------------------------------------------------------------------------------------------


def train_shared_classifier(images: Tensor, labels: Tensor, val_images: Tensor, val_labels: Tensor, *,
                            root: Path, timeout: float = 6 * 3600.0, **kwargs):
    """:func:`helpers.classify.train_classifier` under the lock ``root/classifier.lock``: the first
    task of a job array trains the classifier, the others wait and then reload the finished run
    (the same weights, the same hash) instead of training into the same folder at the same time.
    ``kwargs`` go to ``train_classifier``."""
    from helpers.classify import train_classifier

    with exclusive(Path(root) / "classifier.lock", timeout=timeout):
        return train_classifier(images, labels, val_images, val_labels, root=root, **kwargs)


CODES_FILE = "codes.csv"  # codebook usage per epoch, beside history.csv
FAILED = "failed.txt"  # a run that went NaN records why here, so it is not trained again


@dataclass
class ZooRun:
    """A finished (or failed) run: ``model`` (eval mode, CPU; None when it failed), ``history``,
    ``codes`` (one row per epoch: epoch, perplexity, dead_codes, used_codes), its folder, ``failure``."""

    name: str
    seed: int
    model: VQVAE | None
    history: list[dict]
    codes: list[dict]
    run_dir: Path
    failure: str | None


def _read_codes(run_dir: Path) -> list[dict]:
    path = run_dir / CODES_FILE
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (float(v) if k == "perplexity" else int(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


def _append_codes(run_dir: Path, row: dict) -> None:
    rows = [r for r in _read_codes(run_dir) if r["epoch"] < row["epoch"]] + [row]
    with open(run_dir / CODES_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
        writer.writerows(rows)


def train_vqvae(data: ZooData, name: str, seed: int, *, epochs: int, batch_size: int, width: int,
                embedding_dim: int, codes: int, beta: float, lr: float, root: Path,
                device: torch.device | str | None = None, progress: bool = True) -> ZooRun:
    """Train (or reload) the VQ-VAE of configuration ``name`` with ``seed`` on ``data``: the same
    network, data, budget and optimiser for every configuration; initial weights and batch order from
    ``seed``. Keyed by every setting and the data, so a finished run is reused, an interrupted one
    continued. A run that goes NaN is recorded in ``failed.txt`` and returned with ``failure`` set."""
    parse_configuration(name)
    images = data.train[0]
    config = {"model": "vqvae", "recon": name, "seed": seed, "epochs": epochs, "batch_size": batch_size,
              "width": width, "embedding_dim": embedding_dim, "codes": codes, "beta": beta, "lr": lr,
              "shape": list(images.shape[1:]), "sizes": [len(images), len(data.val[0])]}
    run_dir = run_directory(root, f"{name}-seed{seed}", config, data=[data.info, data.val_info])
    with exclusive(run_dir / "run.lock"):  # two tasks given the same configuration: one trains, one reuses
        return _train_vqvae(data, name, seed, images, run_dir, epochs=epochs, batch_size=batch_size,
                            width=width, embedding_dim=embedding_dim, codes=codes, beta=beta, lr=lr,
                            device=device, progress=progress)


def _train_vqvae(data: ZooData, name: str, seed: int, images: Tensor, run_dir: Path, *, epochs: int,
                 batch_size: int, width: int, embedding_dim: int, codes: int, beta: float, lr: float,
                 device: torch.device | str | None, progress: bool) -> ZooRun:
    if (run_dir / FAILED).exists():
        history = read_history(run_dir) if (run_dir / "history.csv").exists() else []
        failure = (run_dir / FAILED).read_text().strip()
        return ZooRun(name, seed, None, history, _read_codes(run_dir), run_dir, failure)
    torch.manual_seed(seed)
    model = VQVAE(images.shape[1], width, codes, embedding_dim)
    objective = VQObjective(name, beta, codes)
    train = TensorLoader(*data.train, batch_size=batch_size, shuffle=True, seed=seed, drop_last=True,
                         info=data.info)
    val = TensorLoader(*data.val, batch_size=500, info=data.val_info)

    def on_epoch_end(epoch: int, row: dict) -> None:
        _append_codes(run_dir, {"epoch": epoch, **objective.epoch_usage()})

    try:
        history = fit(model, objective, train, val, epochs, run_dir, lr=lr, seed=seed, device=device,
                      train_eval_size=min(500, len(images)), progress=progress, on_epoch_end=on_epoch_end)
    except NonFiniteLossError as error:
        (run_dir / FAILED).write_text(str(error) + "\n")
        history = read_history(run_dir) if (run_dir / "history.csv").exists() else []
        return ZooRun(name, seed, None, history, _read_codes(run_dir), run_dir, str(error))
    return ZooRun(name, seed, load_run(run_dir).model, history, _read_codes(run_dir), run_dir, None)


@torch.no_grad()
def reconstruct(model: VQVAE, images: Tensor, batch_size: int = 500) -> Tensor:
    """Reconstructions ``(N, C, H, W)`` float32 in [0, 1] on the CPU, in eval mode (batch norm's running
    statistics), of ``images`` (uint8 or float in [0, 1])."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(as_float(images[i:i + batch_size]).to(device)).output.float().cpu()
                      for i in range(0, len(images), batch_size)])


# --------------------------------------------------------------------------------------------
# Costs and scales of the losses
# --------------------------------------------------------------------------------------------


def _training_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: nn.Module, x: Tensor,
                   beta: float) -> None:
    optimizer.zero_grad(set_to_none=True)
    out = model(x)
    vqvae_loss(loss(out.output, x), out, beta=beta).backward()
    optimizer.step()


def step_times(make_model: Callable[[], VQVAE], names: Sequence[str], batch: Tensor, repeats: int, *,
               beta: float, lr: float = 1e-3,
               clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per training step (forward, loss, backward, Adam step) of the VQ-VAE with each
    reconstruction loss of ``names``, on the same ``batch`` ``(N, C, H, W)`` in [0, 1], measured
    interleaved: ``repeats`` rounds, each timing one step of every loss, the order rotated each round so
    no loss always runs first. Each loss trains its own copy of one initial model; one untimed step
    each first. Returns ``{name: [seconds per round]}``; pair them by round (:func:`time_ratios`)."""
    check_configurations(names)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int; got {repeats!r}")
    first = make_model()
    device = next(first.parameters()).device
    x = as_float(batch).to(device)
    arms = {}
    for name in names:
        model = copy.deepcopy(first).train()
        arms[name] = (model, torch.optim.Adam(model.parameters(), lr=lr), get_loss(name))
    for model, optimizer, loss in arms.values():
        _training_step(model, optimizer, loss, x, beta)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    order = list(names)
    for r in range(repeats):
        for name in order[r % len(order):] + order[:r % len(order)]:
            model, optimizer, loss = arms[name]
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            began = clock()
            _training_step(model, optimizer, loss, x, beta)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds[name].append(clock() - began)
    return seconds


def loss_scales(model: VQVAE, names: Sequence[str], images: Tensor) -> dict[str, dict[str, float]]:
    """Each reconstruction loss of ``names`` on ``model``'s reconstructions of ``images`` (train mode,
    as in a training step; the model is not changed): ``value``, ``grad_output`` (the norm of the
    loss's gradient with respect to the reconstruction, over the whole batch) and ``grad_weights`` (the
    norm of its gradient with respect to the network's weights, all of them). With ``model`` freshly
    initialised these are the scales an equal w puts side by side."""
    check_configurations(names)
    probe = copy.deepcopy(model).train()
    device = next(probe.parameters()).device
    x = as_float(images).to(device)
    found = {}
    for name in names:
        loss = get_loss(name)
        probe.zero_grad(set_to_none=True)
        output = probe(x).output
        output.retain_grad()
        value = loss(output, x)
        value.backward()
        weights = [p.grad.flatten() for p in probe.parameters() if p.grad is not None]
        found[name] = {"value": float(value.detach()), "grad_output": float(output.grad.norm()),
                       "grad_weights": float(torch.cat(weights).norm())}
    return found


def time_ratios(seconds: Mapping[str, Sequence[float]], reference: str = "mse", level: float = stats.LEVEL,
                resamples: int = 2000, seed: int = 0) -> dict[str, stats.Interval]:
    """Each name's time relative to ``reference``, paired by round: the per-round ratios
    t_name[r] / t_reference[r] (the rounds of :func:`step_times`, where both ran seconds apart), their
    median, and a percentile bootstrap interval of that median over rounds
    (:func:`helpers.stats.bootstrap_interval`: ``resamples`` draws of the rounds with replacement, from
    ``seed``). The reference's own interval is [1, 1].

    Pairing by round cancels what slows a whole round (another job on a shared machine); the interval
    says how far the median ratio can be trusted. Raises ``ValueError`` when the reference is missing,
    the lists differ in length, hold fewer than 2 rounds, or a time is not positive and finite."""
    if reference not in seconds:
        raise ValueError(f"seconds must hold the reference {reference!r}; got {sorted(seconds)}")
    rounds = len(seconds[reference])
    for name, values in seconds.items():
        if len(values) != rounds or rounds < 2:
            raise ValueError(f"every name must have the reference's number of rounds (at least 2); {name!r} "
                             f"has {len(values)}, {reference!r} {rounds}")
        if not all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"times must be positive finite seconds; {name!r} has {list(values)}")
    base = np.asarray(seconds[reference], dtype=float)
    return {name: stats.bootstrap_interval(np.asarray(values, dtype=float) / base, np.median, level=level,
                                           resamples=resamples, seed=seed)
            for name, values in seconds.items()}


def term_gradients(model: VQVAE, name: str, batches: Sequence[Tensor], beta: float) -> list[dict[str, float]]:
    """The gradient norms of each term of equation (3) of :mod:`helpers.models.vqvae`, with the
    reconstruction loss of configuration ``name``, on each of ``batches`` (images ``(N, C, H, W)``,
    uint8 or in [0, 1]), in train mode on a copy of ``model`` (``model`` is not changed). One dict per
    batch, norms over the parameter groups each term reaches:

    - ``recon_encoder``, ``commitment_encoder``: the reconstruction loss (through the straight-through
      estimator) and beta * commitment, at the encoder's weights: the only group where a
      reconstruction loss meets another term of the loss;
    - ``recon_decoder``: the reconstruction loss at the decoder (nothing else reaches it);
    - ``codebook_codes``: the codebook term at the codes (nothing else reaches them);
    - for a mixture MSE + w * loss, also ``mse_decoder`` and ``weighted_decoder`` (w * loss).

    Adam divides each weight's step by the root of its squared gradient's running mean, so a loss
    multiplied by a constant trains the same (up to its epsilon): what matters is how the terms that
    reach the same weights compare, which these ratios give."""
    built = get_loss(name)
    if isinstance(beta, bool) or not isinstance(beta, int | float) or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0; got {beta!r}")
    if len(batches) == 0:
        raise ValueError("batches must hold at least one batch of images; got none")
    probe = copy.deepcopy(model).train()
    device = next(probe.parameters()).device
    groups = {"encoder": list(probe.encoder.parameters()), "decoder": list(probe.decoder.parameters()),
              "codes": [probe.quantizer.codebook.weight]}

    def norm(value: Tensor, group: str) -> float:
        grads = torch.autograd.grad(value, groups[group], retain_graph=True, allow_unused=True)
        return float(torch.cat([g.flatten() for g in grads if g is not None]).norm())

    found = []
    for batch in batches:
        x = as_float(batch).to(device)
        out = probe(x)
        recon = built(out.output, x)
        row = {"recon_encoder": norm(recon, "encoder"), "commitment_encoder": norm(beta * out.commitment_loss,
                                                                                     "encoder"),
               "recon_decoder": norm(recon, "decoder"), "codebook_codes": norm(out.codebook_loss, "codes")}
        if hasattr(built, "weight"):
            row["mse_decoder"] = norm(get_loss("mse")(out.output, x), "decoder")
            row["weighted_decoder"] = norm(built.weight * built.loss(out.output, x), "decoder")
        found.append(row)
    return found


# --------------------------------------------------------------------------------------------
# The table and the rankings
# --------------------------------------------------------------------------------------------


NOT_RUN = "n/r"  # a configuration of the write-up's table that this run did not train
NOT_APPLICABLE = "n/a"  # MSE + w * MSE is not a configuration


def _cell(value: tuple[float, float] | None, scale: float, digits: int | None) -> str:
    if value is None:
        return NOT_RUN
    mean, std = value[0] / scale, value[1] / scale
    if not std > 0 or not math.isfinite(std):  # one seed: no spread to show
        return f"{mean:.{digits}f}" if digits is not None else f"{mean:.4g}"
    if digits is not None:
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    decimals = max(0, 1 - math.floor(math.log10(std)))  # the std to 2 significant digits, the mean alike
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def layout_table(summary: Mapping[str, tuple[float, float]], scaled: bool = False, digits: int | None = None,
                 losses: Sequence[str] = ZOO, weights: Sequence[float] = WEIGHTS) -> str:
    """A Markdown table in the write-up's layout: one row for MSE and one per loss of ``losses``;
    columns "alone", then MSE + w·loss for each w of ``weights``. ``summary``: configuration ->
    (mean, std) over seeds; a configuration not in it reads "n/r" (not run), MSE's own row "n/a" under
    the w columns (MSE + w·MSE is no configuration). ``scaled``: every value divided by the lowest mean
    of the table (the write-up's "multiple of the lowest one"), so the best reads 1.00. ``digits``:
    decimals; default 2 when scaled, else the std to 2 significant digits and the mean to the same
    decimal place (no ± with a zero std: one seed)."""
    if not summary:
        raise ValueError("summary must hold at least one configuration; got none")
    scale = min(m for m, _ in summary.values()) if scaled else 1.0
    if scale <= 0:
        raise ValueError(f"scaled=True needs positive means; the lowest is {scale}")
    digits = 2 if scaled and digits is None else digits
    header = "| loss | alone | " + " | ".join(f"MSE + {w:g}·loss" for w in weights) + " |"
    lines = [header, "|---" * (2 + len(weights)) + "|"]
    lines.append("| MSE | " + _cell(summary.get("mse"), scale, digits) + " |"
                 + f" {NOT_APPLICABLE} |" * len(weights))
    for loss in losses:
        cells = [_cell(summary.get(configuration(loss)), scale, digits)]
        cells += [_cell(summary.get(configuration(loss, w)), scale, digits) for w in weights]
        lines.append(f"| {TITLES.get(loss, loss)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Verdicts: holds / reversed / unresolved, from seed-paired differences (helpers.stats)
# --------------------------------------------------------------------------------------------

HOLDS, REVERSED, UNRESOLVED = stats.HOLDS, stats.REVERSED, stats.UNRESOLVED
#: reading (a feature layer on a set of test images) -> configuration -> one value per seed
Readings = Mapping[str, Mapping[str, Sequence[float]]]


def paired_difference(values: Mapping[str, Sequence[float]], better: str, worse: str,
                      level: float = stats.LEVEL) -> stats.Difference:
    """For the claim "``better`` has a lower value than ``worse``": the
    :class:`helpers.stats.Difference` of ``values[worse][s] - values[better][s]`` over seeds s, so that
    "holds" means ``better`` is lower. ``values``: configuration -> one value per seed, in the same seed
    order for every configuration. Raises ``ValueError`` when a name is missing, the lists differ in
    length or hold a non-finite value."""
    for name in (better, worse):
        if name not in values:
            raise ValueError(f"values must hold {name!r}; got {sorted(values)}")
    try:
        key = (tuple(map(float, values[worse])), tuple(map(float, values[better])), float(level))
    except (TypeError, ValueError):  # not numbers: let stats say what it wanted
        return stats.paired_difference(values[worse], values[better], level)
    return _paired_difference(*key)


@functools.lru_cache(maxsize=4096)  # the claims of one record ask for the same pairs many times
def _paired_difference(a: tuple[float, ...], b: tuple[float, ...], level: float) -> stats.Difference:
    return stats.paired_difference(a, b, level)


def _check_readings(readings: Readings) -> list[str]:
    if not isinstance(readings, Mapping) or not readings:
        raise ValueError("readings must be a non-empty mapping {reading: {configuration: values per seed}}; "
                         f"got {readings!r}")
    names = [set(v) for v in readings.values()]
    if any(n != names[0] for n in names):
        raise ValueError(f"every reading must hold the same configurations; got {[sorted(n) for n in names]}")
    return sorted(names[0])


def voting_readings(readings: Readings, dims: Mapping[str, int] | None, n: int) -> Readings:
    """The readings that decide the claims: those (``"layer · set"``) whose layer has at most as many
    feature dimensions as images per distance (``dims[layer] <= n``). Where d > n the covariances are
    singular and the distance between two real samples is mostly the estimator's bias, so such a layer is
    printed but does not vote. When no layer qualifies (Inception's 2,048 features at 2,000 images) or
    ``dims`` is None (a record without them), every reading votes."""
    _check_readings(readings)
    if dims is None:
        return dict(readings)
    unknown = {r.split(" · ")[0] for r in readings} - set(dims)
    if unknown:
        raise ValueError(f"dims must give the dimension of every layer read; missing {sorted(unknown)}")
    kept = {r: v for r, v in readings.items() if dims[r.split(" · ")[0]] <= n}
    return kept or dict(readings)


@dataclass(frozen=True)
class Ordering:
    """``better`` below ``worse`` on each reading (a feature layer, an image set): the seed-paired
    :class:`helpers.stats.Difference` FD(worse) - FD(better) per reading and the combined ``verdict``
    (:func:`helpers.stats.combine`: "holds" or "reversed" only where every reading says so)."""

    better: str
    worse: str
    per_reading: dict[str, stats.Difference]
    verdict: str


def ordering(readings: Readings, better: str, worse: str, level: float = stats.LEVEL) -> Ordering:
    """Is ``better`` below ``worse`` on every reading? ``readings``: reading -> configuration ->
    one value per seed."""
    _check_readings(readings)
    per = {r: paired_difference(v, better, worse, level) for r, v in readings.items()}
    return Ordering(better, worse, per, stats.combine([d.verdict for d in per.values()]))


def orderings_on_all_readings(readings: Readings, level: float = stats.LEVEL) -> list[Ordering]:
    """Every pair of configurations, oriented so that the first reading's mean difference is >= 0,
    with its combined verdict; those that hold are the orderings every reading supports."""
    names = _check_readings(readings)
    first = next(iter(readings.values()))
    found = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            better, worse = (a, b) if np.mean(first[a]) <= np.mean(first[b]) else (b, a)
            found.append(ordering(readings, better, worse, level))
    return found


@dataclass(frozen=True)
class PairwiseOrder:
    """One pair of configurations with different published values: the write-up's order (``better``
    had the lower FID) and our :class:`Ordering` of the same pair: "holds" when every reading puts
    them in the write-up's order, "reversed" when every reading puts them the other way."""

    better: str  # the write-up's lower FID
    worse: str
    published: tuple[float, float]
    ours: Ordering

    @property
    def verdict(self) -> str:
        return self.ours.verdict


def pairwise_orders(readings: Readings, published: Mapping[str, float] = PUBLISHED_FID,
                    level: float = stats.LEVEL) -> list[PairwiseOrder]:
    """Every pair of configurations in both ``readings`` and ``published`` with different published
    values, judged by :func:`ordering` on every reading."""
    have = _check_readings(readings)
    names = [n for n in published if n in have]
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if published[a] == published[b]:
                continue
            better, worse = (a, b) if published[a] < published[b] else (b, a)
            pairs.append(PairwiseOrder(better, worse, (published[better], published[worse]),
                                       ordering(readings, better, worse, level)))
    return pairs


GRADIENT_LOSSES = ("haarpsi", "gmsd", "ms_gmsd")


def _claimed_orderings(names: Sequence[str]) -> dict[str, list[tuple[str, str]] | None]:
    """Each claim as the orderings (better, worse) it asserts, or None where a configuration it needs
    was not run."""
    have = set(names)

    def need(*required: str) -> bool:
        return all(n in have for n in required)

    alone = [g for g in GRADIENT_LOSSES if g in have]
    others = [n for n in names if n not in GRADIENT_LOSSES]
    gmsds = [g for g in ("gmsd", "ms_gmsd") if g in have]
    rescues = [(configuration(g, w), g) for g in GRADIENT_LOSSES for w in WEIGHTS
               if need(g, configuration(g, w))]
    return {
        "ssim_alone_beats_mse": [("ssim", "mse")] if need("ssim", "mse") else None,
        "psnr_alone_beats_mse": [("psnr", "mse")] if need("psnr", "mse") else None,
        "ms_ssim_alone_beats_mse": [("ms_ssim", "mse")] if need("ms_ssim", "mse") else None,
        "ssim_alone_best": ([("ssim", n) for n in names if n != "ssim"]
                            if need("ssim") and len(have) > 1 else None),
        "gradient_losses_alone_worst": ([(o, g) for g in alone for o in others]
                                        if len(alone) == len(GRADIENT_LOSSES) and others else None),
        "gmsd_and_ms_gmsd_alone_worst": ([(o, g) for g in gmsds for o in others]
                                         if len(gmsds) == 2 and others else None),
        "mse_rescues_gradient_losses": rescues or None,
    }


#: What each claim of :func:`claim_checks` says, in words.
CLAIMS = {
    "ssim_alone_beats_mse": "SSIM alone below MSE (write-up 69.0 < 86.3)",
    "psnr_alone_beats_mse": "PSNR alone below MSE (81.9 < 86.3)",
    "ms_ssim_alone_beats_mse": "MS-SSIM alone below MSE (78.4 < 86.3)",
    "ssim_alone_best": "SSIM alone below every other configuration (69.0, the lowest)",
    "gradient_losses_alone_worst": "HaarPSI, GMSD and MS-GMSD alone above every other configuration",
    "gmsd_and_ms_gmsd_alone_worst": "GMSD and MS-GMSD alone above every configuration but the three losses "
                                    "alone",
    "mse_rescues_gradient_losses": "every MSE + w·loss below the loss alone, for HaarPSI, GMSD, MS-GMSD",
}

#: Single orderings the notebook discusses besides the write-up's claims: (better, worse).
KEY_ORDERINGS = (("ssim", "mse"), ("psnr", "mse"), ("ms_ssim", "mse"), ("ssim", "psnr"), ("mse", "haarpsi"),
                 ("mse", "gmsd"), ("mse", "ms_gmsd"), ("ssim", "mse+ssim@0.5"), ("psnr", "mse+psnr@0.5"),
                 ("mse+haarpsi@0.5", "haarpsi"), ("mse+gmsd@0.5", "gmsd"), ("mse+ms_gmsd@0.5", "ms_gmsd"))
TIME_LIMIT = 1.10  # the write-up's "< 10 %" extra time per step, as a ratio to MSE's


@dataclass(frozen=True)
class Claim:
    """One claim and its three-valued ``verdict`` (None where a configuration it needs was not run):
    the verdict on each reading (``per_reading``; for a timing claim, per loss) and ``evidence``:
    reading -> {what: :class:`helpers.stats.Difference` or :class:`helpers.stats.Interval`}, the
    statistics each reading's verdict comes from. ``orderings``: the (better, worse) pairs of a
    Fréchet-distance claim."""

    name: str
    text: str
    orderings: tuple[tuple[str, str], ...]
    per_reading: dict[str, str]
    verdict: str | None
    evidence: dict[str, dict[str, stats.Difference | stats.Interval]] = field(default_factory=dict)

    def lines(self, digits: int = 3, most: int = 3) -> list[str]:
        """What decides each reading: for a single comparison its difference
        (:meth:`helpers.stats.Difference.describe`, with the resolvable difference where unresolved);
        for several, those that carry the reading's verdict (the ``most`` farthest from the line, then
        how many more), or the weakest where it holds."""
        found = []
        for reading, verdict in self.per_reading.items():
            items = self.evidence.get(reading, {})
            if verdict == HOLDS and len(items) > 1:  # the one nearest to 0
                shown = dict([min(items.items(), key=lambda kv: _margin(kv[1]))])
                note = "weakest: "
            else:
                shown = {k: v for k, v in items.items() if _verdict(v) == verdict} or items
                note = ""
            ranked = sorted(shown.items(), key=lambda kv: -_margin(kv[1]) if verdict != HOLDS else 0)
            for what, value in ranked[:most]:
                found.append(f"{reading}: {verdict}; {note}{what}: {_describe(value, digits)}")
            if len(ranked) > most:
                found.append(f"{reading}: ... and {len(ranked) - most} more {verdict}")
        return found


def _margin(value: stats.Difference | stats.Interval) -> float:
    if isinstance(value, stats.Interval):
        return min(abs(value.low - TIME_LIMIT), abs(value.high - TIME_LIMIT))
    return min(abs(value.low), abs(value.high))


def _time_verdict(interval: stats.Interval, limit: float = TIME_LIMIT) -> str:
    """"holds" (under ``limit``) when the whole interval lies below it, "reversed" when above."""
    return HOLDS if interval.high < limit else REVERSED if interval.low > limit else UNRESOLVED


def _verdict(value: stats.Difference | stats.Interval) -> str:
    return _time_verdict(value) if isinstance(value, stats.Interval) else value.verdict


def _describe(value: stats.Difference | stats.Interval, digits: int) -> str:
    if isinstance(value, stats.Interval):
        return (f"ratio {value.estimate:.{digits}f}, {100 * value.level:g} % bootstrap interval "
                f"[{value.low:.{digits}f}, {value.high:.{digits}f}] against {TIME_LIMIT:g}")
    return value.describe(digits)


def claim_checks(readings: Readings, level: float = stats.LEVEL) -> dict[str, Claim]:
    """The write-up's qualitative claims (:data:`CLAIMS`), each three-valued on our runs: on every
    reading (a feature layer on an image set; reading -> configuration -> one value per seed) each
    ordering a claim asserts gets the verdict of its seed-paired t-interval (:func:`paired_difference`),
    the claim the verdict :func:`helpers.stats.all_of` them, and over the readings
    :func:`helpers.stats.combine`: "holds" or "reversed" only where every reading agrees, else
    "unresolved"."""
    names = _check_readings(readings)
    found = {}
    for name, pairs in _claimed_orderings(names).items():
        if pairs is None:
            found[name] = Claim(name, CLAIMS[name], (), {}, None)
            continue
        evidence = {r: {f"{b} < {w}": paired_difference(v, b, w, level) for b, w in pairs}
                    for r, v in readings.items()}
        per = {r: stats.all_of([d.verdict for d in e.values()]) for r, e in evidence.items()}
        found[name] = Claim(name, CLAIMS[name], tuple(pairs), per, stats.combine(list(per.values())),
                            evidence)
    return found


def _ordering_claim(readings: Readings, better: str, worse: str, level: float) -> Claim:
    found = ordering(readings, better, worse, level)
    what = f"{better} < {worse}"
    return Claim(what, f"{better} below {worse} on every reading", ((better, worse),),
                 {r: d.verdict for r, d in found.per_reading.items()}, found.verdict,
                 {r: {what: d} for r, d in found.per_reading.items()})


def claims(data: Mapping) -> dict[str, Claim]:
    """Every verdict of notebook 07, recomputed from its saved record ``data`` alone (what the notebook
    passes to ``helpers.results.save(NOTEBOOK, "runs", data)``), only those it can measure:

    - the write-up's claims (:func:`claim_checks`) and the single orderings of :data:`KEY_ORDERINGS`
      (``"better < worse"``), from ``data["fd"]``: reading -> configuration -> FD per seed, on the
      readings that vote (:func:`voting_readings`, from ``data["dims"]``: layer -> feature dimension);
    - ``"mse_still_improving"``: MSE's validation reconstruction loss fell in the last epoch, seed by
      seed (``data["val_recon"]["mse"]``: per seed, one value per epoch; needs 2 epochs);
    - ``"most_codes_dead"``: in every configuration over half of the ``data["codes"]`` codes are dead
      after the last epoch (``data["dead_codes"]``: configuration -> per seed), a one-sample t-interval
      of dead - codes / 2 per configuration;
    - ``"time_under_10_percent · width W, D = E"``: for each timed network (``data["timing"]``: a list of
      ``{"width", "embedding_dim", "seconds": {loss: [seconds per round]}}``), each loss's median
      per-round time over MSE's (:func:`time_ratios`) with its interval below 1.10: "holds" when every
      loss's is, "reversed" when one lies above.

    ``data["level"]`` is the confidence level of every interval."""
    level = data["level"]
    found: dict[str, Claim] = {}
    readings = data.get("fd")
    if readings:
        readings = voting_readings(readings, data.get("dims"), data["fid_images"])
        found.update({n: c for n, c in claim_checks(readings, level).items() if c.verdict is not None})
        have = set(_check_readings(readings))
        for better, worse in KEY_ORDERINGS:
            if better in have and worse in have:
                found[f"{better} < {worse}"] = _ordering_claim(readings, better, worse, level)
    curves = data.get("val_recon", {}).get("mse")
    if curves and min(len(c) for c in curves) >= 2:
        d = stats.paired_difference([c[-2] for c in curves], [c[-1] for c in curves], level)
        reading = f"epoch {len(curves[0]) - 1} - epoch {len(curves[0])}"
        found["mse_still_improving"] = Claim(
            "mse_still_improving", "MSE's validation reconstruction loss still falls in the last epoch", (),
            {reading: d.verdict}, d.verdict, {reading: {"mse": d}})
    dead = data.get("dead_codes")
    if dead:
        half = data["codes"] / 2
        evidence = {n: {f"{n} dead codes - {half:g}": stats.paired_difference(v, [half] * len(v), level)}
                    for n, v in dead.items()}
        per = {n: e[f"{n} dead codes - {half:g}"].verdict for n, e in evidence.items()}
        found["most_codes_dead"] = Claim(
            "most_codes_dead", f"over half of the {data['codes']} codes dead after the last epoch, in every "
            "configuration", (), per, stats.all_of(list(per.values())), evidence)
    for network in data.get("timing", []):
        ratios = time_ratios(network["seconds"], level=level)
        evidence = {n: {f"{n} / mse": r} for n, r in ratios.items() if n != "mse"}
        if not evidence:
            continue
        per = {n: _time_verdict(r) for n, r in ratios.items() if n != "mse"}
        name = f"time_under_10_percent · width {network['width']}, D = {network['embedding_dim']}"
        found[name] = Claim(name, f"every loss's training step under {TIME_LIMIT:g} x MSE's, width "
                            f"{network['width']}, D = {network['embedding_dim']}", (), per,
                            stats.all_of(list(per.values())), evidence)
    return found


#: Short names of the write-up's claims, for the README.
SHORT = {"ssim_alone_beats_mse": "SSIM alone < MSE", "psnr_alone_beats_mse": "PSNR alone < MSE",
         "ms_ssim_alone_beats_mse": "MS-SSIM alone < MSE", "ssim_alone_best": "SSIM alone best",
         "gradient_losses_alone_worst": "HaarPSI, GMSD, MS-GMSD alone worst",
         "gmsd_and_ms_gmsd_alone_worst": "GMSD, MS-GMSD alone worst bar HaarPSI",
         "mse_rescues_gradient_losses": "MSE rescues the gradient losses",
         "mse_still_improving": "MSE still improving", "most_codes_dead": "over half the codes dead"}


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"“{SHORT[n]}”" for n in names)


def readme_summary(data: Mapping) -> str:
    """One Markdown paragraph for the README: what the reference run of notebook 07 found, every
    number formatted from its saved record ``data`` (see :func:`claims`), which claims hold, which are
    reversed, which unresolved."""
    found = claims(data)
    readings = data["fd"]
    votes = voting_readings(readings, data.get("dims"), data["fid_images"])
    names = _check_readings(readings)
    seeds = len(next(iter(readings.values()))[names[0]])
    run = "The reference run" if data["profile"] == results.REFERENCE_PROFILE else "The run"
    layers = len(data["layers"])
    text = (f"{run} (`{data['profile']}` profile: {data['data_set']}, {len(names)} configurations × {seeds} "
            f"seed{'s' * (seeds != 1)}, {data['metric']} on {layers} layer{'s' * (layers != 1)} × "
            f"{len(readings) // layers} disjoint sets of {data['fid_images']} test images) decides each "
            f"claim by seed-paired {100 * data['level']:g} % intervals on every reading that votes.")
    measured = [n for n in CLAIMS if n in found]
    by = {v: [n for n in measured if found[n].verdict == v] for v in stats.VERDICTS}
    parts = []
    for verdict in stats.VERDICTS:
        if by[verdict]:
            verb = {HOLDS: "hold", REVERSED: "are reversed", UNRESOLVED: "are unresolved"}[verdict]
            if len(by[verdict]) == 1:
                verb = {HOLDS: "holds", REVERSED: "is reversed", UNRESOLVED: "is unresolved"}[verdict]
            parts.append(f"{len(by[verdict])} {verb} ({_quoted(by[verdict])})")
    text += f" Of the write-up's {len(measured)} claims, " + "; ".join(parts) + "."
    key = found.get("ssim < mse")
    if key is not None:
        last = list(key.per_reading)[-1]
        d = key.evidence[last]["ssim < mse"]
        text += f" MSE minus SSIM alone on {last}: {d.mean:+.3g} [{d.low:+.3g}, {d.high:+.3g}]."
    if len(votes) < len(readings):
        text += (f" The {len(readings) - len(votes)} readings of layers with more feature dimensions than "
                 "images (their real-vs-real distance mostly bias) are printed but do not vote.")
    pairs = pairwise_orders(votes, level=data["level"])
    if pairs:
        count = {v: sum(p.verdict == v for p in pairs) for v in stats.VERDICTS}
        text += (f" Of {len(pairs)} pairs with different published FIDs, {count[HOLDS]} keep the write-up's "
                 f"order on every reading, {count[REVERSED]} are reversed, {count[UNRESOLVED]} unresolved.")
    timing = [c for n, c in found.items() if n.startswith("time_under_10_percent")]
    if timing:
        text += " Extra time per step under 10 %: " + "; ".join(
            f"{c.verdict} at {c.name.split(' · ')[1]}" for c in timing) + "."
    state = [n for n in ("mse_still_improving", "most_codes_dead") if n in found]
    if state:
        text += " Undertrained: " + ", ".join(f"“{SHORT[n]}” {found[n].verdict}" for n in state) + "."
    text += (" Every interval is per comparison, not corrected for the number of pairs or claims, and the "
             f"{len(votes)} voting readings share the same {seeds} seed pairs: agreement across them is not "
             "replication.")
    return text
