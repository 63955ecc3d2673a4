"""What each loss of notebook 07's zoo costs and weighs: seconds per training step (interleaved, paired
by round), the time ratios to MSE with their bootstrap intervals, each loss's value and gradient at a
network's start, and the gradient of each term of the VQ-VAE's loss where they meet.

    seconds = step_times(lambda: VQVAE(1, 32, 512, 32), ["mse", "ssim"], batch, repeats=15, beta=1.0)
    ratios = time_ratios(seconds)  # {name: Interval of its median time over MSE's}
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from helpers import stats
from helpers.checks import positive_int
from helpers.experiments.vqvae.configurations import TITLES, check_configurations
from helpers.images import as_float
from helpers.losses import get_loss
from helpers.models.vqvae import VQVAE, vqvae_loss


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
    positive_int("repeats", repeats)
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


def scales_table(found: Mapping[str, Mapping[str, float]]) -> str:
    """:func:`loss_scales` as a table: each loss's value, its gradient norm at the output and at the
    weights, and the latter over MSE's (``found`` must hold ``mse``)."""
    lines = [f"{'loss':>8} {'value':>9} {'|dL/dx_hat|':>12} {'|dL/dweights|':>14} {'weights: x MSE':>15}"]
    for name, s in found.items():
        lines.append(f"{TITLES[name]:>8} {s['value']:9.4g} {s['grad_output']:12.4g} "
                     f"{s['grad_weights']:14.4g} {s['grad_weights'] / found['mse']['grad_weights']:15.3g}")
    return "\n".join(lines)


def term_ratios(rows: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float, float]]:
    """From :func:`term_gradients` rows (any number of networks and batches): ``encoder``, the
    reconstruction loss over beta * commitment at the encoder, ``codebook``, the codebook term at the
    codes, and for a mixture ``decoder``, w * loss over MSE at the decoder, each as (median, lowest,
    highest)."""
    def spread(values: list[float]) -> tuple[float, float, float]:
        return float(np.median(values)), min(values), max(values)

    found = {"encoder": spread([r["recon_encoder"] / r["commitment_encoder"] for r in rows]),
             "codebook": spread([r["codebook_codes"] for r in rows])}
    if "mse_decoder" in rows[0]:
        found["decoder"] = spread([r["weighted_decoder"] / r["mse_decoder"] for r in rows])
    return found


def term_ratio_table(ratios: Mapping[str, Mapping[str, tuple[float, float, float]]]) -> str:
    """:func:`term_ratios` per configuration, one line each: median (lowest to highest)."""
    def cell(value: tuple[float, float, float] | None) -> str:
        return "" if value is None else f"{value[0]:.3g} ({value[1]:.3g} to {value[2]:.3g})"

    lines = [f"{'configuration':>18} {'recon / beta*commit @encoder':>30} {'w*loss / MSE @decoder':>26} "
             f"{'codebook @codes':>16}"]
    for name, r in ratios.items():
        lines.append(f"{name:>18} {cell(r['encoder']):>30} {cell(r.get('decoder')):>26} "
                     f"{r['codebook'][0]:16.4g}")
    return "\n".join(lines)


def full_step_cost(settings, device: torch.device | str = "cpu", steps: int = 2) -> dict[str, float]:
    """One training step (MSE) of a profile's network on a batch of 3 x 32 x 32 images: ``flop``,
    counted by torch's ``FlopCounterMode`` (forward and backward), and ``seconds``, the median of
    ``steps`` timed Adam steps on ``device`` after one untimed. With the profile's ``runs`` (its
    configurations times its seeds) and ``steps_per_run``."""
    from torch.utils.flop_counter import FlopCounterMode

    positive_int("steps", steps)
    network = VQVAE(3, settings.width, settings.codes, settings.embedding_dim).to(device)
    batch = torch.rand(settings.batch_size, 3, 32, 32, device=device)

    def loss() -> Tensor:
        out = network(batch)
        return ((out.output - batch) ** 2).mean() + out.codebook_loss + out.commitment_loss

    with FlopCounterMode(display=False) as counter:
        loss().backward()
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.lr)
    times = []
    for _ in range(steps + 1):
        began = time.perf_counter()
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return {"flop": float(counter.get_total_flops()), "seconds": float(np.median(times[1:])),
            "runs": len(settings.configs) * settings.seeds,
            "steps_per_run": settings.epochs * (settings.train_images // settings.batch_size)}
