"""Notebook 06's README paragraph, written from its saved record alone (every number formatted from
the claims of :mod:`helpers.experiments.overfitting.verdicts`).

    print(readme_summary(results.load("06_overfitting", "runs")["data"]))
"""

from __future__ import annotations

from collections.abc import Mapping

from helpers import results, stats
from helpers.experiments.overfitting.verdicts import (
    LOSS_NAMES,
    Claim,
    claim_names,
    claims,
    control_codes,
    equal_passes,
    listed,
    loss_claim_name,
)


def _said(claim: Claim, digits: int = 3) -> str:
    """A measured claim in a few words: its difference and interval, and its verdict (with what the
    design resolves, when unresolved)."""
    d = claim.difference
    text = f"{d.mean:+#.{digits}g} [{d.low:+#.{digits}g}, {d.high:+#.{digits}g}]"
    seeds = " [2 seeds]" if d.n == 2 else ""
    if claim.verdict == stats.UNRESOLVED:
        return f"{text} (unresolved; resolvable: ±{d.resolvable:#.2g}){seeds}"
    return f"{text} ({claim.verdict}){seeds}"


def _answer(claim: Claim) -> str:
    """A question's verdict in bold, or "not testable here" with its reason."""
    if claim.note.startswith("not testable"):
        return f"**not testable here** ({claim.note.split(': ', 1)[1]})"
    if "; not testable here: " in claim.note:
        return f"**{claim.verdict}** (not testable here: {claim.note.split('; not testable here: ')[1]})"
    return f"**{claim.verdict}**"


def _said_or_untestable(claim: Claim) -> str:
    """:func:`_said`, or "not testable at this design" with its reason."""
    if claim.note.startswith("not testable"):
        return f"{_said(claim)}, **not testable** ({claim.note.split(': ', 1)[1]})"
    return _said(claim)


def readme_summary(data: Mapping) -> str:
    """One Markdown paragraph (at most 350 words) on what the run of ``data`` found, every number
    formatted from ``data``: whether each model learnt (question 1's precondition), question 1's
    gaps (each on its own loss), question 2 and its control, the data effect at
    equal steps and at equal passes, the measurement, each with its interval and verdict (and what the
    design resolves where unresolved), and how many measured claims hold, are reversed or are
    unresolved."""
    design, found = data["design"], claims(data)
    shown, few, main = design["shown_code"], design["code_pairs"], design["train_images"]
    large = max(design["codes"])
    fewest, most = min(design["train_sizes"]), max(design["train_sizes"])
    passes = equal_passes(data, "ms_ssim", shown, (fewest, most))
    names = claim_names(design, passes)
    runs = data["runs"]
    arms = {(r["loss"], r["code"], r["pairs"]) for r in runs}
    seeds = sorted({sum((r["loss"], r["code"], r["pairs"]) == a for r in runs) for a in arms})
    measured = [c for c in found.values() if c.difference is not None]
    counts = {v: sum(c.verdict == v for c in measured) for v in stats.VERDICTS}

    def said(role: str) -> str:
        return _said_or_untestable(found[names[role]])

    def answer(role: str) -> str:
        return _answer(found[names[role]])

    learns = ", ".join(f"{LOSS_NAMES[loss]} {found[names[f'learns_{loss}']].verdict}"
                       for loss in design["losses"])
    code = (f"Code {large} against {shown}: training loss lower by {said('fit_train')}; question 2 (code) "
            f"{answer('question_2')}." if large != shown
            else f"Question 2 (code) {answer('question_2')}: no code larger than {shown}.")
    if "control" in names:
        lower, upper = control_codes(design)
        code += (f" Its test where a code is a bottleneck by construction, code {upper} against {lower}: "
                 f"training loss lower by {said('control_fit')}, gap narrower by {said('control_gap')}, "
                 f"together {answer('control')}")
        code += ("." if found[names["control"]].verdict == stats.HOLDS else
                 ": a narrower gap has not been shown to be the sign of a relieved bottleneck.")
    seed_range = (f"{seeds[0]}–{seeds[-1]} seeds" if len(seeds) > 1
                  else f"{seeds[0]} seed{'s' * (seeds[0] > 1)}")
    run = "Reference run" if design["profile"] == results.REFERENCE_PROFILE else "Run"
    is_are = "is" if counts["reversed"] == 1 else "are"
    parts = [found[loss_claim_name(main, o, "own")] for o in ("mse", "bce")
             if loss_claim_name(main, o, "own") in found]
    notes = {c.note for c in parts}
    at_main = ([f"question 1's comparisons are **not testable** ({notes.pop().split(': ', 1)[1]})"]
               if len(notes) == 1 and next(iter(notes)).startswith("not testable") else
               [f"against {LOSS_NAMES[o]} {_said_or_untestable(c)}" for o, c in zip(("mse", "bce"), parts,
                                                                                 strict=True)])
    main_text = (f" At {main} pairs, {listed(at_main)}. {few} pairs was "
                 f"chosen after earlier runs of these seeds showed a gap there, so question 1 is exploratory."
                 if at_main and main != few else "")
    data_text = f"{fewest} pairs against {most} widen the MS-SSIM gap at equal steps by {said('data')}"
    data_text += (f" and at equal passes ({passes} each) by {said('data_passes')}." if passes is not None
                  else ".")
    return (
        f"{run} (`{design['profile']}` profile, {design['label']}, {len(runs)} runs of "
        f"{design['steps']} steps, {seed_range} an arm; every verdict a {100 * design['level']:g} % "
        f"seed-paired t-interval). Question 1's precondition, each model below the mean pattern on its "
        f"own validation loss at {few} pairs: {learns}. At {few} pairs the MS-SSIM model's relative gap "
        f"on its own loss exceeds the MSE model's on its own by {said('loss_own_mse')} and the BCE "
        f"model's by {said('loss_own_bce')}: question 1 (loss) {answer('question_1')}.{main_text} {code} "
        f"{data_text} The train-mode gap lies below the eval-mode one by {said('measurement')} "
        f"({few} pairs, MS-SSIM): the write-up's way of measuring understates a gap rather than making "
        f"one. The write-up's explanation: "
        f"{answer('survives')}. Of {len(measured)} measured claims {counts['holds']} "
        f"hold{'s' * (counts['holds'] == 1)}, {counts['reversed']} {is_are} reversed and "
        f"{counts['unresolved']} unresolved, each at 95 % and not corrected for their number (about "
        f"{0.05 * len(measured):.1f} would be expected to hold or reverse by chance if nothing differed).")
