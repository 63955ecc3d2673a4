"""Notebook 07's experiment: a VQ-VAE trained with each loss of the write-up's zoo (MSE, PSNR, SSIM,
MS-SSIM, HaarPSI, GMSD, MS-GMSD), alone and as MSE + w * loss, and its Fréchet-distance table redone.

- :mod:`helpers.experiments.vqvae.configurations`: the write-up's 25 configurations, their names,
  colours and published FIDs, and its table's layout;
- :mod:`helpers.experiments.vqvae.runs`: the data, the objective, one keyed run, codebook usage;
- :mod:`helpers.experiments.vqvae.costs`: step times, loss scales and the gradient of each term;
- :mod:`helpers.experiments.vqvae.readings`: the Fréchet-distance readings, and what the image set,
  the seed and the sample size do to them;
- :mod:`helpers.experiments.vqvae.figures`: the notebook's figures;
- :mod:`helpers.experiments.vqvae.verdicts`: every claim, decided from the saved record alone.
"""

from helpers.experiments.vqvae import figures
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
from helpers.experiments.vqvae.costs import (
    full_step_cost,
    loss_scales,
    scales_table,
    step_times,
    term_gradients,
    term_ratio_table,
    term_ratios,
    time_ratios,
)
from helpers.experiments.vqvae.readings import (
    bias_slope,
    effects_table,
    fd_readings,
    image_set_effects,
)
from helpers.experiments.vqvae.runs import (
    CODES_FILE,
    VQObjective,
    codebook_table,
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
    consistent,
    ordering,
    orderings_on_all_readings,
    paired_difference,
    pairwise_orders,
    readme_summary,
    replicated_orders,
    voting_readings,
)

__all__ = [
    "CLAIMS", "CODES_FILE", "CONFIGURATIONS", "GRADIENT_LOSSES", "HOLDS", "KEY_ORDERINGS", "LOSS_COLOURS",
    "NOT_APPLICABLE", "NOT_RUN", "PUBLISHED_FID", "REVERSED", "SHORT", "TIME_LIMIT", "TITLES", "UNRESOLVED",
    "WEIGHTS", "ZOO", "Claim", "Ordering", "PairwiseOrder", "Readings", "VQObjective", "bias_slope",
    "check_configurations", "claim_checks", "claims", "codebook_table", "colour", "configuration",
    "consistent", "effects_table", "fd_readings", "figures", "full_step_cost", "image_set_effects",
    "layout_table", "loss_scales", "ordering", "orderings_on_all_readings", "paired_difference",
    "pairwise_orders", "parse_configuration", "read_codes", "readme_summary", "reconstruct",
    "replicated_orders", "scales_table", "step_times", "term_gradients", "term_ratio_table", "term_ratios",
    "time_ratios", "train_vqvae", "voting_readings", "zoo_data",
]
