"""Notebook 07's experiment: a VQ-VAE trained with each loss of the write-up's zoo (MSE, PSNR, SSIM,
MS-SSIM, HaarPSI, GMSD, MS-GMSD), alone and as MSE + w * loss, and its Fréchet-distance table redone.

- :mod:`helpers.experiments.vqvae.configurations`: the write-up's 25 configurations, their names,
  colours and published FIDs, and its table's layout;
- :mod:`helpers.experiments.vqvae.runs`: the data, the objective, one keyed run, codebook usage;
- :mod:`helpers.experiments.vqvae.costs`: step times, loss scales and the gradient of each term;
- :mod:`helpers.experiments.vqvae.verdicts`: every claim, decided from the saved record alone.
"""

from helpers.experiments.vqvae.configurations import (
    CONFIGURATIONS,
    LOSS_COLOURS,
    NOT_APPLICABLE,
    NOT_RUN,
    PUBLISHED_FID,
    TITLES,
    WEIGHTS,
    ZOO,
    check_configurations,
    colour,
    configuration,
    layout_table,
    parse_configuration,
)
from helpers.experiments.vqvae.costs import loss_scales, step_times, term_gradients, time_ratios
from helpers.experiments.vqvae.runs import (
    CODES_FILE,
    VQObjective,
    read_codes,
    reconstruct,
    train_vqvae,
    zoo_data,
)
from helpers.experiments.vqvae.verdicts import (
    CLAIMS,
    GRADIENT_LOSSES,
    HOLDS,
    KEY_ORDERINGS,
    REVERSED,
    SHORT,
    TIME_LIMIT,
    UNRESOLVED,
    Claim,
    Ordering,
    PairwiseOrder,
    Readings,
    claim_checks,
    claims,
    ordering,
    orderings_on_all_readings,
    paired_difference,
    pairwise_orders,
    readme_summary,
    voting_readings,
)

__all__ = [
    "CLAIMS", "CODES_FILE", "CONFIGURATIONS", "GRADIENT_LOSSES", "HOLDS", "KEY_ORDERINGS", "LOSS_COLOURS",
    "NOT_APPLICABLE", "NOT_RUN", "PUBLISHED_FID", "REVERSED", "SHORT", "TIME_LIMIT", "TITLES", "UNRESOLVED",
    "WEIGHTS", "ZOO", "Claim", "Ordering", "PairwiseOrder", "Readings", "VQObjective", "check_configurations",
    "claim_checks", "claims", "colour", "configuration", "layout_table", "loss_scales", "ordering",
    "orderings_on_all_readings", "paired_difference", "pairwise_orders", "parse_configuration",
    "read_codes", "readme_summary", "reconstruct", "step_times", "term_gradients", "time_ratios",
    "train_vqvae", "voting_readings", "zoo_data",
]
