from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data, util

from helpers.local_stats import (
    filter_full,
    filter_valid,
    gaussian_window,
    local_moments,
    sliding_window_moments,
)


@pytest.fixture(scope="module")
def pair():
    """A real 96 x 128 crop of `camera` and a noisy copy, float64 in [0, 1]."""
    x = util.img_as_float64(data.camera())[200:296, 160:288]
    rng = np.random.default_rng(0)
    y = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1)
    return x, y


def test_gaussian_window_sums_to_one_and_is_symmetric():
    w = gaussian_window(11, 1.5)
    assert w.shape == (11,) and w.dtype == torch.float64
    assert abs(w.sum().item() - 1) < 1e-15
    assert torch.equal(w, w.flip(0))
    assert w.argmax().item() == 5
    # the centre of a unit-area Gaussian is 1 / (sqrt(2 pi) sigma); 11 taps lose almost nothing
    assert abs(w[5].item() - 1 / (math.sqrt(2 * math.pi) * 1.5)) < 1e-4


def test_gaussian_window_in_float32_is_built_in_float64_first():
    w32 = gaussian_window(11, 1.5, dtype=torch.float32)
    assert torch.equal(w32, gaussian_window(11, 1.5).float())


@pytest.mark.parametrize(("size", "sigma"), [(10, 1.5), (0, 1.5), (11, 0.0), (11, -1.0), (True, 1.5)])
def test_gaussian_window_rejects_bad_arguments(size, sigma):
    with pytest.raises(ValueError, match="size|sigma"):
        gaussian_window(size, sigma)


def test_convolution_matches_the_sliding_window_definition(pair):
    x, y = pair
    w = gaussian_window()
    reference = sliding_window_moments(x, y, torch.outer(w, w).numpy())
    tx, ty = (torch.from_numpy(a)[None, None] for a in (x, y))
    for centre in (False, True):
        got = local_moments(tx, ty, w, centre=centre)
        for name in got._fields:
            assert getattr(got, name).shape == (1, 1, 86, 118)
            err = (getattr(got, name) - getattr(reference, name)).abs().max().item()
            assert err < 1e-12, (name, centre, err)


def test_reference_is_a_real_two_pass_computation(pair):
    x, _ = pair
    k = 5
    w2 = np.full((k, k), 1 / k**2)
    ref = sliding_window_moments(x, x, w2)
    i, j = 17, 40
    patch = x[i:i + k, j:j + k]
    assert ref.var_x[0, 0, i, j].item() == pytest.approx(patch.var(), abs=1e-15)
    assert ref.mean_x[0, 0, i, j].item() == pytest.approx(patch.mean(), abs=1e-15)


def test_filter_valid_keeps_batch_and_channels_apart():
    torch.manual_seed(0)
    x = torch.rand(3, 2, 20, 24, dtype=torch.float64)
    w = gaussian_window(5, 1.0)
    out = filter_valid(x, w)
    assert out.shape == (3, 2, 16, 20)
    for n in range(3):
        for c in range(2):
            alone = filter_valid(x[n:n + 1, c:c + 1], w)
            assert torch.allclose(out[n:n + 1, c:c + 1], alone, atol=1e-15)


def test_centring_reduces_float32_cancellation():
    # a bright, nearly flat image: where E[x^2] - mu^2 loses most digits
    torch.manual_seed(0)
    x = 0.9 + 1e-3 * torch.rand(2, 3, 40, 40, dtype=torch.float64)
    truth = local_moments(x, centre=True).var_x
    as_is = local_moments(x.float(), centre=False).var_x.double()
    centred = local_moments(x.float(), centre=True).var_x.double()
    err_as_is = (as_is - truth).abs().max().item()
    err_centred = (centred - truth).abs().max().item()
    assert err_centred < err_as_is / 10


def test_centring_leaves_the_means_alone(pair):
    x, y = (torch.from_numpy(a)[None, None] for a in pair)
    a, b = local_moments(x, y, centre=False), local_moments(x, y, centre=True)
    assert torch.allclose(a.mean_x, b.mean_x, atol=1e-14)
    assert torch.allclose(a.mean_y, b.mean_y, atol=1e-14)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros((1, 1, 16, 16)), "torch.Tensor"),
        (torch.zeros(16, 16), r"\(N, C, H, W\)"),
        (torch.zeros(1, 1, 16, 16, dtype=torch.int64), "floating-point"),
        (torch.zeros(1, 1, 8, 16), "at least 11x11"),
    ],
)
def test_bad_images_get_clear_errors(x, match):
    with pytest.raises((TypeError, ValueError), match=match):
        local_moments(x)


def test_mismatched_shapes_are_named():
    with pytest.raises(ValueError, match="same shape"):
        local_moments(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 17))


def test_filter_full_is_the_adjoint_of_filter_valid():
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 20, 17, generator=generator, dtype=torch.float64)
    b = torch.rand(2, 3, 10, 7, generator=generator, dtype=torch.float64)
    w = gaussian_window(11, 1.5) + torch.linspace(0, 0.01, 11, dtype=torch.float64)  # not symmetric
    assert filter_full(b, w).shape == a.shape
    left = (filter_valid(a, w) * b).sum()
    assert abs(left - (a * filter_full(b, w)).sum()) < 1e-12 * left
    scale = torch.rand(2, 3, generator=generator, dtype=torch.float64)
    scaled = filter_full(b, w, scale)
    assert torch.allclose(scaled, filter_full(b * scale[:, :, None, None], w), rtol=0, atol=1e-15)


def test_filter_full_errors_name_the_argument():
    b = torch.rand(2, 3, 10, 7)
    with pytest.raises(ValueError, match=r"scale must have shape \(N, C\) = \(2, 3\); got \(6,\)"):
        filter_full(b, gaussian_window(dtype=torch.float32), torch.ones(6))
    with pytest.raises(ValueError, match=r"window must be 1-D \(k taps\); got shape \(11, 11\)"):
        filter_full(b, torch.ones(11, 11))
