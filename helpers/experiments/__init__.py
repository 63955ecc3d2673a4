"""The experiments of the training notebooks, one subpackage per experiment, each built on the core
library (``helpers.train.run`` trains every run, ``helpers.data.Splits`` holds every experiment's data,
``helpers.stats`` decides every claim):

- :mod:`helpers.experiments.vae`: notebooks 04 and 05, the VAE with 1 - MS-SSIM, MSE, alpha SSIM + beta KL;
- :mod:`helpers.experiments.overfitting`: notebook 06, the GDN network's train/validation gap;
- :mod:`helpers.experiments.vqvae`: notebook 07, the VQ-VAE's loss zoo and its Fréchet-distance table;
- :mod:`helpers.experiments.classify`: the frozen classifier that judges samples (05) and gives
  Fréchet-distance features (07).
"""
