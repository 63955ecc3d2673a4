"""Data: real data sets first, announced stand-ins where none can be had, and the tensors training reads.

- :mod:`helpers.data.sets`: the data sets by name (real files, packaged copies, download; a synthetic
  stand-in said loudly), ``get_dataset`` and ``load_split`` (a split as tensors in memory);
- :mod:`helpers.data.staging`: ``python -m helpers.data stage``, the real files that packages ship;
- :mod:`helpers.data.diffraction`: the pseudo-diffraction generator (notebook 06's stand-in), cached;
- :mod:`helpers.data.loader`: ``TensorLoader``, batches by indexing tensors held on the device;
- :mod:`helpers.data.splits`: ``Splits``, an experiment's train, validation and test splits.

The names below are the ones notebooks and experiments use; everything else is in its module.
"""

from helpers.data.loader import TensorLoader
from helpers.data.sets import (
    NAMES,
    OFFLINE_ENV,
    SPECS,
    DatasetInfo,
    Split,
    SyntheticDataWarning,
    get_dataset,
    load_split,
)
from helpers.data.splits import Splits
from helpers.data.staging import DataFileError, stage

__all__ = ["NAMES", "OFFLINE_ENV", "SPECS", "DataFileError", "DatasetInfo", "Split", "Splits",
           "SyntheticDataWarning", "TensorLoader", "get_dataset", "load_split", "stage"]
