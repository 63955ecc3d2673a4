"""Tested helpers that the course's notebooks import, one module per idea.

- :mod:`helpers.config`: profiles (smoke, cpu, full), device, seeds, standard paths.
- :mod:`helpers.local_stats`: the Gaussian window, valid separable filtering, local moments.
- :mod:`helpers.plotting`: ``save_figure``, named PNGs and their manifest.
- :mod:`helpers.batch`: ``python -m helpers.batch``, the papermill runner behind ``make course``.
- :mod:`helpers.generate`: ``python -m helpers.generate``, badges, setup cell, README table.
"""
