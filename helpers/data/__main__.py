"""``python -m helpers.data stage``: see :mod:`helpers.data.staging`."""

import sys

from helpers.data.staging import main

sys.exit(main())
