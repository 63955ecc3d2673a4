"""The course's command-line tools, apart from what the notebooks import.

- :mod:`helpers.tools.batch`: ``python -m helpers.tools.batch``, the papermill runner behind
  ``make course``;
- :mod:`helpers.tools.generate`: ``python -m helpers.tools.generate``, the badges, the setup cell and
  the README's generated parts.
"""
