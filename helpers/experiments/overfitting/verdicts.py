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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from helpers import results, stats
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
        return text + (f"; {self.unpaired}" if self.unpaired else "")


def _loss_name(pairs: int, other: str, how: str) -> str:
    if how == "common":
        return f"loss, {pairs} pairs: MS-SSIM gap larger than {LOSS_NAMES[other]}'s on 1 - MS-SSIM"
    return f"loss, {pairs} pairs: MS-SSIM gap grows more than {LOSS_NAMES[other]}'s since epoch 1"


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
    ``loss_common_<other>``, ``loss_growth_<other>`` (question 1's parts, ``other`` mse or bce, at the
    code sweep's size), ``fit_train``, ``fit_val``, ``narrower`` (question 2's parts),
    ``control_fit``, ``control_gap`` (the positive control), ``data`` (MS-SSIM, at equal steps),
    ``data_passes`` (the same at equal passes; absent where the runs share no pass count),
    ``measurement``, ``learns_<loss>`` (each loss's model beats the mean pattern at the questions'
    size: question 1's precondition), and the claims made of others: ``question_1``, ``question_2``,
    ``control``, ``survives``. ``passes``: :func:`equal_passes` of the data sweep's MS-SSIM runs."""
    shown, few, main = design["shown_code"], design["code_pairs"], design["train_images"]
    small, large = min(design["codes"]), max(design["codes"])
    names = {f"loss_{how}_{other}": _loss_name(few, other, how) for other in ("mse", "bce")
             for how in ("common", "growth")}
    names |= {f"learns_{loss}": _learns_name(loss, few) for loss in design["losses"]}
    if passes is not None:
        names["data_passes"] = _data_name("ms_ssim", min(design["train_sizes"]), max(design["train_sizes"]),
                                          shown, passes)
    return names | {
        "fit_train": _code_name("ms_ssim", large, shown, few, "better"),
        "fit_val": _code_name("ms_ssim", large, shown, few, "better_val"),
        "narrower": _code_name("ms_ssim", large, shown, few, "narrower"),
        "control_fit": _code_name("ms_ssim", small, shown, few, "worse"),
        "control_gap": _code_name("ms_ssim", small, shown, few, "narrower"),
        "data": _data_name("ms_ssim", min(design["train_sizes"]), max(design["train_sizes"]), shown),
        "measurement": f"measurement: the train-mode gap below the eval-mode gap (MS-SSIM, {main} pairs)",
        "question_1": f"question 1 (loss): the MS-SSIM gap larger than MSE's and BCE's by both measures "
                      f"({few} pairs)",
        "question_2": f"question 2 (code): code {large} relieves a bottleneck of code {shown} (MS-SSIM, "
                      f"{few} pairs)",
        "control": f"control: code {small} fits worse and narrows the gap (MS-SSIM, {few} pairs)",
        "survives": "the write-up's explanation survives (questions 1 and 2)",
    }


def _listed(words: Sequence[str]) -> str:
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
    small, large = min(design["codes"]), max(design["codes"])
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
                mean = LOSS_SCALES[loss] * data["baseline"][str(pairs)][OWN_METRIC[loss]]["val"]
                add(_learns_name(loss, pairs), "learning", _constant(mean, own, "the mean pattern"), own)
    if "offsets" in groups:
        for loss in design["losses"]:
            for key, what in (("bn_rel", "batch normalisation in train mode"),
                              ("lag_rel", "the lag of the weights during the epoch")):
                part = arm(loss, key)
                add(f"offset: {what} raises the {LOSS_NAMES[loss]} model's epoch mean", "offsets", part,
                    _constant(0.0, part, "0"))
        add(names["measurement"], "offsets", arm("ms_ssim", "gap"), arm("ms_ssim", "gap_train_mode"))
        train_mode = arm("ms_ssim", "gap_train_mode")
        add(f"measurement: the train-mode epoch mean ends above the validation loss (MS-SSIM, {main} "
            "pairs)", "offsets", _constant(0.0, train_mode, "0"), train_mode)
    if "outputs" in groups:
        add("outputs: the MS-SSIM model's shown outputs closer to their patterns after the last epoch "
            "than the first (1 - MS-SSIM)", "outputs", arm("ms_ssim", "shown_first"),
            arm("ms_ssim", "shown_last"))
        add("outputs: clamping the MSE model's outputs at 0.999 lowers their BCE", "outputs",
            arm("mse", "bce_raw"), arm("mse", "bce_clamped"))
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
            if passes is not None:
                add(_data_name(loss, fewest, most, shown, passes), "data",
                    _arm_at_passes(data, loss, shown, fewest, passes),
                    _arm_at_passes(data, loss, shown, most, passes))
    if "questions" in groups:
        for pairs in dict.fromkeys((few, main)):  # the questions' size, then the full set for the record
            for other in ("mse", "bce"):
                for how, key in (("common", "common_gap"), ("growth", "growth")):
                    add(_loss_name(pairs, other, how), "questions", arm("ms_ssim", key, shown, pairs),
                        arm(other, key, shown, pairs))
        if large != shown:
            for role, key in (("fit_train", "train_eval_loss"), ("fit_val", "val_loss")):
                add(names[role], "questions", arm("ms_ssim", key, shown, few),
                    arm("ms_ssim", key, large, few))
    if groups != CLAIM_GROUPS:
        return found

    def made_of(role: str, verdict: str, parts: Sequence[str], note: str) -> None:
        found[names[role]] = Claim(names[role], "questions", verdict, parts=tuple(parts), note=note)

    parts = [names[f"loss_{how}_{other}"] for other in ("mse", "bce") for how in ("common", "growth")]
    gates = [names[f"learns_{loss}"] for loss in design["losses"]]
    idle = [LOSS_NAMES[loss] for loss in design["losses"]
            if found[names[f"learns_{loss}"]].verdict != stats.HOLDS]
    if idle:
        made_of("question_1", stats.UNRESOLVED, gates + parts,
                f"not testable: the {_listed(idle)} model{'s' * (len(idle) > 1)} did not beat the mean "
                f"pattern on {'their' if len(idle) > 1 else 'its'} own loss, so a gap is no sign of "
                "fitting more")
    else:
        made_of("question_1", stats.all_of([found[p].verdict for p in parts]), gates + parts,
                "every model beats the mean pattern on its own loss, and each of the four parts must hold")
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
    if small != shown:
        parts = [names["control_fit"], names["control_gap"]]
        made_of("control", stats.all_of([found[p].verdict for p in parts]), parts, "both parts must hold")
    else:
        made_of("control", stats.UNRESOLVED, (), f"no code smaller than {shown} in this design")
    parts = [names["question_1"], names["question_2"]]
    untestable = ", ".join(p.split(":")[0] for p in parts if found[p].note.startswith("not testable"))
    made_of("survives", stats.all_of([found[p].verdict for p in parts]), parts,
            "both questions must hold" + (f"; not testable here: {untestable}" if untestable else ""))
    return found


def _said(claim: Claim, digits: int = 3) -> str:
    """A measured claim in a few words: its difference and interval, and its verdict (with what the
    design resolves, when unresolved)."""
    d = claim.difference
    text = f"{d.mean:+#.{digits}g} [{d.low:+#.{digits}g}, {d.high:+#.{digits}g}]"
    if claim.verdict == stats.UNRESOLVED:
        return f"{text} (unresolved; resolvable: ±{d.resolvable:#.2g})"
    return f"{text} ({claim.verdict})"


def _answer(claim: Claim) -> str:
    """A question's verdict in bold, or "not testable here" with its reason."""
    if claim.note.startswith("not testable"):
        return f"**not testable here** ({claim.note.split(': ', 1)[1]})"
    if "; not testable here: " in claim.note:
        return f"**{claim.verdict}** (not testable here: {claim.note.split('; not testable here: ')[1]})"
    return f"**{claim.verdict}**"


def readme_summary(data: Mapping) -> str:
    """One Markdown paragraph (at most 260 words) on what the run of ``data`` found, every number
    formatted from ``data``: whether each model learnt (question 1's precondition), question 1's
    differences, question 2's, the control, the data effect at equal steps and at equal passes and the
    measurement, each with its interval and verdict (and what the design resolves where unresolved),
    and how many claims hold, are reversed or are unresolved."""
    design, found = data["design"], claims(data)
    shown, few = design["shown_code"], design["code_pairs"]
    large, small = max(design["codes"]), min(design["codes"])
    fewest, most = min(design["train_sizes"]), max(design["train_sizes"])
    passes = equal_passes(data, "ms_ssim", shown, (fewest, most))
    names = claim_names(design, passes)
    runs = data["runs"]
    arms = {(r["loss"], r["code"], r["pairs"]) for r in runs}
    seeds = sorted({sum((r["loss"], r["code"], r["pairs"]) == a for r in runs) for a in arms})
    counts = {v: sum(c.verdict == v for c in found.values()) for v in stats.VERDICTS}

    def said(role: str) -> str:
        return _said(found[names[role]])

    def answer(role: str) -> str:
        return _answer(found[names[role]])

    learns = ", ".join(f"{LOSS_NAMES[loss]} {found[names[f'learns_{loss}']].verdict}"
                       for loss in design["losses"])
    code = (f"Code {large} against {shown}: training loss lower by {said('fit_train')}, gap narrower by "
            f"{said('narrower')}; question 2 (code) {answer('question_2')}." if large != shown
            else f"Question 2 (code) {answer('question_2')}: no code larger than {shown}.")
    seed_range = (f"{seeds[0]}–{seeds[-1]} seeds" if len(seeds) > 1
                  else f"{seeds[0]} seed{'s' * (seeds[0] > 1)}")
    run = "Reference run" if design["profile"] == results.REFERENCE_PROFILE else "Run"
    is_are = "is" if counts["reversed"] == 1 else "are"
    main = design["train_images"]
    at_main = [found[_loss_name(main, other, how)].verdict for other in ("mse", "bce")
               for how in ("common", "growth") if _loss_name(main, other, how) in found]
    main_text = (f" At {main} pairs the same four are {', '.join(at_main)}; {few} pairs was chosen after "
                 f"earlier runs of these seeds showed a gap there."
                 if at_main and main != few else "")
    data_text = f"{fewest} pairs against {most} widen the MS-SSIM gap by {said('data')} at equal steps"
    data_text += (f" and by {said('data_passes')} at equal passes ({passes} each)." if passes is not None
                  else ".")
    return (
        f"{run} (`{design['profile']}` profile, {design['label']}, {len(runs)} runs of "
        f"{design['steps']} steps, {seed_range} an arm; every verdict a {100 * design['level']:g} % "
        f"seed-paired t-interval). Question 1's precondition, each model below the mean pattern on its "
        f"own validation loss at {few} pairs: {learns}. At {few} pairs the MS-SSIM model's gap on "
        f"1 − MS-SSIM exceeds MSE's by "
        f"{said('loss_common_mse')} and BCE's by {said('loss_common_bce')}; with the gaps' growth, "
        f"question 1 (loss) {answer('question_1')}.{main_text} {code} The control, code {small}: fits "
        f"worse by {said('control_fit')}, gap narrower by {said('control_gap')}, together "
        f"{answer('control')}. {data_text} "
        f"The train-mode gap lies below the eval-mode one by {said('measurement')}. The write-up's "
        f"explanation: {answer('survives')}. Of {len(found)} claims {counts['holds']} "
        f"hold{'s' * (counts['holds'] == 1)}, {counts['reversed']} {is_are} reversed and "
        f"{counts['unresolved']} unresolved, each at 95 % and not corrected for their number (about "
        f"{0.05 * len(found):.1f} would be expected to hold or reverse by chance if nothing differed).")
