"""Argument checks shared by the helpers: each raises ``ValueError`` naming the argument, what was
expected and what was given, and returns the value it checked.

    width = positive_int("width", width)   # "width must be a positive int; got 0"
    seed = non_negative_int("seed", seed)  # "seed must be a non-negative int; got -1"
    lr = positive_number("lr", lr)         # "lr must be a positive number; got nan"

``bool`` is refused where an int or a number is expected (``True`` is an ``int`` in Python).
"""

from __future__ import annotations

import math


def positive_int(name: str, value) -> int:
    """``value`` if it is an ``int`` >= 1 (not a ``bool``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return value


def non_negative_int(name: str, value) -> int:
    """``value`` if it is an ``int`` >= 0 (not a ``bool``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int; got {value!r}")
    return value


def positive_number(name: str, value) -> float:
    """``value`` if it is a finite ``int`` or ``float`` > 0 (not a ``bool``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    return value
