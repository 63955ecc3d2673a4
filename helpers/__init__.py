"""Tested helpers that the course's notebooks import, one module per idea.

- :mod:`helpers.config`: profiles (smoke, cpu, full), device, seeds, standard paths.
- :mod:`helpers.local_stats`: the Gaussian window, valid separable filtering, local moments.
- :mod:`helpers.ssim`: SSIM and MS-SSIM with an analytic gradient, the losses, the small-image policy.
- :mod:`helpers.images`: NumPy images to ``(N, C, H, W)`` batches and back.
- :mod:`helpers.reproductions`: the write-ups' faulty formulas, fault by fault, for measurement.
- :mod:`helpers.data`: real data sets (files, packaged copies, download), announced stand-ins;
  ``load_split``, a split as tensors in memory.
- :mod:`helpers.loader`: ``TensorLoader``, batches by indexing tensors held on the device.
- :mod:`helpers.diffraction`: the deterministic pseudo-diffraction generator, and its cache.
- :mod:`helpers.losses`: the registry of reconstruction losses by name.
- :mod:`helpers.models`: the course's networks, one module each, rebuilt from a checkpoint.
- :mod:`helpers.fid`: Fréchet distances in float64 by eigenvalues; Inception or announced classifier
  features; the real-vs-real noise floor.
- :mod:`helpers.vqvae_experiments`: notebook 07's loss zoo: configurations, keyed runs, step timings,
  loss scales, the Fréchet-distance table in the write-up's layout.
- :mod:`helpers.train`: ``fit``, a resumable training loop, loss and metrics apart; ``load_run``.
- :mod:`helpers.plotting`: ``save_figure`` (named PNGs and their manifest), image grids, loss curves.
- :mod:`helpers.batch`: ``python -m helpers.batch``, the papermill runner behind ``make course``.
- :mod:`helpers.generate`: ``python -m helpers.generate``, badges, setup cell, README table.
"""
