"""The VQ-VAE loss zoo of notebook 07: configurations, data, one keyed run, timings, loss scales, and
the Fréchet-distance table in the write-up's layout.

    data = zoo_data("cifar10", "fashion-mnist", train=8_000, val=500, test=4_000)  # says which, and why
    run = train_vqvae(data, "mse+ssim@0.5", seed=0, settings=s, root=runs_dir() / "07", beta=1.0)
    seconds = step_times(lambda: VQVAE(1, 32, 512, 32), ["mse", "ssim"], batch, repeats=15, beta=1.0)
    table = layout_table({name: (mean, std), ...})  # alone / MSE + w * loss, w = 1, 0.5, 0.25

A *configuration* is a reconstruction loss by :func:`helpers.losses.get_loss`'s name: ``"mse"``, a
loss alone (``"ssim"``) or MSE + w * loss (``"mse+ssim@0.5"``). The write-up ("Better
Reconstruction Loss for VQ-VAE") trained 22: MSE, and each of six losses alone and with w = 1, 0.5,
0.25 (:data:`CONFIGURATIONS`). Every configuration is an independent run keyed by its settings and
data (:func:`helpers.train.run_directory`): runs made on several machines are reused by a final run.
"""

from __future__ import annotations

import copy
import csv
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from helpers.data import DatasetInfo, load_split
from helpers.loader import TensorLoader
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


#: The write-up's 22 configurations, in the order of its table (rows, then columns).
CONFIGURATIONS = ("mse", *(c for loss in ZOO for c in (configuration(loss),
                                                           *(configuration(loss, w) for w in WEIGHTS))))


def parse_configuration(name: str) -> tuple[str, float | None]:
    """``(loss, weight)`` of a configuration: ``("ssim", None)`` for ``"ssim"``, ``("ssim", 0.5)`` for
    ``"mse+ssim@0.5"``. Raises ``ValueError`` (from :func:`helpers.losses.get_loss`) for other names."""
    built = get_loss(name)
    if hasattr(built, "weight"):
        return built.loss.name, built.weight
    return built.name, None


def check_configurations(names: Sequence[str]) -> list[str]:
    """``names`` as a list, each a valid configuration, none twice; raises ``ValueError`` otherwise."""
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) == 0:
        raise ValueError(f"configurations must be a non-empty list of names such as ['mse', 'mse+ssim@0.5'] "
                         f"(with papermill: -y \"CONFIGS: ['ssim']\", not -p); got {names!r}")
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


def as_float(images: Tensor) -> Tensor:
    """uint8 images -> float32 in [0, 1]; float images unchanged."""
    return images.float() / 255 if images.dtype == torch.uint8 else images


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
    each first. Returns ``{name: [seconds per round]}``; take the median (:func:`relative_times`)."""
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


def relative_times(seconds: Mapping[str, Sequence[float]], reference: str = "mse") -> dict[str, float]:
    """Median seconds of each name over the median of ``reference``: 1.10 means 10 % slower."""
    if reference not in seconds:
        raise ValueError(f"seconds must hold the reference {reference!r}; got {sorted(seconds)}")
    base = statistics.median(seconds[reference])
    return {name: statistics.median(values) / base for name, values in seconds.items()}


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


# --------------------------------------------------------------------------------------------
# The table and the rankings
# --------------------------------------------------------------------------------------------


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=1``; 0 for one value) of ``values`` (at least one)."""
    if len(values) == 0:
        raise ValueError("values must hold at least one number; got none")
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def _cell(value: tuple[float, float] | None, scale: float, digits: int | None) -> str:
    if value is None:
        return "—"
    mean, std = value[0] / scale, value[1] / scale
    if digits is None:  # significant digits: FDs of classifier features can be small numbers
        return f"{mean:.4g} ± {std:.2g}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def layout_table(summary: Mapping[str, tuple[float, float]], scaled: bool = False, digits: int | None = None,
                 losses: Sequence[str] = ZOO, weights: Sequence[float] = WEIGHTS) -> str:
    """A Markdown table in the write-up's layout: one row for MSE and one per loss of ``losses``;
    columns "alone", then MSE + w·loss for each w of ``weights``. ``summary``: configuration ->
    (mean, std) over seeds; configurations not in it show "—". ``scaled``: every value divided by the
    lowest mean of the table (the write-up's "multiple of the lowest one"), so the best reads 1.00.
    ``digits``: decimals; default 2 when scaled, else 4 significant digits (std: 2)."""
    if not summary:
        raise ValueError("summary must hold at least one configuration; got none")
    scale = min(m for m, _ in summary.values()) if scaled else 1.0
    if scale <= 0:
        raise ValueError(f"scaled=True needs positive means; the lowest is {scale}")
    digits = 2 if scaled and digits is None else digits
    header = "| loss | alone | " + " | ".join(f"MSE + {w:g}·loss" for w in weights) + " |"
    lines = [header, "|---" * (2 + len(weights)) + "|"]
    lines.append("| MSE | " + _cell(summary.get("mse"), scale, digits) + " |" + " — |" * len(weights))
    for loss in losses:
        cells = [_cell(summary.get(configuration(loss)), scale, digits)]
        cells += [_cell(summary.get(configuration(loss, w)), scale, digits) for w in weights]
        lines.append(f"| {TITLES.get(loss, loss)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks from 1 (smallest), ties sharing their average rank."""
    array = np.asarray(values, dtype=float)
    order = np.argsort(array, kind="stable")
    result = np.empty(len(array))
    result[order] = np.arange(1, len(array) + 1)
    for value in np.unique(array):
        tied = array == value
        result[tied] = result[tied].mean()
    return result


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation of two equally long sequences (at least 3 values, not constant)."""
    if len(a) != len(b) or len(a) < 3:
        raise ValueError(f"a and b must have the same length >= 3; got {len(a)} and {len(b)}")
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        raise ValueError("a and b must not be constant")
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass(frozen=True)
class PairwiseOrder:
    """One pair of configurations: whether ours and the write-up's order agree, and whether ours is
    resolved (the difference of means exceeds ``threshold``)."""

    better: str  # the write-up's lower FID
    worse: str
    published: tuple[float, float]
    ours: tuple[float, float]  # means
    agrees: bool
    resolved: bool


def pairwise_orders(summary: Mapping[str, tuple[float, float]], threshold: Callable[[str, str], float],
                    published: Mapping[str, float] = PUBLISHED_FID) -> list[PairwiseOrder]:
    """Every pair of configurations in both ``summary`` and ``published`` with different published
    values: does our order of means agree, and is our difference larger than ``threshold(a, b)``
    (for example twice the larger seed std, or the noise floor)?"""
    names = [n for n in published if n in summary]
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if published[a] == published[b]:
                continue
            better, worse = (a, b) if published[a] < published[b] else (b, a)
            ours = (summary[better][0], summary[worse][0])
            pairs.append(PairwiseOrder(better, worse, (published[better], published[worse]), ours,
                                       ours[0] < ours[1], abs(ours[1] - ours[0]) > threshold(better, worse)))
    return pairs


def claim_checks(summary: Mapping[str, tuple[float, float]]) -> dict[str, bool | None]:
    """The write-up's qualitative claims, each True/False on our means, None where a configuration it
    needs is missing:

    - ``ssim_alone_best``: SSIM alone has the lowest value of all;
    - ``ssim_alone_beats_mse``, ``psnr_alone_beats_mse``: they beat the MSE baseline;
    - ``gradient_losses_alone_worst``: HaarPSI, GMSD and MS-GMSD alone are each worse than every other
      configuration trained;
    - ``mse_rescues_gradient_losses``: for each of HaarPSI, GMSD, MS-GMSD, every combination with MSE
      beats the loss alone."""
    def has(*names: str) -> bool:
        return all(n in summary for n in names)

    mean = {n: v[0] for n, v in summary.items()}
    checks: dict[str, bool | None] = {}
    checks["ssim_alone_best"] = mean["ssim"] == min(mean.values()) if has("ssim") and len(mean) > 1 else None
    checks["ssim_alone_beats_mse"] = mean["ssim"] < mean["mse"] if has("ssim", "mse") else None
    checks["psnr_alone_beats_mse"] = mean["psnr"] < mean["mse"] if has("psnr", "mse") else None
    gradient = [n for n in ("haarpsi", "gmsd", "ms_gmsd") if n in mean]
    others = [n for n in mean if n not in ("haarpsi", "gmsd", "ms_gmsd")]
    checks["gradient_losses_alone_worst"] = (min(mean[n] for n in gradient) > max(mean[n] for n in others)
                                             if gradient and others else None)
    rescued = [mean[configuration(loss, w)] < mean[loss] for loss in ("haarpsi", "gmsd", "ms_gmsd")
               for w in WEIGHTS if has(loss, configuration(loss, w))]
    checks["mse_rescues_gradient_losses"] = all(rescued) if rescued else None
    return checks


def finite(values: Sequence[float]) -> bool:
    """True when every value is a finite number."""
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
