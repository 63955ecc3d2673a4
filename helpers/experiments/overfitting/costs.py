"""What a profile of notebook 06 costs: its runs counted in training samples and evaluated images,
its multiply-adds counted from the network, and Adam steps timed at the write-up's width.

    trained, evaluated = samples(settings)        # over every run of the design
    needed = flops(settings, width=128)            # training at 3 forward passes a sample, evaluation 1
    seconds = step_seconds(model, x, y, steps=2)   # median of timed Adam steps, after a warm-up
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import Tensor, nn

from helpers.checks import positive_int
from helpers.experiments.overfitting.runs import PatternObjective, forward_macs
from helpers.experiments.overfitting.study import arms_of


def profile_runs(settings, shown_code: int = 64, question_seeds: int = 3,
                 generating_parameters: int | None = 4) -> list[tuple[int, int]]:
    """``(code, training pairs)`` of every run of a profile's design (:func:`arms_of`, the stand-in's
    4 generating parameters by default), one per seed."""
    arms = arms_of(settings, shown_code, question_seeds, generating_parameters)
    return [(code, pairs) for (_, code, pairs), seeds in sorted(arms.items()) for _ in range(seeds)]


def samples(settings, question_seeds: int = 3) -> tuple[int, int]:
    """``(training samples, evaluated images)`` of all of a profile's runs: every run takes the same
    steps of ``batch_size``; after each epoch it measures all its training pairs and the validation
    pairs."""
    train = evaluated = 0
    per_run = settings.epochs * (settings.train_images // settings.batch_size) * settings.batch_size
    for _, pairs in profile_runs(settings, question_seeds=question_seeds):
        train += per_run
        evaluated += settings.epochs * (pairs + settings.val_images)
    return train, evaluated


def flops(settings, width: int, question_seeds: int = 3) -> float:
    """Floating-point operations (2 per multiply-add, :func:`forward_macs`) of all of a profile's runs
    at ``width``: a training sample costs 3 forward passes (forward, and a backward of twice its cost),
    an evaluated image 1."""
    positive_int("width", width)
    total = 0.0
    steps = (settings.train_images // settings.batch_size) * settings.batch_size
    for code, pairs in profile_runs(settings, question_seeds=question_seeds):
        per_epoch = 3 * steps + pairs + settings.val_images
        total += 2 * forward_macs(width, code) * per_epoch * settings.epochs
    return total


def step_seconds(model: nn.Module, x: Tensor, y: Tensor, steps: int = 2, lr: float = 1e-4) -> float:
    """The median wall time of ``steps`` Adam steps of 100 (1 - MS-SSIM) on the batch ``(x, y)``, after
    one untimed warm-up step (CUDA synchronised before each clock reading). Trains ``model``."""
    positive_int("steps", steps)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    objective = PatternObjective("ms_ssim")
    times = []
    for _ in range(steps + 1):
        began = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        objective(model, x, y, None)["loss"].backward()
        optimiser.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return float(np.median(times[1:]))
