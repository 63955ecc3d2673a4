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

#: How the claims name each loss.
LOSS_NAMES: dict[str, str] = {"ms_ssim": "MS-SSIM", "mse": "MSE", "bce": "BCE"}
#: The groups of claims in the notebook's order: its sections 3 (learning), 4 (offsets), 5 (outputs),
#: 6 (code), 7 (data) and 8 (questions, with the verdicts made of other claims).
CLAIM_GROUPS: tuple[str, ...] = ("learning", "offsets", "outputs", "code", "data", "questions")
#: What names a run in the saved data: its loss, code size, training pairs and seed.
RUN_IDENTITY: tuple[str, ...] = ("loss", "code", "pairs", "seed")


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


def _data_name(loss: str, fewest: int, most: int, shown: int) -> str:
    return f"data: the gap larger with {fewest} pairs than with {most} ({LOSS_NAMES[loss]}, code {shown})"


def claim_names(design: Mapping) -> dict[str, str]:
    """The names of the claims the notebook's questions and the README rest on, by role:
    ``loss_common_<other>``, ``loss_growth_<other>`` (question 1's parts, ``other`` mse or bce, at the
    code sweep's size), ``fit_train``, ``fit_val``, ``narrower`` (question 2's parts),
    ``control_fit``, ``control_gap`` (the positive control), ``data`` (MS-SSIM), ``measurement``, and
    the claims made of others: ``question_1``, ``question_2``, ``control``, ``survives``."""
    shown, few, main = design["shown_code"], design["code_pairs"], design["train_images"]
    small, large = min(design["codes"]), max(design["codes"])
    names = {f"loss_{how}_{other}": _loss_name(few, other, how) for other in ("mse", "bce")
             for how in ("common", "growth")}
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
        found[run["seed"]] = float(run[key])
    if not found:
        raise ValueError(f"data has no run of {label}, which a claim needs")
    return found, label


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
    names = claim_names(design)
    shown, few, main = design["shown_code"], design["code_pairs"], design["train_images"]
    small, large = min(design["codes"]), max(design["codes"])
    fewest, most = min(design["train_sizes"]), max(design["train_sizes"])
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
    made_of("question_1", stats.all_of([found[p].verdict for p in parts]), parts,
            "each of its four parts must hold")
    if large != shown:
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
    made_of("survives", stats.all_of([found[p].verdict for p in parts]), parts, "both questions must hold")
    return found


def _said(claim: Claim, digits: int = 3) -> str:
    """A measured claim in a few words: its difference and interval, and its verdict (with what the
    design resolves, when unresolved)."""
    d = claim.difference
    text = f"{d.mean:+#.{digits}g} [{d.low:+#.{digits}g}, {d.high:+#.{digits}g}]"
    if claim.verdict == stats.UNRESOLVED:
        return f"{text} (unresolved; resolvable: ±{d.resolvable:#.2g})"
    return f"{text} ({claim.verdict})"


def readme_summary(data: Mapping) -> str:
    """One Markdown paragraph (at most 220 words) on what the run of ``data`` found, every number
    formatted from ``data``: question 1's differences, question 2's, the control, the data effect and
    the measurement, each with its interval and verdict (and what the design resolves where
    unresolved), and how many claims hold, are reversed or are unresolved."""
    design, found = data["design"], claims(data)
    names = claim_names(design)
    runs = data["runs"]
    arms = {(r["loss"], r["code"], r["pairs"]) for r in runs}
    seeds = sorted({sum((r["loss"], r["code"], r["pairs"]) == a for r in runs) for a in arms})
    counts = {v: sum(c.verdict == v for c in found.values()) for v in stats.VERDICTS}
    shown, few = design["shown_code"], design["code_pairs"]
    large, small = max(design["codes"]), min(design["codes"])
    fewest, most = min(design["train_sizes"]), max(design["train_sizes"])

    def said(role: str) -> str:
        return _said(found[names[role]])

    def verdict(role: str) -> str:
        return f"**{found[names[role]].verdict}**"

    code = (f"Code {large} against {shown}: training loss lower by {said('fit_train')}, gap narrower by "
            f"{said('narrower')}; question 2 (code) {verdict('question_2')}." if large != shown
            else f"Question 2 (code) {verdict('question_2')}: no code larger than {shown}.")
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
    return (
        f"{run} (`{design['profile']}` profile, {design['label']}, {len(runs)} runs of "
        f"{design['steps']} steps, {seed_range} an arm; every verdict a {100 * design['level']:g} % "
        f"seed-paired t-interval). At {few} pairs the MS-SSIM model's gap on 1 − MS-SSIM exceeds MSE's by "
        f"{said('loss_common_mse')} and BCE's by {said('loss_common_bce')}; with the gaps' growth, "
        f"question 1 (loss) {verdict('question_1')}.{main_text} {code} The control, code {small}: fits "
        f"worse by {said('control_fit')}, gap narrower by {said('control_gap')}, together "
        f"{verdict('control')}. {fewest} pairs against {most} widen the MS-SSIM gap by {said('data')}. "
        f"The train-mode gap lies below the eval-mode one by {said('measurement')}. The write-up's "
        f"explanation: {verdict('survives')}. Of {len(found)} claims {counts['holds']} "
        f"hold{'s' * (counts['holds'] == 1)}, {counts['reversed']} {is_are} reversed and "
        f"{counts['unresolved']} unresolved, each at 95 % and not corrected for their number (about "
        f"{0.05 * len(found):.1f} would be expected to hold or reverse by chance if nothing differed).")
