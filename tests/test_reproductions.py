"""The write-ups' faulty formulas: the VAE collection's MS-SSIM (each fault can be switched off, and with
all off it is the course's MS-SSIM) and the SSIM blog post's zero-padded SSIM."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from skimage import data, util

from helpers.images import as_batch
from helpers.local_stats import gaussian_window
from helpers.reproductions import (
    blog_ssim,
    blog_ssim_map,
    blog_window,
    collection_ms_ssim,
    flipped_gaussian_window,
)
from helpers.ssim import ms_ssim, ms_ssim_scales, ssim, ssim_map

FAULTS_OFF = dict(flipped_window=False, zero_padding=False, batch_means=False, last_scale_power=False)


def _pair():
    x = as_batch(util.img_as_float64(data.camera())[0:256, 128:384])
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    return x, (x + 0.05 * noise).clamp(0, 1)


def test_flipped_window_puts_most_weight_in_the_corners():
    w = flipped_gaussian_window()
    w2 = torch.outer(w, w)
    assert abs(w.sum().item() - 1) < 1e-15 and w[0] == w.max()
    assert 0.71 < (w2[0, 0] + w2[0, -1] + w2[-1, 0] + w2[-1, -1]).item() < 0.73


def test_with_every_fault_off_it_is_the_course_ms_ssim():
    x, y = _pair()
    got = collection_ms_ssim(torch.cat([x, y]), torch.cat([y, x]), **FAULTS_OFF)
    assert got.shape == (2,)
    assert abs(got[0].item() - ms_ssim(x, y).item()) < 1e-12
    cs, sim = collection_ms_ssim(x, y, per_scale=True, **FAULTS_OFF)
    scales = ms_ssim_scales(x, y)
    assert torch.allclose(cs[:-1], scales[:-1], atol=1e-12)
    assert torch.allclose(sim[-1], scales[-1], atol=1e-12)


def test_each_fault_changes_the_value():
    x, y = _pair()
    correct = ms_ssim(x, y).item()
    for fault in ("flipped_window", "zero_padding", "last_scale_power"):
        options = dict(FAULTS_OFF, **{fault: True})
        assert abs(collection_ms_ssim(x, y, **options).item() - correct) > 1e-5, fault
    batch = torch.cat([x, x]), torch.cat([y, 1 - x])  # one good pair and one anti-correlated pair
    per_image = ms_ssim(*batch, reduction="none")
    batch_wide = collection_ms_ssim(*batch, **dict(FAULTS_OFF, batch_means=True, clip=True))
    assert abs(batch_wide.item() - per_image.mean().item()) > 0.05


def test_anti_correlated_images_give_nan_unless_clipped():
    x, _ = _pair()
    assert torch.isnan(collection_ms_ssim(x, 1 - x))
    assert collection_ms_ssim(x, 1 - x, clip=True).item() == 0.0


# --------------------------------------------------------------------------------------------
# The blog post's zero-padded SSIM
# --------------------------------------------------------------------------------------------


def _photo_pair(name: str, side: int = 64):
    """A photograph area-downsampled to side x side (RGB, float32) and a copy with noise of std 0.05."""
    photo = as_batch(util.img_as_float32(getattr(data, name)()))
    clean = F.interpolate(photo, size=(side, side), mode="area")
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    return clean, (clean + 0.05 * noise).clamp(0, 1)


def test_blog_window_is_the_gaussian_in_float32():
    w = blog_window()
    assert w.dtype == torch.float32 and w.shape == (11, 11)
    assert abs(w.sum().item() - 1) < 1e-6
    reference = torch.outer(gaussian_window(11, 1.5), gaussian_window(11, 1.5))
    assert (w.double() - reference).abs().max() < 1e-8  # float32 rounding (measured 5.8e-9)


@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut"])
@pytest.mark.parametrize("side", [64, 128])
def test_blog_ssim_away_from_the_border_is_the_course_ssim_map(name, side):
    """Windows that never reach the padding see the valid definition; what is left is float32
    cancellation in the uncentred E[x^2] - E[x]^2 (measured at most 4.2e-4 here, 5.2e-4 at 256 px; the
    same formula in float64 is within 4e-6 of the course's, the size of eps and of the window's rounding)."""
    clean, noisy = _photo_pair(name, side)
    padded = blog_ssim_map(clean, noisy)
    assert padded.shape == clean.shape
    assert (padded[..., 5:-5, 5:-5] - ssim_map(clean, noisy)).abs().max() < 1e-3


def test_blog_ssim_is_inflated_by_the_padding():
    for name in ("chelsea", "coffee", "astronaut"):
        clean, noisy = _photo_pair(name)
        assert blog_ssim(clean, noisy).item() > ssim(clean, noisy).item(), name
    clean, noisy = _photo_pair("chelsea")
    assert blog_ssim(clean, noisy).item() > ssim(clean, noisy).item() + 0.02  # measured 0.808 vs 0.776


def test_blog_ssim_fails_on_another_number_of_channels_as_the_original():
    grey = torch.rand(1, 1, 32, 32)
    with pytest.raises(RuntimeError, match="groups=3"):
        blog_ssim_map(grey, grey)
    rgb = torch.rand(1, 3, 32, 32)
    with pytest.raises(RuntimeError, match="groups=1"):
        blog_ssim_map(rgb, rgb, channels=1)
    with pytest.raises(RuntimeError):  # the window is float32
        blog_ssim_map(rgb.double(), rgb.double())


def test_blog_ssim_on_the_cvae_write_up_sanity_check():
    """The CVAE write-up's check: x ~ N(0, 1) of shape 5 x 1 x 128 x 128 and y = 0.8 x, far outside
    [0, 1]. It printed an SSIM loss of 0.046952...; over seeds 0-9 the value is 0.04694-0.04697."""
    x = torch.randn(5, 1, 128, 128, generator=torch.Generator().manual_seed(0))
    loss = 1 - blog_ssim(x, 0.8 * x, channels=1)
    assert math.isfinite(loss.item())
    assert abs(loss.item() - 0.046952247619628906) < 1e-4
