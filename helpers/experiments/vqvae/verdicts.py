"""Every verdict of notebook 07, "holds", "reversed" or "unresolved", from seed-paired differences of
the Fréchet distances (:mod:`helpers.stats`) on every reading (a feature layer on a set of test images),
and a bootstrap interval for the step times.

    found = claim_checks({"penultimate": {name: [fd per seed]}, ...})  # the write-up's claims
    verdicts = {n: c.verdict for n, c in claims(record).items()}  # every verdict, from the saved record

:func:`claims` recomputes all of them from the record the notebook saves with :mod:`helpers.results`,
and :func:`readme_summary` words that record for the README.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from helpers import results, stats
from helpers.experiments.vqvae.configurations import PUBLISHED_FID, WEIGHTS, configuration
from helpers.experiments.vqvae.costs import time_ratios

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
TIME_LIMIT = 1.10  # the write-up's "< 10 %" added time over its runs, read per training step: MSE's times 1.1


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


def consistent(found: Mapping[str, Claim]) -> bool:
    """The claim logic as stated, on any run: three values; an ordering claim's verdict is
    :func:`helpers.stats.combine` of its readings', and each reading's :func:`helpers.stats.all_of` of
    its orderings' (any other claim: :func:`helpers.stats.all_of` over its readings); every
    difference's verdict agrees with its interval."""
    for c in found.values():
        readings = list(c.per_reading.values())
        if c.verdict not in stats.VERDICTS or not set(readings) <= set(stats.VERDICTS):
            return False
        if c.verdict != (stats.combine(readings) if c.orderings else stats.all_of(readings)):
            return False
        for reading, evidence in c.evidence.items():
            if c.orderings and c.per_reading[reading] != stats.all_of([d.verdict for d in evidence.values()]):
                return False
            for d in evidence.values():
                if isinstance(d, stats.Difference) and ((d.verdict == HOLDS) != (d.low > 0)
                                                        or (d.verdict == REVERSED) != (d.high < 0)):
                    return False
    return True


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


def replicated_orders(first: Mapping, second: Mapping) -> str:
    """One sentence for the README: how many of the write-up's pairwise orders (:func:`pairwise_orders`
    on the voting readings) keep, or reverse, the write-up's order in both of two saved records of the
    same design, ``first`` (the reference run's data) and ``second`` (its replication's), and how many
    change from one to the other."""
    def orders(data: Mapping) -> dict[tuple[str, str], str]:
        votes = voting_readings(data["fd"], data.get("dims"), data["fid_images"])
        return {(p.better, p.worse): p.verdict for p in pairwise_orders(votes, level=data["level"])}

    a, b = orders(first), orders(second)
    kept = {v: sum(a[k] == b.get(k) == v for k in a) for v in (HOLDS, REVERSED)}
    changed = sum(a[k] != b.get(k) for k in a)
    return (f"Of the {len(a)} pairs, {kept[HOLDS]} keep the write-up's order in both runs and "
            f"{kept[REVERSED]} are reversed in both; {changed} change from one run to the other.")


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
                 "images (d > n: singular sample covariances) are printed but do not vote.")
    pairs = pairwise_orders(votes, level=data["level"])
    if pairs:
        count = {v: sum(p.verdict == v for p in pairs) for v in stats.VERDICTS}
        text += (f" Of {len(pairs)} pairs with different published FIDs, {count[HOLDS]} keep the write-up's "
                 f"order on every voting reading, {count[REVERSED]} are reversed, {count[UNRESOLVED]} "
                 "unresolved.")
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
