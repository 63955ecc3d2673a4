"""Notebook 06's experiment: the GDN network maps a density image to its diffraction pattern, trained
with 100 (1 - MS-SSIM), MSE or BCE, and the train/validation gap that follows.

- :mod:`helpers.experiments.overfitting.runs`: the data, the objective and metrics, one keyed run, the
  outputs kept per epoch, and what the training curve's offset is made of;
- :mod:`helpers.experiments.overfitting.rules`: the derived numbers, each by a stated rule, and the
  record of a run;
- :mod:`helpers.experiments.overfitting.verdicts`: every claim, decided from the saved records alone;
- :mod:`helpers.experiments.overfitting.summary`: the README's paragraph, from the saved record;
- :mod:`helpers.experiments.overfitting.study`: the design (arms and seeds), each run trained and
  recorded once, the onset rules applied;
- :mod:`helpers.experiments.overfitting.figures`: the notebook's figures, from the runs' histories;
- :mod:`helpers.experiments.overfitting.costs`: a profile's runs counted in samples and FLOPs, and
  Adam steps timed.
"""

from helpers.experiments.overfitting.rules import (
    column,
    diverged,
    gap_growth,
    gap_onset,
    mean_pattern_baseline,
    plateau_onset,
    relative_gap,
    run_record,
    tail_mean,
)
from helpers.experiments.overfitting.runs import (
    LOSS_SCALES,
    METRICS,
    SNAPSHOT_COUNT,
    SNAPSHOTS,
    PatternObjective,
    check_loss,
    forward_macs,
    ms_ssim_options,
    offset_parts,
    pattern_data,
    pattern_metrics,
    read_snapshots,
    train_pattern_model,
)
from helpers.experiments.overfitting.study import NAMES, SWEPT, Study, arms_of
from helpers.experiments.overfitting.summary import readme_summary
from helpers.experiments.overfitting.verdicts import (
    CLAIM_GROUPS,
    LOSS_NAMES,
    OWN_METRIC,
    RUN_IDENTITY,
    Claim,
    claim_names,
    claims,
    equal_passes,
    sound,
)

__all__ = [
    "CLAIM_GROUPS", "LOSS_NAMES", "LOSS_SCALES", "METRICS", "NAMES", "OWN_METRIC", "RUN_IDENTITY",
    "SNAPSHOTS", "SNAPSHOT_COUNT", "SWEPT", "Claim", "PatternObjective", "Study", "arms_of", "check_loss",
    "claim_names", "claims", "column", "diverged", "equal_passes", "forward_macs", "gap_growth",
    "gap_onset", "mean_pattern_baseline", "ms_ssim_options", "offset_parts", "pattern_data",
    "pattern_metrics", "plateau_onset", "read_snapshots", "readme_summary", "relative_gap", "run_record",
    "sound", "tail_mean", "train_pattern_model",
]
