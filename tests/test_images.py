"""Converting NumPy images to batches and back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.images import as_batch, as_image


def test_grayscale_and_colour_round_trip():
    gray = np.arange(12, dtype=np.float64).reshape(3, 4)
    rgb = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    assert as_batch(gray).shape == (1, 1, 3, 4) and as_batch(gray).dtype == torch.float64
    assert as_batch(rgb).shape == (1, 3, 2, 4)
    assert as_batch(rgb)[0, 2, 1, 3].item() == rgb[1, 3, 2]
    assert np.array_equal(as_image(as_batch(gray)), gray)
    assert np.array_equal(as_image(as_batch(rgb)), rgb)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"image must have shape \(H, W\) or \(H, W, C\); got shape \(5,\)"):
        as_batch(np.zeros(5))
    with pytest.raises(ValueError, match=r"batch must have shape \(N, C, H, W\); got shape \(3, 4\)"):
        as_image(torch.zeros(3, 4))
