"""The faulty MS-SSIM of the VAE collection: each fault can be switched off, and with all off it is
the course's MS-SSIM."""

from __future__ import annotations

import torch
from skimage import data, util

from helpers.images import as_batch
from helpers.reproductions import collection_ms_ssim, flipped_gaussian_window
from helpers.ssim import ms_ssim, ms_ssim_scales

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
