"""The claims of notebooks 04 (EL-VAE) and 05 (CVAE), decided from their saved per-run measurements.

Each notebook saves, for every run its claims use, the test report of
:func:`helpers.experiments.vae.report.test_report` (``mse``, ``psnr``, ``ssim``, ``ms_ssim``, ``kl``,
``sharpness``, ``edges``, ``high_freq``, and in 05 ``accuracy``, ``recon_acc``, ``follows_label``), one
report per seed in seed order, ``None`` for a run that went NaN. The functions here turn that record
into verdicts with :mod:`helpers.stats`: every claim is a seed-paired difference (seed s of each arm
starts from the same weights and sees the same batches) with a t-interval at ``level``, "holds",
"reversed" or "unresolved". The notebooks call the same functions on the same record, and the unit tests
call them on the committed ``cpu`` results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from helpers import stats

Report = Mapping[str, float]

# --------------------------------------------------------------------------------------------
# Notebook 04: 1 - MS-SSIM against MSE at a matched rate
# --------------------------------------------------------------------------------------------

#: claim -> (column, the arm claimed higher, the arm claimed lower, the claim in words); arms are "mse"
#: (MSE + beta KL) and "ms_ssim" (1 - MS-SSIM + beta* KL at the matched rate)
EL_VAE_CLAIMS = {
    "sharpness": ("sharpness", "ms_ssim", "mse", "more gradient energy with 1 − MS-SSIM"),
    "edges": ("edges", "ms_ssim", "mse", "more of the originals' edges in place with 1 − MS-SSIM"),
    "high_freq": ("high_freq", "ms_ssim", "mse", "a larger share of high-frequency power with 1 − MS-SSIM"),
    "mse": ("mse", "ms_ssim", "mse", "the MSE model has the lower MSE"),
    "psnr": ("psnr", "mse", "ms_ssim", "the MSE model has the higher PSNR"),
    "ssim": ("ssim", "ms_ssim", "mse", "the 1 − MS-SSIM model has the higher SSIM"),
    "ms_ssim": ("ms_ssim", "ms_ssim", "mse", "the 1 − MS-SSIM model has the higher MS-SSIM (3 sc.)"),
}
SHARPNESS_CLAIMS = ("sharpness", "edges", "high_freq")  # "sharper" is all three
OWN_MEASURE_CLAIMS = ("mse", "psnr", "ssim", "ms_ssim")  # each model wins the measures nearest its loss


def _paired(arms: Mapping[str, Sequence[Report | None]], column: str, higher: str, lower: str,
            level: float) -> stats.Difference:
    """``arms[higher][s][column] - arms[lower][s][column]`` over the seeds s where both runs finished."""
    for name in (higher, lower):
        if name not in arms:
            raise ValueError(f"arms must hold {name!r}; got {sorted(arms)}")
    if len(arms[higher]) != len(arms[lower]):
        raise ValueError(f"arms {higher!r} and {lower!r} must hold one report per seed, as many each; got "
                         f"{len(arms[higher])} and {len(arms[lower])}")
    pairs = [(a, b) for a, b in zip(arms[higher], arms[lower], strict=True)
             if a is not None and b is not None]
    if not pairs:
        raise ValueError(f"no seed where both {higher!r} and {lower!r} finished")
    return stats.paired_difference([a[column] for a, _ in pairs], [b[column] for _, b in pairs], level)


def el_vae_claims(data: Mapping[str, Any], level: float = stats.LEVEL) -> dict[str, stats.Difference]:
    """Notebook 04's claims on its saved record: every claim of :data:`EL_VAE_CLAIMS` at the matched
    rate (``data["matched"]``: ``{"mse": [report per seed], "ms_ssim": [...]}``), and
    ``"one_beta_mse"``: at the collection's beta (``data["at_collection"]``, same layout) the
    1 - MS-SSIM model has the *lower* MSE. When ``data["rate_matched"]`` is false the matched-rate
    claims are all "unresolved" (their comparison is not at one rate): their intervals are made
    infinite."""
    found = {name: _paired(data["matched"], column, higher, lower, level)
             for name, (column, higher, lower, _) in EL_VAE_CLAIMS.items()}
    if not data.get("rate_matched", True):
        found = {name: stats.Difference(d.mean, -float("inf"), float("inf"), d.std, d.n, d.level, d.p,
                                        d.resolvable) for name, d in found.items()}
    found["one_beta_mse"] = _paired(data["at_collection"], "mse", "mse", "ms_ssim", level)
    return found


def sharpness_verdict(claims: Mapping[str, stats.Difference]) -> str:
    """"sharper" when the three measures of :data:`SHARPNESS_CLAIMS` hold, "blurrier" when all three
    are reversed, else "mixed: " and each measure's verdict."""
    verdicts = [claims[name].verdict for name in SHARPNESS_CLAIMS]
    if all(v == stats.HOLDS for v in verdicts):
        return "sharper"
    if all(v == stats.REVERSED for v in verdicts):
        return "blurrier"
    return "mixed: " + ", ".join(f"{name} {v}" for name, v in zip(SHARPNESS_CLAIMS, verdicts, strict=True))


def _mean(reports: Sequence[Report | None], column: str) -> float:
    return stats.summary([r[column] for r in reports if r is not None]).mean


def el_vae_summary(data: Mapping[str, Any]) -> str:
    """The README's paragraph on notebook 04's reference run, every number from ``data``."""
    claims = el_vae_claims(data)
    m, s = data["matched"]["mse"], data["matched"]["ms_ssim"]
    seeds = claims["sharpness"].n
    one_beta = claims["one_beta_mse"]
    lines = [f"Notebook 04 (reference `cpu` run, {seeds} seeds, 95 % seed-paired t-intervals): at the "
             f"collection's β the MSE model reaches {_mean(data['at_collection']['mse'], 'kl'):.1f} nats per "
             f"image, the 1 − MS-SSIM model {_mean(data['at_collection']['ms_ssim'], 'kl'):.1f}, and the "
             f"claim that the latter has the lower MSE there {one_beta.verdict} (MSE difference "
             f"{one_beta.mean:+.4f} [{one_beta.low:+.4f}, {one_beta.high:+.4f}]): at one β the rates differ. "
             f"At a matched rate (β* = {data['beta_star']:.3g} for 1 − MS-SSIM; validation rates "
             f"{data['target_rate']:.2f} and {data['reached_rate']:.2f} nats) \"sharper\" is "
             f"**{sharpness_verdict(claims)}**."]
    for name in SHARPNESS_CLAIMS:
        d = claims[name]
        resolvable = f" (resolvable about ±{d.resolvable:.4f})" if d.verdict == stats.UNRESOLVED else ""
        lines.append(f"{name}: 1 − MS-SSIM {_mean(s, name):.3f}, MSE {_mean(m, name):.3f}, difference "
                     f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}], {d.verdict}{resolvable}.")
    own = [name for name in OWN_MEASURE_CLAIMS if claims[name].verdict == stats.HOLDS]
    lines.append(f"Of the claims that each model wins the measures nearest its loss "
                 f"({', '.join(OWN_MEASURE_CLAIMS)}), {len(own)} hold ({', '.join(own) or 'none'}); "
                 f"{len(OWN_MEASURE_CLAIMS) - len(own)} do not.")
    return " ".join(lines)


# --------------------------------------------------------------------------------------------
# Notebook 05: what alpha (the SSIM weight) buys and what beta (the KL weight) costs
# --------------------------------------------------------------------------------------------


def _cell(data: Mapping[str, Any], alpha: float, beta: float) -> list[Report | None]:
    for cell in data["grid"]:
        if cell["alpha"] == alpha and cell["beta"] == beta:
            return cell["reports"]
    raise ValueError(f"the grid has no cell alpha {alpha:g}, beta {beta:g}")


#: column -> sign: +1 "alpha raises it", -1 "alpha lowers it" (the claims of section 3 and 4)
ALPHA_CLAIMS = {"ssim": +1, "sharpness": +1, "kl": +1, "accuracy": -1, "recon_acc": +1}
#: column -> sign: +1 "beta raises it", -1 "beta lowers it"
BETA_CLAIMS = {"ssim": -1, "kl": -1, "accuracy": +1}


def cvae_claims(data: Mapping[str, Any], level: float = stats.LEVEL) -> dict[str, stats.Difference]:
    """Notebook 05's claims on its saved record (``data["grid"]``: a list of ``{"alpha", "beta",
    "reports": [report per seed]}``). For every beta, ``"alpha {sign} {column} @ beta b"``: the largest
    alpha against the smallest (:data:`ALPHA_CLAIMS`); for every alpha,
    ``"beta {sign} {column} @ alpha a"``: the largest beta against the smallest (:data:`BETA_CLAIMS`).
    Each difference is oriented so that "holds" means the claim as worded. With a matched cell
    (``data["matched_rate"]``) also the claims of :func:`matched_claims`."""
    alphas = sorted({c["alpha"] for c in data["grid"]})
    betas = sorted({c["beta"] for c in data["grid"]})

    def claim(large: list, small: list, column: str, sign: int) -> stats.Difference:
        arms = {"large": large, "small": small}  # "raises": large - small > 0; "lowers": small - large > 0
        return _paired(arms, column, *(("large", "small") if sign > 0 else ("small", "large")), level)

    found = {}
    for column, sign in ALPHA_CLAIMS.items():
        for beta in betas:
            found[f"alpha {'raises' if sign > 0 else 'lowers'} {column} @ beta {beta:g}"] = claim(
                _cell(data, alphas[-1], beta), _cell(data, alphas[0], beta), column, sign)
    for column, sign in BETA_CLAIMS.items():
        for alpha in alphas:
            found[f"beta {'raises' if sign > 0 else 'lowers'} {column} @ alpha {alpha:g}"] = claim(
                _cell(data, alpha, betas[-1]), _cell(data, alpha, betas[0]), column, sign)
    found.update(matched_claims(data, level))
    return found


#: column -> sign: the claims about alpha at a matched rate (the largest alpha at the beta that gives it
#: the rate of alpha = 0 at the reference beta): +1 "alpha raises it", -1 "alpha lowers it"
MATCHED_CLAIMS = {"ssim": +1, "sharpness": +1, "accuracy": -1, "follows_label": -1}


def rate_miss(data: Mapping[str, Any]) -> float | None:
    """How far the matched cell's validation rate lies from the reference's, as a fraction of the
    reference's (``data["matched_rate"]``, see :func:`matched_claims`); None without a matched cell."""
    matched = data.get("matched_rate")
    if not matched:
        return None
    return abs(matched["reached_rate"] - matched["reference"]["rate"]) / matched["reference"]["rate"]


def matched_claims(data: Mapping[str, Any], level: float = stats.LEVEL) -> dict[str, stats.Difference]:
    """Notebook 05's claims about alpha at a matched rate (``data["matched_rate"]``: ``{"alpha",
    "beta", "reference": {"alpha", "beta", "rate"}, "reached_rate", "tolerance", "reports": [report per
    seed]}``, the rates validation KL in nats per image): ``"at a matched rate, alpha {sign} {column}"``,
    the matched cell against the grid's reference cell, seed by seed (:data:`MATCHED_CLAIMS`).

    Empty when the record has no matched cell, and when the reached rate misses the reference's by
    more than ``tolerance`` (a fraction): then the comparison is not at one rate and decides nothing,
    which is not the same as "unresolved" (see :func:`rate_miss`)."""
    miss = rate_miss(data)
    if miss is None or miss > data["matched_rate"]["tolerance"]:
        return {}
    matched = data["matched_rate"]
    reference = matched["reference"]
    arms = {"matched": matched["reports"], "reference": _cell(data, reference["alpha"], reference["beta"])}
    found = {}
    for column, sign in MATCHED_CLAIMS.items():
        order = ("matched", "reference") if sign > 0 else ("reference", "matched")
        found[f"at a matched rate, alpha {'raises' if sign > 0 else 'lowers'} {column}"] = _paired(
            arms, column, *order, level)
    return found


def rate_accuracy_correlation(data: Mapping[str, Any]) -> stats.Correlation:
    """Spearman's rho, over the grid's cells, of the mean rate (KL) and the mean accuracy of the
    judge on samples, with its exact permutation p (``stats.rank_correlation``)."""
    rates = [_mean(c["reports"], "kl") for c in data["grid"]]
    accuracy = [_mean(c["reports"], "accuracy") for c in data["grid"]]
    return stats.rank_correlation(rates, accuracy)


def cvae_summary(data: Mapping[str, Any]) -> str:
    """The README's paragraph on notebook 05's reference run, every number from ``data``."""
    claims = cvae_claims(data)
    n = next(iter(claims.values())).n
    held = [name for name, d in claims.items() if d.verdict == stats.HOLDS]
    reversed_ = [name for name, d in claims.items() if d.verdict == stats.REVERSED]
    unresolved = [name for name, d in claims.items() if d.verdict == stats.UNRESOLVED]
    rho = rate_accuracy_correlation(data)
    text = (f"Notebook 05 (reference `cpu` run, {n} seeds, 95 % seed-paired t-intervals): of "
            f"{len(claims)} claims about α and β, {len(held)} hold ({'; '.join(held) or 'none'}), "
            f"{len(reversed_)} {'is' if len(reversed_) == 1 else 'are'} reversed"
            f"{' (' + '; '.join(reversed_) + ')' if reversed_ else ''} and "
            f"{len(unresolved)} {'is' if len(unresolved) == 1 else 'are'} unresolved. Over the "
            f"{rho.n} cells, Spearman's ρ of rate and sample accuracy is {rho.rho:+.2f} (exact permutation "
            f"p = {rho.p:.3f}).")
    matched = data.get("matched_rate")
    if matched:
        reference = matched["reference"]
        at = (f"α = {matched['alpha']:g} at β = {matched['beta']:.3g}: {matched['reached_rate']:.1f} nats "
              f"against {reference['rate']:.1f} for α = {reference['alpha']:g} at β = {reference['beta']:g}, "
              "validation rates")
        found = matched_claims(data)
        if found:
            verdicts = "; ".join(f"{name.split(', ', 1)[1]} {d.verdict}" for name, d in found.items())
            text += f" At a matched rate ({at}): {verdicts}."
        else:
            text += (f" The rate was not matched ({at}, {100 * rate_miss(data):.0f} % apart against a "
                     f"tolerance of {100 * matched['tolerance']:g} %): no claim at a matched rate is "
                     "decided.")
    return text
