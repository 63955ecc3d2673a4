"""Tested helpers that the course's notebooks import, one module per idea, in three tiers.

The core library:

- :mod:`helpers.config`: profiles (smoke, cpu, full), device, seeds, standard paths.
- :mod:`helpers.checks`: the argument checks the modules share.
- :mod:`helpers.local_stats`: the Gaussian window, valid separable filtering, local moments.
- :mod:`helpers.ssim`: SSIM and MS-SSIM with an analytic gradient, the losses, the small-image policy.
- :mod:`helpers.images`: NumPy images to ``(N, C, H, W)`` batches and back.
- :mod:`helpers.reproductions`: the write-ups' faulty formulas, fault by fault, for measurement.
- :mod:`helpers.losses`: the registry of reconstruction losses by name.
- :mod:`helpers.data`: real data sets (files, packaged copies, download), announced stand-ins, the
  pseudo-diffraction generator, ``TensorLoader`` and ``Splits``.
- :mod:`helpers.models`: the course's networks, one module each, rebuilt from a checkpoint.
- :mod:`helpers.train`: ``fit``, a resumable training loop, loss and metrics apart; ``run``, the one
  way every experiment trains, returning a ``Run``; ``load_run``.
- :mod:`helpers.stats`: seed-paired differences, intervals and the three-valued verdicts.
- :mod:`helpers.results`: the per-run measurements a training notebook saves.
- :mod:`helpers.fid`: Fréchet distances in float64 by eigenvalues; Inception or announced classifier
  features; the real-vs-real noise floor.
- :mod:`helpers.locks`: a lock between processes (the tasks of a job array).
- :mod:`helpers.plotting`: ``save_figure`` (named PNGs and their manifest), image grids, loss curves.

:mod:`helpers.experiments`: the experiments of the training notebooks 04-07, one subpackage each.

:mod:`helpers.tools`: the command-line tools, ``python -m helpers.tools.batch`` (the papermill runner
behind ``make course``) and ``python -m helpers.tools.generate`` (badges, setup cell, README parts).
"""
