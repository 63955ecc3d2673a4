"""Notebook 06's design in one object: which arms run with which seeds, each run trained once and
recorded once, and what its claims are decided from.

    study = Study(settings, "cpu", data, root=runs_dir("cpu") / "06_overfitting")
    main = {loss: study.arm(loss) for loss in LOSSES}  # code 64 on all training pairs, one run a seed
    found = study.decide("learning")  # claims of one group, decided from the records alone, printed
    results.save("06_overfitting", "runs", study.saved(verdicts), "cpu")

An *arm* is a loss, a code size and a number of training pairs; its runs differ only in the seed (the
initial weights and the batch order), and seed s is the same in every arm, so arms compare seed by
seed. Every run takes the same steps: a smaller training set is repeated within an epoch
(``repeats``), which also makes it pass over its pairs more often (:func:`equal_passes` compares at
equal passes as well). The arms the questions rest on (code 64 of every loss, the largest code of
MS-SSIM and the positive control's two codes, at ``code_pairs``) run ``question_seeds`` seeds, the
others the profile's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from helpers.checks import positive_int
from helpers.data import Splits
from helpers.experiments.overfitting.rules import (
    diverged,
    gap_onset,
    mean_pattern_baseline,
    plateau_onset,
    relative_gap,
    run_record,
    tail_mean,
)
from helpers.experiments.overfitting.runs import LOSS_SCALES, train_pattern_model
from helpers.experiments.overfitting.verdicts import Claim, claim_names, claims, equal_passes
from helpers.stats import mean_std
from helpers.train import Run

#: The losses of the code and data sweeps.
SWEPT: tuple[str, ...] = ("ms_ssim", "mse")
#: How the notebook names each loss.
NAMES: dict[str, str] = {"ms_ssim": "100·(1 − MS-SSIM)", "mse": "MSE", "bce": "BCE − H(target)"}


def arms_of(settings, shown_code: int = 64, question_seeds: int = 3,
            generating_parameters: int | None = None) -> dict[tuple[str, int, int], int]:
    """Every arm of a profile's design, ``{(loss, code, pairs): seeds}``: code ``shown_code`` of every
    loss on all training pairs and at ``code_pairs`` (the questions' size), the largest code of
    MS-SSIM there, the positive control's two codes (the smallest, and the largest no larger than
    ``generating_parameters``: :func:`verdicts.control_codes`), and the code and data sweeps of
    :data:`SWEPT`. The questions' arms run ``question_seeds`` seeds, the others the profile's; arms
    the sweeps share are listed once, with the most seeds any use of them asks for."""
    arms: dict[tuple[str, int, int], int] = {}

    def add(loss: str, code: int, pairs: int, seeds: int) -> None:
        arms[(loss, code, pairs)] = max(arms.get((loss, code, pairs), 0), seeds)

    for loss in LOSS_SCALES:
        add(loss, shown_code, settings.train_images, settings.seeds)
        add(loss, shown_code, settings.code_pairs, question_seeds)
    add("ms_ssim", max(settings.codes), settings.code_pairs, question_seeds)
    if generating_parameters is not None:  # the positive control's codes: question 2's test where it can fire
        small = min(settings.codes)
        below = [c for c in settings.codes if small < c <= generating_parameters]
        for code in [small, max(below)] if below else []:
            add("ms_ssim", code, settings.code_pairs, question_seeds)
    for loss in SWEPT:
        for code in settings.codes:
            add(loss, code, settings.code_pairs, settings.seeds)
        for pairs in settings.train_sizes:
            add(loss, shown_code, pairs, settings.seeds)
    return arms


class Study:
    """The runs of notebook 06 under one profile's ``settings``
    (:class:`helpers.config.OverfittingSettings`) on ``data`` (:func:`pattern_data`, all
    ``settings.train_images`` pairs), trained into ``root``; ``records`` keeps each run's
    :func:`run_record` once, ``baseline`` the mean pattern's measures by training pairs, ``rules``
    what the onset rules say of each run (:meth:`apply_rules`)."""

    #: The columns of :meth:`describe`.
    TABLE_HEADER = f"{'train loss (eval)':>20} {'validation loss':>20} {'relative gap':>20}"
    #: The header of :meth:`apply_rules`'s lines.
    RULES_HEADER = (f"{'trained with':>18} {'code':>4} {'pairs':>5} {'seed':>4} val stops improving "
                    f"gap widens (eval) gap widens (train mode) {'gap (eval)':>10} {'diverges':>8}")

    def __init__(self, settings, profile: str, data: Splits, *, root: Path, shown_code: int = 64,
                 question_seeds: int = 3, tail: int = 3, level: float = 0.95,
                 generating_parameters: int | None = None, device: torch.device | str | None = None,
                 onset_rules: Mapping[str, float] | None = None) -> None:
        for name, value in (("shown_code", shown_code), ("question_seeds", question_seeds), ("tail", tail)):
            positive_int(name, value)
        if len(data.train[0]) != settings.train_images:
            raise ValueError(f"data must hold the profile's {settings.train_images} training pairs; got "
                             f"{len(data.train[0])}")
        if settings.code_pairs not in settings.train_sizes or shown_code not in settings.codes:
            raise ValueError(f"settings must sweep code_pairs ({settings.code_pairs}) and the shown "
                             f"code ({shown_code}); got train_sizes {settings.train_sizes}, codes "
                             f"{settings.codes}")
        self.settings, self.data, self.root, self.device = settings, data, Path(root), device
        self.shown, self.tail = shown_code, tail
        self.arms = arms_of(settings, shown_code, question_seeds, generating_parameters)
        self.design = {"profile": profile, "label": data.info.label, "losses": list(LOSS_SCALES),
                       "swept": list(SWEPT), "shown_code": shown_code, "code_pairs": settings.code_pairs,
                       "train_images": settings.train_images, "codes": list(settings.codes),
                       "train_sizes": list(settings.train_sizes), "level": level, "tail": tail,
                       "epochs": settings.epochs,
                       "steps": settings.epochs * (settings.train_images // settings.batch_size),
                       "width": settings.width, "lr": settings.lr, "batch_size": settings.batch_size,
                       "generating_parameters": generating_parameters}
        self.records: dict[tuple[str, int, int, int], dict] = {}
        self.baseline = {str(n): mean_pattern_baseline(self.subset(n))
                         for n in sorted({settings.code_pairs, *settings.train_sizes})}
        self.rules: dict[tuple[str, int, int, int], dict] = {}
        self.onset_rules = {"patience": 3, "tolerance": 0.01, "rise": 0.05, "ratio": 1.5}
        self.onset_rules |= dict(onset_rules or {})

    def subset(self, pairs: int) -> Splits:
        """The data with the first ``pairs`` training pairs (validation unchanged)."""
        return self.data if pairs == self.settings.train_images else self.data.first(pairs)

    def seeds_of(self, loss: str, code: int, pairs: int) -> list[int]:
        """The seeds of one arm of the design; ``ValueError`` for an arm it does not have."""
        if (loss, code, pairs) not in self.arms:
            raise ValueError(f"the arm (loss, code, pairs) must be one of the design's {sorted(self.arms)}; "
                             f"got {(loss, code, pairs)}")
        return list(range(self.arms[(loss, code, pairs)]))

    def arm(self, loss: str, code: int | None = None, pairs: int | None = None) -> list[Run]:
        """The runs of one arm (default: the shown code on all training pairs), one per seed, each
        trained (or reloaded) and recorded once."""
        code = self.shown if code is None else code
        pairs = self.settings.train_images if pairs is None else pairs
        s, found = self.settings, []
        for seed in self.seeds_of(loss, code, pairs):
            repeats = max(1, s.train_images // pairs)
            run = train_pattern_model(self.subset(pairs), loss, seed, code_size=code, width=s.width,
                                      epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, root=self.root,
                                      repeats=repeats, train_eval_size=pairs, device=self.device,
                                      amp=s.amp)
            if (loss, code, pairs, seed) not in self.records:
                self.records[(loss, code, pairs, seed)] = run_record(
                    run.history, loss=loss, code=code, pairs=pairs, seed=seed, tail=self.tail,
                    passes_per_epoch=repeats)
            found.append(run)
        return found

    def gap(self, run: Run, how: str = "train_eval", metric: str = "loss") -> float:
        """A run's relative gap (val - train) / val of ``metric`` (``loss``: its own; or one of
        :data:`METRICS`), training pairs measured ``how`` (``train_eval`` or ``train``, the train-mode
        epoch mean), the mean of its last ``tail`` epochs."""
        return tail_mean(relative_gap(run.history, f"{how}_{metric}", f"val_{metric}"), self.tail)

    def gaps(self, arms: Mapping[int, Sequence[Run]]) -> dict[int, list[float]]:
        """``{key: each run's relative gap (:meth:`gap`)}`` of arms keyed by code or training pairs."""
        return {key: [self.gap(run) for run in runs] for key, runs in arms.items()}

    def gap_by_pass(self, runs: Sequence[Run], pairs: int) -> tuple[np.ndarray, np.ndarray]:
        """``(passes, gap)``: the passes over its ``pairs`` training pairs after each epoch, and the
        relative gap on the own loss in eval mode then, averaged over ``runs`` (one arm's seeds)."""
        every = max(1, self.settings.train_images // pairs)
        gaps = np.mean([relative_gap(run.history) for run in runs], axis=0)
        return every * np.arange(1, len(gaps) + 1), gaps

    def tails(self, runs: Sequence[Run], key: str) -> list[float]:
        """Each run's mean of ``key`` over its last ``tail`` epochs."""
        return [tail_mean([row[key] for row in run.history], self.tail) for run in runs]

    def describe(self, runs: Sequence[Run]) -> str:
        """The seeds' mean ± std of a run's training loss (eval mode), validation loss and relative gap,
        each the mean of its last ``tail`` epochs: one line of a table under ``TABLE_HEADER``."""
        columns = (self.tails(runs, "train_eval_loss"), self.tails(runs, "val_loss"),
                   [self.gap(run) for run in runs])
        return " ".join(f"{m:11.4f} ± {s:<6.4f}" for m, s in map(mean_std, columns))

    def saved(self, verdicts: dict[str, str] | None = None) -> dict:
        """What the claims are decided from, as saved: ``{"design", "baseline", "runs"}`` (and the
        ``verdicts``, when given)."""
        found = {"design": self.design, "baseline": self.baseline, "runs": list(self.records.values())}
        return found | ({"verdicts": verdicts} if verdicts is not None else {})

    def decide(self, *groups: str, show: bool = True) -> dict[str, Claim]:
        """The claims of ``groups`` (all, with the claims made of others, when none is named), decided
        from the records alone by :func:`claims` (as the tests decide the saved file), one line each."""
        found = claims(self.saved(), groups or None)
        if show:
            for claim in found.values():
                print(claim.describe())
        return found

    def names(self) -> dict[str, str]:
        """The claims' names by role (:func:`claim_names`), with the equal-passes comparison where the
        recorded runs have one."""
        return claim_names(self.design, self.equal_passes())

    def equal_passes(self) -> int | None:
        """:func:`equal_passes` of the recorded MS-SSIM runs of the shown code on the sweep's sizes."""
        return equal_passes(self.saved(), "ms_ssim", self.shown, self.settings.train_sizes)

    def apply_rules(self, loss: str, code: int, pairs: int, runs: Sequence[Run]) -> None:
        """The onset rules for each seed's run of one arm (:func:`plateau_onset`, :func:`gap_onset` in
        eval and in train mode, :func:`diverged`) with ``onset_rules`` (``patience``, ``tolerance``,
        ``rise``, ``ratio``: the constructor's, default 3, 0.01, 0.05, 1.5), kept in ``rules`` and
        printed one line a run under ``RULES_HEADER``."""
        patience, tolerance, rise, ratio = (self.onset_rules[k]
                                            for k in ("patience", "tolerance", "rise", "ratio"))
        for seed, run in zip(self.seeds_of(loss, code, pairs), runs, strict=True):
            val = [row["val_loss"] for row in run.history]
            found = {"val stops improving": plateau_onset(val, patience, tolerance),
                     "gap widens (eval)": gap_onset(run.history, "train_eval_loss", rise=rise,
                                                    patience=patience),
                     "gap widens (train mode)": gap_onset(run.history, "train_loss", rise=rise,
                                                          patience=patience),
                     "gap (eval)": self.gap(run), "diverges": diverged(val, ratio), "best": min(val),
                     "last": val[-1]}
            self.rules[(loss, code, pairs, seed)] = found
            onsets = " ".join(f"{'none' if found[k] is None else found[k]:>{len(k)}}"
                              for k in list(found)[:3])
            print(f"{NAMES[loss]:>18} {code:4d} {pairs:5d} {seed:4d} {onsets} {found['gap (eval)']:+10.4f} "
                  f"{'DIVERGES' if found['diverges'] else 'no':>8}")

