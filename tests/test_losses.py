"""The loss registry: every loss is 0 at identical images, grows with the noise, has a useful gradient,
computes in float32 under autocast, equals piqa where it wraps piqa, and rejects bad input clearly."""

from __future__ import annotations

import math

import piqa
import pytest
import torch
import torch.nn.functional as F
from skimage import data, util

from helpers.images import as_batch
from helpers.losses import LOSSES, PSNR_MAX, MSEPlus, ReconstructionLoss, get_loss
from helpers.ssim import ms_ssim, ms_ssim_options_for_size, ssim

NAMES = LOSSES + ("mse+ssim@0.5", "mse+haarpsi@0.25")
# At identical images every loss is exactly 0 except HaarPSI (logit and square of a mean of sigmoids:
# measured within 4.3e-6 of 0 either side) and PSNR (80 dB in float32, whose step is 7.6e-6).
IDENTICAL_TOLERANCE = {"haarpsi": 1e-5, "psnr": 1e-5, "mse+haarpsi@0.25": 1e-5}


def _photo(kind: str) -> torch.Tensor:
    """Two real images (a photograph and its mirror image), float32 in [0, 1]: CIFAR-sized RGB
    (astronaut, 32 x 32) or Fashion-MNIST-sized grey (camera, 28 x 28)."""
    image, side = (data.astronaut(), 32) if kind == "rgb" else (data.camera(), 28)
    x = F.interpolate(as_batch(util.img_as_float32(image)), size=(side, side), mode="area")
    return torch.cat([x, x.flip(-1)]).clamp(0, 1)


def _noisy(x: torch.Tensor, std: float) -> torch.Tensor:
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    return (x + std * noise).clamp(0, 1)


@pytest.fixture(params=["rgb", "grey"])
def images(request):
    return _photo(request.param)


def test_registry_names():
    assert LOSSES == ("mse", "bce", "psnr", "ssim", "ms_ssim", "haarpsi", "gmsd", "ms_gmsd")
    for name in NAMES:
        loss = get_loss(name)
        assert isinstance(loss, (ReconstructionLoss, MSEPlus)) and loss.name == name


@pytest.mark.parametrize("name", NAMES)
def test_zero_at_identical_images(name, images):
    value = get_loss(name)(images, images)
    assert value.dtype == torch.float32 and value.dim() == 0
    assert abs(value.item()) <= IDENTICAL_TOLERANCE.get(name, 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_larger_for_a_noisier_copy(name, images):
    loss = get_loss(name)
    same, near, far = (loss(y, images).item() for y in (images, _noisy(images, 0.02), _noisy(images, 0.1)))
    assert same + 1e-4 < near < far, (same, near, far)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_is_finite_and_not_zero(name, images):
    output = _noisy(images, 0.05).requires_grad_()
    get_loss(name)(output, images).backward()
    assert torch.isfinite(output.grad).all()
    assert output.grad.abs().max() > 0


@pytest.mark.parametrize("name", NAMES)
def test_float32_under_autocast(name, images):
    loss, output = get_loss(name), _noisy(images, 0.05)
    plain = loss(output, images)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = loss(output, images)
        from_bfloat16 = loss(output.bfloat16(), images)  # what a network under autocast outputs
    assert autocast.dtype == from_bfloat16.dtype == torch.float32
    assert autocast.item() == plain.item()  # exactly: autocast is off inside
    assert from_bfloat16.item() == loss(output.bfloat16().float(), images).item()


def test_piqa_losses_equal_piqa_on_rgb():
    x = _photo("rgb")
    y = _noisy(x, 0.05)
    assert get_loss("haarpsi")(y, x).item() == (1 - piqa.HaarPSI()(y, x)).item()
    assert get_loss("gmsd")(y, x).item() == piqa.GMSD()(y, x).item()
    assert get_loss("ms_gmsd")(y, x).item() == piqa.MS_GMSD()(y, x).item()
    assert get_loss("psnr")(y, x).item() == (PSNR_MAX - piqa.PSNR(epsilon=1e-8)(y, x)).item()


def test_grey_equals_piqa_on_grey_repeated_to_rgb():
    """piqa's modules take RGB only; grey goes to its functions as the luminance. That equals the module
    on the grey image repeated to RGB up to the rounding of RGB -> Y (measured 2e-6 for HaarPSI)."""
    x = _photo("grey")
    y = _noisy(x, 0.05)
    rgb = y.expand(-1, 3, -1, -1), x.expand(-1, 3, -1, -1)  # (output, target)
    assert abs(get_loss("haarpsi")(y, x).item() - (1 - piqa.HaarPSI(chromatic=False)(*rgb)).item()) < 1e-5
    assert abs(get_loss("gmsd")(y, x).item() - piqa.GMSD()(*rgb).item()) < 1e-6
    assert abs(get_loss("ms_gmsd")(y, x).item() - piqa.MS_GMSD()(*rgb).item()) < 1e-6


def test_bce_is_torch_bce_less_the_target_entropy():
    x = _photo("grey")
    y = _noisy(x, 0.05).requires_grad_()
    value = get_loss("bce")(y, x)
    value.backward()
    reference = y.detach().clone().requires_grad_()
    torch_bce = F.binary_cross_entropy(reference, x)
    torch_bce.backward()
    assert abs(value.item() - (torch_bce - F.binary_cross_entropy(x, x)).item()) < 1e-6
    assert torch.equal(y.grad, reference.grad)  # the same gradient


def test_ssim_losses_and_the_combination():
    x = _photo("rgb")
    y = _noisy(x, 0.05)
    assert get_loss("ssim")(y, x).item() == 1 - ssim(y, x).item()
    for side in (28, 64, 200):  # the small-image policy is chosen from the size at each call
        a, b = (F.interpolate(t, size=(side, side), mode="area") for t in (x, y))
        expected = 1 - ms_ssim(a, b, **ms_ssim_options_for_size(side)).item()
        assert get_loss("ms_ssim")(a, b).item() == expected
    combined = get_loss("mse+ssim@0.5")(y, x).item()
    assert combined == pytest.approx(F.mse_loss(y, x).item() + 0.5 * (1 - ssim(y, x).item()), abs=1e-7)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nope", "SSIM", "mse+lpips@1", "mse+@0.5"])
def test_unknown_names_list_the_valid_ones(name):
    with pytest.raises(ValueError, match="must be one of") as error:
        get_loss(name)
    assert all(repr(n) in str(error.value) for n in LOSSES)


@pytest.mark.parametrize("name", ["mse+ssim", "ssim+mse@1", "mse+ssim+gmsd", "mse-ssim@1", "mse+ssim@0.5@"])
def test_malformed_combinations(name):
    with pytest.raises(ValueError, match=r"mse\+<loss>@<weight>|weight after '@'"):
        get_loss(name)


@pytest.mark.parametrize("weight", ["-0.5", "half", "nan", "inf", ""])
def test_bad_weights(weight):
    expected = f"the weight after '@' must be a finite number >= 0; got {weight!r}"
    with pytest.raises(ValueError, match=expected):
        get_loss(f"mse+ssim@{weight}")


def test_bad_weight_of_the_module():
    with pytest.raises(ValueError, match="weight must be a finite number >= 0; got -1"):
        MSEPlus(get_loss("ssim"), -1)


def test_bad_check():
    with pytest.raises(ValueError, match="check must be one of"):
        get_loss("mse", check="never")


@pytest.mark.parametrize("name", ["haarpsi", "gmsd", "ms_gmsd"])
@pytest.mark.parametrize("channels", [2, 4])
def test_piqa_losses_take_grey_or_rgb_only(name, channels):
    x = torch.rand(2, channels, 32, 32)
    expected = rf"'{name}' takes images with 1 or 3 channels .* got output of shape \(2, {channels}, 32, 32\)"
    with pytest.raises(ValueError, match=expected):
        get_loss(name)(x, x)


@pytest.mark.parametrize("name, side", [("ssim", 11), ("ms_ssim", 7), ("gmsd", 3), ("ms_gmsd", 9)])
def test_smallest_side(name, side):
    """At the smallest side the loss is finite; one pixel less gets the course's error, not NaN."""
    loss = get_loss(name)
    x = torch.rand(2, 1, side, side, generator=torch.Generator().manual_seed(0))
    y = (x + 0.1).clamp(0, 1)
    assert math.isfinite(loss(y, x).item())
    small = x[..., 1:, 1:]
    expected = rf"needs images of at least {side} x {side} pixels .* \(2, 1, {side - 1}, {side - 1}\)"
    with pytest.raises(ValueError, match=expected):
        loss(small, small)


def test_shapes():
    loss = get_loss("mse")
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9))
    with pytest.raises(ValueError, match=r"output must be a floating-point tensor of shape \(N, C, H, W\)"):
        loss(torch.rand(8, 8), torch.rand(8, 8))


def test_values_checked_on_the_first_call_only():
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"output must have values in \[0, 1\]; got values in \[-0.9"):
        get_loss("mse")(2 * x - 1, x)
    nan = x.clone()
    nan[0, 0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="target contains NaN"):
        get_loss("ssim")(x, nan)
    first = get_loss("mse")
    first(x, x)
    assert first(2 * x, x).item() > 0  # later calls are trusted: the check would wait for the device
    with pytest.raises(ValueError, match="must have values in"):
        always = get_loss("mse", check="always")
        always(x, x)
        always(2 * x, x)
