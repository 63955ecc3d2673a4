"""The VAE experiments of notebooks 04 (1 - MS-SSIM against MSE at a matched rate) and 05 (the
conditional VAE's alpha x beta grid).

- :mod:`helpers.experiments.vae.runs`: the data, the objective ``recon + beta * KL``, one keyed run;
- :mod:`helpers.experiments.vae.report`: the test report, the sharpness measures, the matched rate;
- :mod:`helpers.experiments.vae.verdicts`: every claim of 04 and 05, decided from the saved runs alone;
- :mod:`helpers.experiments.vae.figures`: 04's rate-distortion figure.
"""

from helpers.experiments.vae.report import (
    REPORT_COLUMNS,
    SHARPNESS_COLUMNS,
    beta_for_rate,
    edge_share,
    gradient_energy,
    high_frequency_ratio,
    label_following,
    reconstruct,
    report_table,
    sample_diversity,
    sharpness_ratio,
    test_report,
    val_rate,
)
from helpers.experiments.vae.runs import (
    COLLECTION,
    CollectionMSSSIMLoss,
    VAEObjective,
    pad_to,
    reconstruction_loss,
    train_vae,
    vae_data,
)
from helpers.experiments.vae.verdicts import (
    ALPHA_CLAIMS,
    BETA_CLAIMS,
    EL_VAE_CLAIMS,
    MATCHED_CLAIMS,
    OWN_MEASURE_CLAIMS,
    SHARPNESS_CLAIMS,
    cvae_claims,
    cvae_summary,
    el_vae_claims,
    el_vae_summary,
    matched_claims,
    rate_accuracy_correlation,
    rate_miss,
    sharpness_verdict,
)

__all__ = [
    "ALPHA_CLAIMS", "BETA_CLAIMS", "COLLECTION", "EL_VAE_CLAIMS", "MATCHED_CLAIMS", "OWN_MEASURE_CLAIMS",
    "REPORT_COLUMNS", "SHARPNESS_CLAIMS", "SHARPNESS_COLUMNS", "CollectionMSSSIMLoss", "VAEObjective",
    "beta_for_rate", "cvae_claims", "cvae_summary", "edge_share", "el_vae_claims", "el_vae_summary",
    "gradient_energy", "high_frequency_ratio", "label_following", "matched_claims", "pad_to",
    "rate_accuracy_correlation", "rate_miss", "reconstruct", "reconstruction_loss", "sample_diversity",
    "report_table", "sharpness_ratio", "sharpness_verdict", "test_report", "train_vae", "vae_data",
    "val_rate",
]
