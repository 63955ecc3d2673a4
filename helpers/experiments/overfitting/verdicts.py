"""The claims of notebook 06, decided from each run's final measurements alone.

    found = claims(data)  # data: {"design": ..., "baseline": ..., "runs": [run_record(...), ...]}
    print(found[name].describe())  # "holds", "reversed" or "unresolved", with its interval

Every claim the notebook makes is decided by :func:`claims` from each run's record
(:func:`helpers.experiments.overfitting.rules.run_record`, saved by the notebook through
:mod:`helpers.results`) alone: a seed-paired difference of two arms
(:func:`helpers.stats.paired_difference`; seed s is the same initial weights and the same batch order
in every arm), "holds" only where its interval excludes 0. The tests re-decide the saved reference run
with the same function, and :func:`readme_summary` words it for the README.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from helpers import stats
from helpers.experiments.overfitting.runs import LOSS_SCALES

#: How the claims name each loss.
LOSS_NAMES: dict[str, str] = {"ms_ssim": "MS-SSIM", "mse": "MSE", "bce": "BCE"}
#: The groups of claims in the notebook's order: its sections 3 (learning), 4 (offsets), 5 (outputs),
#: 6 (code), 7 (data) and 8 (questions, with the verdicts made of other claims).
CLAIM_GROUPS: tuple[str, ...] = ("learning", "offsets", "outputs", "code", "data", "questions")
#: What names a run in the saved data: its loss, code size, training pairs and seed.
RUN_IDENTITY: tuple[str, ...] = ("loss", "code", "pairs", "seed")
#: Each loss's own scale in the mean pattern's baseline (its loss without the factor of LOSS_SCALES).
OWN_METRIC: dict[str, str] = {"ms_ssim": "ms_ssim_loss", "mse": "mse", "bce": "bce"}


@dataclass(frozen=True)
class Claim:
    """One claim of notebook 06 and its ``verdict`` ("holds", "reversed" or "unresolved").

    A measured claim has a ``difference``: ``a - b`` paired by seed
    (:func:`helpers.stats.paired_difference`), oriented so that "holds" is the claim as its ``name``
    words it; ``seeds`` are the seeds paired, and ``unpaired`` names the runs without a partner (two
    arms are paired on the seeds both have). A claim made of others has no difference but ``parts``
    (their names) and a ``note`` with its rule."""

    name: str
    group: str
    verdict: str
    difference: stats.Difference | None = None
    seeds: tuple[int, ...] = ()
    unpaired: str = ""
    parts: tuple[str, ...] = ()
    note: str = ""

    def describe(self, digits: int = 4) -> str:
        """One line: the name, then the difference with its interval and verdict (and what the design
        resolves, if unresolved), or the verdict with its rule."""
        if self.difference is None:
            return f"{self.name}: {self.verdict}" + (f" ({self.note})" if self.note else "")
        text = f"{self.name}: {self.difference.describe(digits)}"
        if self.note:  # measured, but decided by a rule beside the interval
            text += f"; so {self.verdict} ({self.note})"
        return text + (f"; {self.unpaired}" if self.unpaired else "")


#: The common scales every model is measured on, and how the claims name them.
SCALES: dict[str, str] = {"ms_ssim_loss": "1 - MS-SSIM", "mse": "MSE", "bce": "BCE"}


def loss_claim_name(pairs: int, other: str, how: str) -> str:
    """``how``: ``own`` (each model's relative gap on the loss it was trained with), or a common scale
    of :data:`SCALES`."""
    if how == "own":
        return (f"loss, {pairs} pairs: MS-SSIM gap on its own loss larger than {LOSS_NAMES[other]}'s on "
                "its own")
    return f"loss, {pairs} pairs: MS-SSIM gap larger than {LOSS_NAMES[other]}'s on {SCALES[how]}"


def control_codes(design: Mapping) -> tuple[int, int] | None:
    """The positive control's codes: the smallest code and the largest code of the sweep that is no
    larger than the data's generating parameters (a code below them is a bottleneck by construction);
    None when the design has no such pair."""
    generating = design.get("generating_parameters")
    small = min(design["codes"])
    below = [c for c in design["codes"] if generating is not None and small < c <= generating]
    return (small, max(below)) if below else None


def _code_name(loss: str, code: int, shown: int, pairs: int, what: str) -> str:
    where = f"({LOSS_NAMES[loss]}, {pairs} pairs)"
    return {"worse": f"code: code {code} fits the training pairs worse than code {shown} {where}",
            "better": f"code: code {code} fits the training pairs better than code {shown} {where}",
            "better_val": f"code: code {code} fits the validation pairs better than code {shown} {where}",
            "narrower": f"code: the gap narrower with code {code} than code {shown} {where}"}[what]


def _data_name(loss: str, fewest: int, most: int, shown: int, passes: int | None = None) -> str:
    if passes is None:
        return f"data: the gap larger with {fewest} pairs than with {most} ({LOSS_NAMES[loss]}, code {shown})"
    return (f"data: the gap larger with {fewest} pairs than with {most} after {passes} passes each "
            f"({LOSS_NAMES[loss]}, code {shown})")


def _learns_name(loss: str, pairs: int) -> str:
    return (f"learning: the {LOSS_NAMES[loss]} model's validation loss below the mean pattern's on its "
            f"own loss ({pairs} pairs)")


def equal_passes(data: Mapping, loss: str, code: int, pair_counts: Sequence[int]) -> int | None:
    """The most passes over their training pairs after which every run of ``loss`` and ``code`` on
    each of ``pair_counts`` was measured (a run is measured after every epoch, ``passes_per_epoch``
    passes apart), or None when they share none. Runs on fewer pairs are repeated to take the same
    steps, so at equal steps they have made more passes: this is where they compare pass for pass."""
    common: set[int] | None = None
    for run in data["runs"]:
        if run["loss"] == loss and run["code"] == code and run["pairs"] in pair_counts:
            if "passes_per_epoch" not in run or "gaps" not in run:
                raise ValueError(f"every run needs 'passes_per_epoch' and 'gaps' (run_record); the run "
                                 f"{[run[k] for k in RUN_IDENTITY]} has {sorted(run)}")
            every = run["passes_per_epoch"]
            measured = {every * (epoch + 1) for epoch in range(len(run["gaps"]))}
            common = measured if common is None else common & measured
    return max(common) if common else None


def claim_names(design: Mapping, passes: int | None = None) -> dict[str, str]:
    """The names of the claims the notebook's questions and the README rest on, by role:
    ``loss_own_<other>`` (question 1's parts, ``other`` mse or bce, at the code sweep's size),
    ``loss_<scale>_<other>`` (the gaps on each common scale, for the record), ``fit_train``,
    ``fit_val``, ``narrower`` (question 2's parts), ``control_fit``, ``control_fit_val``,
    ``control_gap`` (the positive control: question 2's test where a code is a bottleneck by
    construction, :func:`control_codes`; absent without one), ``data`` (MS-SSIM, at equal steps),
    ``data_passes`` (the same at equal passes; absent where the runs share no pass count),
    ``measurement``, ``learns_<loss>`` (each loss's model beats the mean pattern at the questions'
    size: question 1's precondition), and the claims made of others: ``question_1``, ``question_2``,
    ``control``, ``survives``. ``passes``: :func:`equal_passes` of the data sweep's MS-SSIM runs."""
    shown, few, large = design["shown_code"], design["code_pairs"], max(design["codes"])
    names = {f"loss_{how}_{other}": loss_claim_name(few, other, how) for other in ("mse", "bce")
             for how in ("own", *SCALES)}
    names |= {f"learns_{loss}": _learns_name(loss, few) for loss in design["losses"]}
    if passes is not None:
        names["data_passes"] = _data_name("ms_ssim", min(design["train_sizes"]), max(design["train_sizes"]),
                                          shown, passes)
    return names | {
        "fit_train": _code_name("ms_ssim", large, shown, few, "better"),
        "fit_val": _code_name("ms_ssim", large, shown, few, "better_val"),
        "narrower": _code_name("ms_ssim", large, shown, few, "narrower"),
        "data": _data_name("ms_ssim", min(design["train_sizes"]), max(design["train_sizes"]), shown),
        "measurement": f"measurement: the train-mode gap below the eval-mode gap (MS-SSIM, {few} pairs)",
        "question_1": f"question 1 (loss): the MS-SSIM model's gap larger than MSE's and BCE's, each on "
                      f"its own loss ({few} pairs)",
        "question_2": f"question 2 (code): code {large} relieves a bottleneck of code {shown} (MS-SSIM, "
                      f"{few} pairs)",
        "survives": "the write-up's explanation survives (questions 1 and 2)",
    } | _control_names(design)


def _control_names(design: Mapping) -> dict[str, str]:
    codes = control_codes(design)
    if codes is None:
        return {}
    small, large, few = *codes, design["code_pairs"]
    return {"control_fit": _code_name("ms_ssim", large, small, few, "better"),
            "control_fit_val": _code_name("ms_ssim", large, small, few, "better_val"),
            "control_gap": _code_name("ms_ssim", large, small, few, "narrower"),
            "control": f"control: code {large} relieves a bottleneck of code {small} (MS-SSIM, {few} pairs)"}


def listed(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def sound(found: Mapping[str, Claim]) -> bool:
    """What every verdict must satisfy on any run: one of the three values, "holds" only with an
    interval above 0 and "reversed" only with one below 0 (a claim made of others has no interval)."""
    return all(c.verdict in stats.VERDICTS and (c.difference is None or (
        (c.verdict != stats.HOLDS or c.difference.low > 0)
        and (c.verdict != stats.REVERSED or c.difference.high < 0))) for c in found.values())


def _any_of(verdicts: Sequence[str]) -> str:
    """The verdict of "at least one of these holds": "holds" when one holds, "reversed" when each is
    reversed, else "unresolved"."""
    if not verdicts or any(v not in stats.VERDICTS for v in verdicts):
        raise ValueError(f"verdicts must be a non-empty list of {stats.VERDICTS}; got {list(verdicts)!r}")
    if stats.HOLDS in verdicts:
        return stats.HOLDS
    return stats.REVERSED if all(v == stats.REVERSED for v in verdicts) else stats.UNRESOLVED


Arm = tuple[dict[int, float], str]  # {seed: value} of one arm, and its label


def _arm(data: Mapping, loss: str, code: int, pairs: int, key: str) -> Arm:
    """``({seed: run[key]}, label)`` of every saved run of one arm."""
    label = f"{LOSS_NAMES[loss]} code {code}, {pairs} pairs"
    found: dict[int, float] = {}
    for run in data["runs"]:
        if (run["loss"], run["code"], run["pairs"]) != (loss, code, pairs):
            continue
        if key not in run:
            raise ValueError(f"the run of {label}, seed {run['seed']} has no {key!r}; it has {sorted(run)}")
        if run["seed"] in found:
            raise ValueError(f"data holds the run of {label}, seed {run['seed']} twice")
        found[run["seed"]] = run[key] if isinstance(run[key], list) else float(run[key])
    if not found:
        raise ValueError(f"data has no run of {label}, which a claim needs")
    return found, label


def _arm_at_passes(data: Mapping, loss: str, code: int, pairs: int, passes: int) -> Arm:
    """``({seed: the run's relative gap after ``passes`` passes}, label)`` of one arm."""
    found, label = _arm(data, loss, code, pairs, "gaps")  # checks that every run has its gaps
    for run in data["runs"]:
        if (run["loss"], run["code"], run["pairs"]) == (loss, code, pairs):
            epoch, left = divmod(passes, run["passes_per_epoch"])
            if left or not 1 <= epoch <= len(run["gaps"]):
                raise ValueError(f"the run of {label}, seed {run['seed']} was not measured after {passes} "
                                 "passes")
            found[run["seed"]] = float(run["gaps"][epoch - 1])
    return found, f"{label}, after {passes} passes"


def _log(arm: Arm) -> Arm:
    """The natural log of each seed's value: a multiplicative effect as a difference of logs."""
    return {seed: math.log(value) for seed, value in arm[0].items()}, f"log {arm[1]}"


def _mean_pattern(data: Mapping, loss: str, pairs: int) -> float:
    """The mean pattern's validation loss on ``loss``'s own scale (with its factor), ``pairs`` training
    pairs."""
    return LOSS_SCALES[loss] * data["baseline"][str(pairs)][OWN_METRIC[loss]]["val"]


def _learns(data: Mapping, loss: str, code: int, pairs: int, level: float) -> bool:
    """Whether the arm's validation loss lies below the mean pattern's on its own loss at ``level``
    (the claim :func:`_learns_name` names, decided the same way)."""
    own = _arm(data, loss, code, pairs, "val_loss")
    mean = _mean_pattern(data, loss, pairs)
    return _compare("", "", _constant(mean, own, "the mean pattern"), own, level).verdict == stats.HOLDS


def _beats_mean_pattern(data: Mapping, loss: str, code: int, pairs: int, passes: int) -> bool:
    """Whether every run of the arm is below the mean pattern on its own validation loss after
    ``passes`` passes (``val_losses`` per epoch, ``passes_per_epoch``)."""
    mean = _mean_pattern(data, loss, pairs)
    for run in data["runs"]:
        if (run["loss"], run["code"], run["pairs"]) == (loss, code, pairs):
            if run["val_losses"][passes // run["passes_per_epoch"] - 1] >= mean:
                return False
    return True


def _constant(value: float, like: Arm, label: str) -> Arm:
    """``value`` for every seed of the arm ``like``: a one-sample comparison in the paired form."""
    return {seed: float(value) for seed in like[0]}, label


def _compare(name: str, group: str, a: Arm, b: Arm, level: float) -> Claim:
    """The claim ``a > b``, paired on the seeds both arms have (the others named in ``unpaired``)."""
    seeds = sorted(set(a[0]) & set(b[0]))
    if not seeds:
        raise ValueError(f"{name!r}: the arms {a[1]} and {b[1]} share no seed to pair on")
    left = [f"seed {', '.join(map(str, sorted(set(arm) - set(seeds))))} of {label}"
            for arm, label in (a, b) if set(arm) - set(seeds)]
    unpaired = f"paired on the seeds both arms have; unpaired: {'; '.join(left)}" if left else ""
    found = stats.paired_difference([a[0][s] for s in seeds], [b[0][s] for s in seeds], level)
    return Claim(name, group, found.verdict, found, tuple(seeds), unpaired)


def claims(data: Mapping, groups: Sequence[str] | None = None) -> dict[str, Claim]:
    """Every claim of notebook 06, decided from its saved ``data`` alone (what the notebook passes to
    ``helpers.results.save``): ``{"design": {...}, "baseline": {...}, "runs": [run_record, ...]}``.

    ``design``: ``losses``, ``swept`` (the losses of the sweeps), ``shown_code``, ``code_pairs`` (the
    code sweep's and the questions' training pairs), ``train_images``, ``codes``, ``train_sizes`` and
    ``level``; ``baseline``: :func:`helpers.experiments.overfitting.rules.mean_pattern_baseline` by
    training pairs (a string key). Each measured claim is a seed-paired
    :func:`helpers.stats.paired_difference` at ``level``. ``groups``: some of :data:`CLAIM_GROUPS`
    (default all; the claims made of others only with all). Returns ``{name: Claim}`` in the notebook's
    order. Raises ``ValueError`` when a run a claim needs is
    missing."""
    design = data["design"]
    level = design["level"]
    groups = CLAIM_GROUPS if groups is None else tuple(groups)
    if not groups or any(g not in CLAIM_GROUPS for g in groups):
        raise ValueError(f"groups must be some of {CLAIM_GROUPS}; got {list(groups)!r}")
    shown, few, main = design["shown_code"], design["code_pairs"], design["train_images"]
    large = max(design["codes"])
    fewest, most = min(design["train_sizes"]), max(design["train_sizes"])
    names = claim_names(design, equal_passes(data, "ms_ssim", shown, (fewest, most)))
    found: dict[str, Claim] = {}

    def add(name: str, group: str, a: Arm, b: Arm) -> None:
        if name in found:
            raise ValueError(f"two claims are named {name!r}")
        found[name] = _compare(name, group, a, b, level)

    def arm(loss: str, key: str, code: int = shown, pairs: int = main) -> Arm:
        return _arm(data, loss, code, pairs, key)

    if "learning" in groups:
        baseline = data["baseline"][str(main)]["ms_ssim_loss"]["val"]
        for loss in design["losses"]:
            name = LOSS_NAMES[loss]
            add(f"learning: the {name} model's validation loss lower after the last epoch than the first",
                "learning", arm(loss, "val_first"), arm(loss, "val_last"))
            model = arm(loss, "val_ms_ssim_loss")
            add(f"learning: the {name} model's validation 1 - MS-SSIM below the mean pattern's ({main} "
                "pairs)", "learning", _constant(baseline, model, "the mean pattern"), model)
            for pairs in dict.fromkeys((few, main)):
                own = arm(loss, "val_loss", shown, pairs)
                mean = _mean_pattern(data, loss, pairs)
                add(_learns_name(loss, pairs), "learning", _constant(mean, own, "the mean pattern"), own)
    if "offsets" in groups:
        for loss in design["losses"]:
            for key, what in (("bn_rel", "batch normalisation in train mode"),
                              ("lag_rel", "the lag of the weights during the epoch")):
                part = arm(loss, key)
                add(f"offset: {what} raises the {LOSS_NAMES[loss]} model's epoch mean", "offsets", part,
                    _constant(0.0, part, "0"))
        add(names["measurement"], "offsets", arm("ms_ssim", "gap", shown, few),
            arm("ms_ssim", "gap_train_mode", shown, few))
        train_mode = arm("ms_ssim", "gap_train_mode", shown, few)
        add(f"measurement: the train-mode epoch mean above the validation loss over the last epochs "
            f"(MS-SSIM, {few} pairs)", "offsets", _constant(0.0, train_mode, "0"), train_mode)
    if "outputs" in groups:
        add("outputs: the MS-SSIM model's shown outputs closer to their patterns after the last epoch "
            "than the first (1 - MS-SSIM)", "outputs", arm("ms_ssim", "shown_first"),
            arm("ms_ssim", "shown_last"))
        add("outputs: clamping the MSE model's outputs at 0.999 lowers their BCE (log of the ratio)",
            "outputs", _log(arm("mse", "bce_raw")), _log(arm("mse", "bce_clamped")))
    if "code" in groups:
        for loss in design["swept"]:
            for code in design["codes"]:
                if code != shown:
                    add(_code_name(loss, code, shown, few, "worse"), "code",
                        arm(loss, "train_eval_loss", code, few), arm(loss, "train_eval_loss", shown, few))
                    add(_code_name(loss, code, shown, few, "narrower"), "code", arm(loss, "gap", shown, few),
                        arm(loss, "gap", code, few))
    if "data" in groups:
        for loss in design["swept"]:
            add(_data_name(loss, fewest, most, shown), "data", arm(loss, "gap", shown, fewest),
                arm(loss, "gap", shown, most))
            passes = equal_passes(data, loss, shown, (fewest, most))
            if passes is None:
                continue
            name = _data_name(loss, fewest, most, shown, passes)
            add(name, "data", _arm_at_passes(data, loss, shown, fewest, passes),
                _arm_at_passes(data, loss, shown, most, passes))
            idle = [n for n in (fewest, most) if not _beats_mean_pattern(data, loss, shown, n, passes)]
            if idle:  # a gap of models no better than the mean pattern is no sign of fitting more
                sizes = listed([str(n) for n in idle])
                found[name] = replace(found[name], verdict=stats.UNRESOLVED, note=(
                    f"not testable at this design: after {passes} passes a run on {sizes} pairs is not "
                    "below the mean pattern on its own validation loss"))
    if "questions" in groups:
        for pairs in dict.fromkeys((few, main)):  # the questions' size, then the full set for the record
            idle = [LOSS_NAMES[loss] for loss in design["losses"]
                    if not _learns(data, loss, shown, pairs, level)]
            for other in ("mse", "bce"):
                name = loss_claim_name(pairs, other, "own")
                add(name, "questions", arm("ms_ssim", "gap", shown, pairs), arm(other, "gap", shown, pairs))
                if idle:  # a gap of a model no better than the mean pattern is no sign of fitting more
                    found[name] = replace(found[name], verdict=stats.UNRESOLVED, note=(
                        f"not testable: the {listed(idle)} model{'s' * (len(idle) > 1)} did not beat the "
                        f"mean pattern on {'their' if len(idle) > 1 else 'its'} own loss at {pairs} pairs"))
                for scale in SCALES:
                    key = f"gap_on_{scale}"
                    add(loss_claim_name(pairs, other, scale), "questions", arm("ms_ssim", key, shown, pairs),
                        arm(other, key, shown, pairs))
        if large != shown:
            for role, key in (("fit_train", "train_eval_loss"), ("fit_val", "val_loss")):
                add(names[role], "questions", arm("ms_ssim", key, shown, few),
                    arm("ms_ssim", key, large, few))
        if control_codes(design) is not None:
            lower, upper = control_codes(design)
            for role, key in (("control_fit", "train_eval_loss"), ("control_fit_val", "val_loss")):
                add(names[role], "questions", arm("ms_ssim", key, lower, few),
                    arm("ms_ssim", key, upper, few))
            add(names["control_gap"], "questions", arm("ms_ssim", "gap", lower, few),
                arm("ms_ssim", "gap", upper, few))
    if groups != CLAIM_GROUPS:
        return found

    def made_of(role: str, verdict: str, parts: Sequence[str], note: str) -> None:
        found[names[role]] = Claim(names[role], "questions", verdict, parts=tuple(parts), note=note)

    parts = [names[f"loss_own_{other}"] for other in ("mse", "bce")]
    gates = [names[f"learns_{loss}"] for loss in design["losses"]]
    idle = [LOSS_NAMES[loss] for loss in design["losses"]
            if found[names[f"learns_{loss}"]].verdict != stats.HOLDS]
    if idle:
        made_of("question_1", stats.UNRESOLVED, gates + parts,
                f"not testable: the {listed(idle)} model{'s' * (len(idle) > 1)} did not beat the mean "
                f"pattern on {'their' if len(idle) > 1 else 'its'} own loss, so a gap is no sign of "
                "fitting more")
    else:
        made_of("question_1", stats.all_of([found[p].verdict for p in parts]), gates + parts,
                "every model beats the mean pattern on its own loss, and both parts must hold")
    generating = design.get("generating_parameters")
    if generating is not None and generating <= shown:
        parts = [names["fit_train"], names["fit_val"], names["narrower"]] if large != shown else []
        made_of("question_2", stats.UNRESOLVED, parts,
                f"not testable here: every pattern of these data is made from {generating} numbers, so a "
                f"code of {shown} cannot be their bottleneck, whatever the parts say")
    elif large != shown:
        parts = [names["fit_train"], names["fit_val"], names["narrower"]]
        verdict = stats.all_of([_any_of([found[p].verdict for p in parts[:2]]), found[parts[2]].verdict])
        made_of("question_2", verdict, parts,
                "it must fit the training or the validation pairs better, and its gap must be narrower")
    else:
        made_of("question_2", stats.UNRESOLVED, (), f"no code larger than {shown} in this design")
    if "control" in names:
        parts = [names["control_fit"], names["control_fit_val"], names["control_gap"]]
        verdict = stats.all_of([_any_of([found[p].verdict for p in parts[:2]]), found[parts[2]].verdict])
        made_of("control", verdict, parts, "question 2's test where a code is a bottleneck by construction: "
                "it must fit the training or the validation pairs better, and its gap must be narrower")
    parts = [names["question_1"], names["question_2"]]
    untestable = ", ".join(p.split(":")[0] for p in parts if found[p].note.startswith("not testable"))
    made_of("survives", stats.all_of([found[p].verdict for p in parts]), parts,
            "both questions must hold" + (f"; not testable here: {untestable}" if untestable else ""))
    return found
