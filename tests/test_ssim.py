"""SSIM and MS-SSIM: accuracy against scikit-image and a float64 reference written here from the
definition, float32 accuracy against the peers, properties, gradients, robustness and errors."""

from __future__ import annotations

import numpy as np
import piqa
import pytest
import pytorch_msssim
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage import data, util
from skimage.metrics import structural_similarity

from helpers import ssim as helpers_ssim
from helpers import ssim_kernel as helpers_ssim_kernel
from helpers.local_stats import gaussian_window, sliding_window_moments
from helpers.ssim import (
    DEFAULT_WEIGHTS,
    GRADIENT_FLOOR,
    MSSSIMLoss,
    SSIMLoss,
    _ClippedPower,
    ms_ssim,
    ms_ssim_min_size,
    ms_ssim_options_for_size,
    ms_ssim_scales,
    ms_ssim_weights_for_size,
    ssim,
    ssim_map,
)

# ---------------------------------------------------------------------------------------------
# Test images: real photographs that scikit-image ships, distorted in the usual ways
# ---------------------------------------------------------------------------------------------


def _distortions(image: np.ndarray) -> dict[str, np.ndarray]:
    """Distorted copies of a 2-D float64 image in [0, 1]; every one keeps the shape and range."""
    rng = np.random.default_rng(0)
    rotation = ndimage.affine_transform(
        image, [[0.98, 0.05], [-0.05, 0.98]], offset=(4.0, -3.0), order=1, mode="nearest"
    )
    return {
        "noise": np.clip(image + rng.normal(0, 0.08, image.shape), 0, 1),
        "blur": ndimage.gaussian_filter(image, 2.0),
        "affine": np.clip(rotation, 0, 1),
        "inverted": 1 - image,
        "constant": np.full_like(image, 0.5),
        "brighter": np.clip(image * 0.7 + 0.25, 0, 1),
    }


CAMERA = util.img_as_float64(data.camera())[96:296, 150:333]  # 200 x 183: odd width
PAGE = util.img_as_float64(data.page())  # 191 x 384: a bright page of text, odd height
DISTORTIONS = list(_distortions(CAMERA))


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))[None, None]


def _skimage_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=data_range
    )


# ---------------------------------------------------------------------------------------------
# The float64 reference for MS-SSIM, from the definition, window by window
# ---------------------------------------------------------------------------------------------


def _reference_halve(a: np.ndarray) -> np.ndarray:
    """2x2 means; an odd last row or column is repeated (averaged with itself)."""
    a = np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2)), mode="edge")
    return a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean(axis=(1, 3))


def _reference_scales(a: np.ndarray, b: np.ndarray, scales: int, data_range: float = 1.0) -> list[float]:
    """[cs_1, ..., cs_{M-1}, SSIM_M]: map means from two-pass window statistics, in float64."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    w = gaussian_window(11, 1.5).numpy()
    window2d = np.outer(w, w)
    values = []
    for scale in range(scales):
        if scale:
            a, b = _reference_halve(a), _reference_halve(b)
        m = sliding_window_moments(a, b, window2d)
        cs = (2 * m.cov_xy + c2) / (m.var_x + m.var_y + c2)
        lum = (2 * m.mean_x * m.mean_y + c1) / (m.mean_x**2 + m.mean_y**2 + c1)
        values.append((cs if scale < scales - 1 else lum * cs).mean().item())
    return values


def _reference_ms_ssim(a, b, weights=DEFAULT_WEIGHTS) -> float:
    values = _reference_scales(a, b, len(weights))
    return float(np.prod([max(v, 0.0) ** w for v, w in zip(values, weights, strict=True)]))


# ---------------------------------------------------------------------------------------------
# Accuracy in float64
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("distortion", DISTORTIONS)
def test_ssim_float64_equals_scikit_image(distortion):
    distorted = _distortions(CAMERA)[distortion]
    expected = _skimage_ssim(CAMERA, distorted)
    got = ssim(_tensor(CAMERA), _tensor(distorted)).item()
    assert abs(got - expected) < 1e-12, (distortion, got, expected)


def test_ssim_float64_equals_scikit_image_per_channel_on_colour():
    rgb = util.img_as_float64(data.astronaut())[100:260, 150:311]  # (160, 161, 3)
    noisy = np.clip(rgb + np.random.default_rng(1).normal(0, 0.05, rgb.shape), 0, 1)
    expected = structural_similarity(
        rgb, noisy, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0,
        channel_axis=2,
    )
    x, y = (torch.from_numpy(a).permute(2, 0, 1)[None].contiguous() for a in (rgb, noisy))
    assert abs(ssim(x, y).item() - expected) < 1e-12


def test_ssim_map_is_the_valid_map_and_ssim_its_mean():
    distorted = _distortions(CAMERA)["noise"]
    _, full = structural_similarity(
        CAMERA, distorted, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=1.0, full=True,
    )
    got = ssim_map(_tensor(CAMERA), _tensor(distorted))
    assert got.shape == (1, 1, 190, 173)
    # scikit-image's full map is "same" size; its interior (5 px from each border) is the valid map
    assert np.abs(got[0, 0].numpy() - full[5:-5, 5:-5]).max() < 1e-12
    assert abs(got.mean().item() - ssim(_tensor(CAMERA), _tensor(distorted)).item()) < 1e-15


@pytest.mark.parametrize("distortion", ["noise", "blur", "affine", "brighter"])
def test_ms_ssim_scales_float64_equal_the_reference(distortion):
    distorted = _distortions(CAMERA)[distortion]
    expected = _reference_scales(CAMERA, distorted, 5)
    got = ms_ssim_scales(_tensor(CAMERA), _tensor(distorted))[:, 0, 0].tolist()
    assert np.abs(np.subtract(got, expected)).max() < 1e-12, (got, expected)
    value = ms_ssim(_tensor(CAMERA), _tensor(distorted)).item()
    assert abs(value - _reference_ms_ssim(CAMERA, distorted)) < 1e-12


def test_ms_ssim_handles_odd_sizes_as_msssim_m_does():
    """191 x 384 halves to 96 x 192, 48 x 96, ...: the odd last row is averaged with itself."""
    noisy = np.clip(PAGE + np.random.default_rng(2).normal(0, 0.05, PAGE.shape), 0, 1)
    got = ms_ssim(_tensor(PAGE), _tensor(noisy)).item()
    assert abs(got - _reference_ms_ssim(PAGE, noisy)) < 1e-12


def test_clipping_before_the_powers():
    """Inverted images have negative cs at fine scales: the product is 0, as TensorFlow computes."""
    inverted = 1 - CAMERA
    scales = ms_ssim_scales(_tensor(CAMERA), _tensor(inverted))[:, 0, 0]
    assert (scales < 0).any()
    assert ms_ssim(_tensor(CAMERA), _tensor(inverted)).item() == 0.0
    assert _reference_ms_ssim(CAMERA, inverted) == 0.0


# ---------------------------------------------------------------------------------------------
# Accuracy in float32, against the float64 value and against the peers
# ---------------------------------------------------------------------------------------------

FLOAT32_PAIRS = {
    "camera+noise": (CAMERA, _distortions(CAMERA)["noise"]),
    "camera+blur": (CAMERA, _distortions(CAMERA)["blur"]),
    "page+noise": (PAGE, np.clip(PAGE + np.random.default_rng(3).normal(0, 0.02, PAGE.shape), 0, 1)),
    "page+brighter": (PAGE, np.clip(PAGE * 0.9 + 0.1, 0, 1)),
}


@pytest.mark.parametrize("pair", list(FLOAT32_PAIRS))
def test_float32_ssim_is_within_1e6_of_float64_and_closer_than_the_peers(pair):
    a, b = FLOAT32_PAIRS[pair]
    x64, y64 = _tensor(a), _tensor(b)
    x32, y32 = x64.float(), y64.float()
    exact = ssim(x32.double(), y32.double()).item()  # the float64 value of the float32 pixels
    error = abs(ssim(x32, y32).item() - exact)
    assert error < 1e-6, error
    peers = {
        "piqa": abs(piqa.SSIM(n_channels=1)(x32, y32).item() - exact),
        "pytorch-msssim": abs(pytorch_msssim.ssim(x32, y32, data_range=1.0).item() - exact),
    }
    assert error < min(peers.values()), (error, peers)


@pytest.mark.parametrize("pair", list(FLOAT32_PAIRS))
def test_float32_ms_ssim_is_within_3e7_of_float64(pair):
    a, b = FLOAT32_PAIRS[pair]
    x32, y32 = _tensor(a).float(), _tensor(b).float()
    exact = ms_ssim(x32.double(), y32.double()).item()
    error = abs(ms_ssim(x32, y32).item() - exact)
    assert error < 3e-7, error
    peer = abs(pytorch_msssim.ms_ssim(x32, y32, data_range=1.0).item() - exact)
    assert error < peer, (error, peer)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch():
    """Four 3-channel 48 x 56 crops of `astronaut` and noisy copies, float64."""
    rgb = torch.from_numpy(util.img_as_float64(data.astronaut())).permute(2, 0, 1)
    x = torch.stack([rgb[:, 40 * i: 40 * i + 48, 60 * i: 60 * i + 56] for i in range(4)])
    generator = torch.Generator().manual_seed(0)
    y = (x + 0.1 * torch.randn(x.shape, generator=generator, dtype=x.dtype)).clamp(0, 1)
    return x, y


def test_identical_images_score_one_also_when_constant(batch):
    x, _ = batch
    for image in (x, torch.full_like(x, 0.3), torch.zeros_like(x), torch.ones_like(x)):
        assert abs(ssim(image, image).item() - 1) < 1e-15
    big = torch.full((1, 1, 161, 161), 0.7, dtype=torch.float64)
    assert abs(ms_ssim(big, big).item() - 1) < 1e-15


def test_symmetry_and_range(batch):
    x, y = batch
    assert abs(ssim(x, y).item() - ssim(y, x).item()) < 1e-15
    values = ssim_map(x, 1 - x)
    assert (values >= -1).all() and (values <= 1).all()
    assert values.min() < -0.9  # anti-correlated windows (edges, texture) score near -1
    assert values.max() > 0.5  # in flat windows cs is near C2 / C2 = 1


def test_ms_ssim_symmetry_and_range():
    noisy = _distortions(CAMERA)["noise"]
    a, b = _tensor(CAMERA), _tensor(noisy)
    assert abs(ms_ssim(a, b).item() - ms_ssim(b, a).item()) < 1e-15
    for other in _distortions(CAMERA).values():
        assert 0 <= ms_ssim(a, _tensor(other)).item() <= 1


def test_invariant_under_scaling_of_images_and_range(batch):
    x, y = batch
    assert abs(ssim(255 * x, 255 * y, data_range=255).item() - ssim(x, y).item()) < 1e-13
    a, b = _tensor(CAMERA), _tensor(_distortions(CAMERA)["blur"])
    assert abs(ms_ssim(255 * a, 255 * b, data_range=255).item() - ms_ssim(a, b).item()) < 1e-13


def test_batched_equals_one_image_at_a_time(batch):
    x, y = batch
    together = ssim(x, y, reduction="none")
    alone = torch.cat([ssim(x[i: i + 1], y[i: i + 1], reduction="none") for i in range(4)])
    assert torch.allclose(together, alone, rtol=0, atol=1e-15)
    assert abs(ssim(x, y).item() - alone.mean().item()) < 1e-15
    pair = torch.cat([_tensor(CAMERA)] * 2), torch.cat([_tensor(CAMERA), _tensor(1 - CAMERA)])
    per_image = ms_ssim(*pair, reduction="none")
    assert per_image[0].item() == 1.0 and per_image[1].item() == 0.0


def test_channels_are_scored_separately_then_averaged(batch):
    x, y = batch
    per_channel = [ssim(x[:, c: c + 1], y[:, c: c + 1], reduction="none") for c in range(3)]
    assert torch.allclose(ssim(x, y, reduction="none"), torch.stack(per_channel).mean(0), atol=1e-15)


@pytest.mark.parametrize("wrt", ["x", "y", "both"])
def test_ssim_gradient_matches_finite_differences(batch, wrt):
    x, y = batch
    x = x[:2, :, :20, :24].clone().requires_grad_(wrt in ("x", "both"))
    y = y[:2, :, :20, :24].clone().requires_grad_(wrt in ("y", "both"))
    assert torch.autograd.gradcheck(lambda a, b: ssim(a, b, reduction="none"), (x, y))


@pytest.mark.parametrize("wrt", ["x", "both"])
def test_ms_ssim_gradient_matches_finite_differences(wrt):
    a = _tensor(CAMERA[:45, :49]).clone().requires_grad_(True)
    b = _tensor(_distortions(CAMERA)["blur"][:45, :49]).clone().requires_grad_(wrt == "both")
    weights = (0.3, 0.4, 0.3)  # 3 scales of a 5-tap window fit 45 px (17 needed at least)
    assert torch.autograd.gradcheck(lambda p, q: ms_ssim(p, q, window_size=5, weights=weights), (a, b))


def test_analytic_gradient_equals_autograd_through_the_map(batch):
    x, y = batch
    analytic = x.clone().requires_grad_()
    ssim(analytic, y).backward()
    chained = x.clone().requires_grad_()
    ssim_map(chained, y).mean().backward()
    assert torch.allclose(analytic.grad, chained.grad, rtol=0, atol=1e-15)


def test_losses_are_one_minus_the_values(batch):
    x, y = batch
    assert SSIMLoss()(x, y).item() == pytest.approx(1 - ssim(x, y).item(), abs=1e-15)
    a, b = _tensor(CAMERA), _tensor(_distortions(CAMERA)["noise"])
    assert MSSSIMLoss()(a, b).item() == pytest.approx(1 - ms_ssim(a, b).item(), abs=1e-15)
    assert SSIMLoss(reduction="none")(x, y).shape == (4,)
    assert "data_range=1.0" in repr(SSIMLoss())


# ---------------------------------------------------------------------------------------------
# Robustness: no NaN or Inf, in value or gradient
# ---------------------------------------------------------------------------------------------


def _robustness_pairs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    x = _tensor(CAMERA[:176, :176]).float()
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    return {
        "identical": (x, x.clone()),
        "constant": (torch.full_like(x, 0.4), torch.full_like(x, 0.4)),
        "zeros-vs-ones": (torch.zeros_like(x), torch.ones_like(x)),
        "anti-correlated": (x, 1 - x),
        "noise": (noise, x),
        "float16": (x.half(), (1 - x).half()),
        "bfloat16": (x.bfloat16(), noise.bfloat16()),
    }


@pytest.mark.parametrize("case", list(_robustness_pairs()))
@pytest.mark.parametrize("metric", [ssim, ms_ssim], ids=["ssim", "ms_ssim"])
def test_finite_value_and_gradient(case, metric):
    x, y = _robustness_pairs()[case]
    x = x.clone().requires_grad_()
    value = metric(x, y)
    value.backward()
    assert torch.isfinite(value).all(), value
    assert torch.isfinite(x.grad).all()
    assert x.grad.dtype == x.dtype
    if case.startswith(("float16", "bfloat16")):  # computed in float32, returned in the inputs' dtype
        assert value.dtype == x.dtype
        in_float32 = metric(x.detach().float(), y.float())
        assert value.item() == in_float32.to(x.dtype).item()


def test_power_gradient_is_bounded_as_cs_goes_to_zero():
    values = torch.tensor([1e-12, 1e-6, GRADIENT_FLOOR, 0.5, 0.0, -0.2], dtype=torch.float64)
    values.requires_grad_()
    weight = DEFAULT_WEIGHTS[0]
    powered = _ClippedPower.apply(values, torch.full_like(values, weight))
    powered.sum().backward()
    bound = weight * GRADIENT_FLOOR ** (weight - 1)
    assert torch.isfinite(values.grad).all()
    assert values.grad[:3].tolist() == pytest.approx([bound] * 3)  # held at the floor below it
    assert values.grad[3].item() == pytest.approx(weight * 0.5 ** (weight - 1))  # exact above it
    assert values.grad[4:].tolist() == [0.0, 0.0]  # clipped: no gradient
    assert powered[4:].tolist() == [0.0, 0.0]


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

X = torch.rand(2, 3, 32, 32)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ssim(X, X[:, :2]), r"same shape; got \(2, 3, 32, 32\) and \(2, 2, 32, 32\)"),
        (lambda: ssim(X[0], X[0]), r"x must have 4 dimensions \(N, C, H, W\); got shape \(3, 32, 32\)"),
        (lambda: ssim(X, X, window_size=10), "window_size must be an odd positive int; got 10"),
        (lambda: ssim(X, X, window_size=-3), "window_size must be an odd positive int; got -3"),
        (lambda: ssim(X, X, window_size=33), "at least window_size x window_size = 33x33 pixels; got 32x32"),
        (lambda: ssim(X, X, data_range=0), "data_range must be a positive number; got 0"),
        (lambda: ssim(X, X, reduction="sum"), r"reduction must be one of \('mean', 'none'\); got 'sum'"),
        (lambda: ssim(X * 255, X), r"x must have values in \[0, data_range\] = \[0, 1\]; got values in"),
        (lambda: ssim(X, X - 0.5), r"y must have values in \[0, data_range\]"),
        (lambda: ms_ssim(X, X), "needs images of at least 161x161 pixels; got 32x32. Options: "),
        (lambda: ms_ssim(X, X, weights=()), "weights must be a non-empty sequence of positive numbers"),
        (lambda: ms_ssim_scales(X, X, scales=0), "scales must be a positive int; got 0"),
    ],
)
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_nan_is_refused():
    x = X.clone()
    x[1, 2, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="x contains NaN"):
        ssim(x, X)


def test_rounding_outside_the_range_is_accepted():
    y = X.clone()
    y[0, 0, 0, 0] = 1 + 1e-7
    y[0, 0, 0, 1] = -1e-7
    assert torch.isfinite(ssim(X, y))


# ---------------------------------------------------------------------------------------------
# The small-image policy
# ---------------------------------------------------------------------------------------------


def test_min_size_and_the_weights_that_fit():
    assert ms_ssim_min_size(11, 5) == 161
    assert ms_ssim_min_size(11, 2) == 21
    assert ms_ssim_min_size(7, 3) == 25
    two = ms_ssim_weights_for_size(32, 11)
    assert len(two) == 2 and sum(two) == pytest.approx(sum(DEFAULT_WEIGHTS))
    assert two[1] / two[0] == pytest.approx(DEFAULT_WEIGHTS[1] / DEFAULT_WEIGHTS[0])
    assert len(ms_ssim_weights_for_size(28, 7)) == 3
    assert ms_ssim_weights_for_size(161) == pytest.approx(DEFAULT_WEIGHTS)
    with pytest.raises(ValueError, match="side must be at least window_size = 11 pixels; got 8"):
        ms_ssim_weights_for_size(8)
    small = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert 0 < ms_ssim(small, (0.8 * small + 0.1), weights=two).item() < 1


def test_ms_ssim_halving_matches_average_pooling_on_even_sizes():
    x = torch.rand(1, 1, 176, 176, dtype=torch.float64)
    y = torch.rand(1, 1, 176, 176, dtype=torch.float64)
    two = ms_ssim_scales(x, y, scales=2)
    coarse = ms_ssim_scales(F.avg_pool2d(x, 2), F.avg_pool2d(y, 2), scales=1)
    assert abs(two[1].item() - coarse[0].item()) < 1e-15


def test_small_image_policy_options():
    assert ms_ssim_options_for_size(256) == {"window_size": 11, "weights": DEFAULT_WEIGHTS}
    for side, scales in [(28, 3), (32, 3), (48, 3), (49, 4), (128, 5), (160, 5)]:
        options = ms_ssim_options_for_size(side)
        assert options["window_size"] == 7 and len(options["weights"]) == scales, side
        generator = torch.Generator().manual_seed(side)
        small = torch.rand(2, 1, side, side, generator=generator)
        noisy = (small + 0.1 * torch.randn(small.shape, generator=generator)).clamp(0, 1)
        assert 0 < ms_ssim(small, noisy, **options).item() < 1
    with pytest.raises(ValueError, match=r"ms_ssim_options_for_size\(32\)"):
        ms_ssim(X, X)


# ---------------------------------------------------------------------------------------------
# Every photograph scikit-image ships, in float32: identical pairs score exactly 1
# ---------------------------------------------------------------------------------------------

# the photographs bundled with scikit-image (no download), RGB and grey
PHOTOGRAPHS = ["astronaut", "brick", "camera", "cat", "cell", "clock", "coffee", "coins", "grass", "gravel",
               "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina",
               "rocket", "text"]


def _photograph(name: str) -> torch.Tensor:
    """``name`` as float32 ``(1, C, H, W)`` in [0, 1]: its 8-bit values divided by 255."""
    image = torch.from_numpy(getattr(data, name)().astype(np.float32) / 255)
    return image[None, None] if image.dim() == 2 else image.permute(2, 0, 1)[None].contiguous()


@pytest.mark.parametrize("name", PHOTOGRAPHS)
def test_float32_identical_photographs_score_exactly_one_and_noisy_ones_meet_the_bar(name):
    x = _photograph(name)
    assert ssim(x, x).item() == 1.0  # before the covariance was clamped: astronaut 1 - 5.5e-6
    if min(x.shape[-2:]) >= ms_ssim_min_size():
        assert ms_ssim(x, x).item() == 1.0
    # Faint and moderate noise: SSIM near 1, where float32 rounding matters most. Before the
    # covariance came from var(x - y) and the means from the uncentred images, the worst errors over
    # these photographs and noise levels 0.01, 0.05, 0.2 (3 seeds) were 3.4e-6 (SSIM, astronaut) and
    # 2.1e-6 (MS-SSIM, retina); after, 8.3e-7 and 2.0e-7.
    for sigma in (0.01, 0.05):
        noise = sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
        noisy = (x + noise).clamp(0, 1)
        error = abs(ssim(x, noisy).item() - ssim(x.double(), noisy.double()).item())
        assert error < 1e-6, (sigma, error)
        if min(x.shape[-2:]) >= ms_ssim_min_size():
            error = abs(ms_ssim(x, noisy).item() - ms_ssim(x.double(), noisy.double()).item())
            assert error < 3e-7, (sigma, error)


def test_similarity_never_leaves_its_range_through_rounding():
    """|cs| <= 1 and SSIM <= 1 at every window, also where rounding makes a variance negative."""
    x = _photograph("page")  # a bright page: flat windows whose variance is rounding noise
    y = (x * 0.9 + 0.1).clamp(0, 1)
    for a, b in ((x, x), (x, y), (y, 1 - y)):
        assert ssim_map(a, b).abs().max().item() <= 1.0
        assert ms_ssim_scales(a, b).abs().max().item() <= 1.0


# ---------------------------------------------------------------------------------------------
# Autocast: SSIM and MS-SSIM are computed in float32 whatever autocast asks for
# ---------------------------------------------------------------------------------------------


def _astronaut_noisy(side: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    x = F.avg_pool2d(_photograph("astronaut"), 512 // side)
    return x, (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)


@pytest.mark.parametrize("metric", [ssim, ms_ssim])
def test_autocast_does_not_lower_the_precision(metric):
    x, y = _astronaut_noisy()
    exact = metric(x.double(), y.double()).item()
    plain = metric(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = metric(x, y)
        mixed = metric(x.bfloat16().float(), y)  # a model's output cast back, as a loss sees it
    assert cast.dtype == torch.float32 and cast.item() == plain.item()
    bar = 1e-6 if metric is ssim else 3e-7
    assert abs(cast.item() - exact) < bar  # before: 2.3e-2 (SSIM), 1.8e-2 (MS-SSIM) at 512 x 512
    assert torch.isfinite(mixed)


@pytest.mark.parametrize("loss", [SSIMLoss(), MSSSIMLoss()], ids=["ssim", "ms_ssim"])
def test_autocast_leaves_the_gradient_in_float32(loss):
    x, y = _astronaut_noisy()
    grads = []
    for autocast in (False, True):
        z = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            value = loss(z, y)
            value.backward()  # inside the region on purpose: the backward must not follow it
        grads.append(z.grad)
    assert torch.equal(grads[0], grads[1]) and grads[0].abs().max() > 0


def test_inputs_of_two_dtypes_are_computed_in_the_wider_and_returned_in_it():
    x, y = _astronaut_noisy(64)
    half = ssim(x.bfloat16(), y)
    assert half.dtype == torch.float32
    assert half.item() == ssim(x.bfloat16().float(), y).item()
    assert ssim(x.bfloat16(), y.bfloat16()).dtype == torch.bfloat16  # the inputs' own dtype
    assert ssim(x.double(), y).dtype == torch.float64


def test_loss_modules_check_the_first_call_only_unless_told(batch):
    x, y = batch
    loss = SSIMLoss()
    with pytest.raises(ValueError, match="x must have values in"):
        loss(x * 255, y)
    assert not loss.checked  # a refused call does not count as checked
    loss(x, y)
    assert loss.checked and torch.isfinite(loss(x * 1.01, y))  # trusted from then on
    always = SSIMLoss(check="always")
    always(x, y)
    with pytest.raises(ValueError, match="x must have values in"):
        always(x * 1.5, y)
    with pytest.raises(ValueError, match=r"check must be one of \('first', 'always'\); got 'never'"):
        SSIMLoss(check="never")


# ---------------------------------------------------------------------------------------------
# The analytic backward and the optional compiled pointwise algebra
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("luminance", [True, False], ids=["ssim", "cs"])
def test_analytic_backward_of_the_map_means_passes_gradcheck(batch, luminance):
    """The mean-map Function alone, in float64, both images, per image and channel (N, C) outputs."""
    x, y = batch
    x = x[:2, :, :18, :21].clone().requires_grad_()
    y = y[:2, :, :18, :21].clone().requires_grad_()
    window = gaussian_window(7, 1.5)
    assert torch.autograd.gradcheck(
        lambda a, b: helpers_ssim_kernel.MeanSimilarity.apply(a, b, window, 1e-4, 9e-4, luminance), (x, y)
    )


def test_compile_pointwise_falls_back_to_the_eager_algebra(batch, monkeypatch):
    """Where torch.compile gives a kernel that cannot run (no C++ compiler, say), the values are the
    eager ones and a warning says so; compile_pointwise(False) restores the eager path."""
    x, y = batch
    eager = ssim(x, y).item()

    def broken(function, **options):
        def run(*args):
            raise RuntimeError("no compiler")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    try:
        assert helpers_ssim.compile_pointwise(True)
        z = x.clone().requires_grad_()
        with pytest.warns(RuntimeWarning, match="torch.compile of SSIM's pointwise algebra failed"):
            value = ssim(z, y)
        value.backward()
        assert value.item() == eager and torch.isfinite(z.grad).all()
        assert not helpers_ssim_kernel._compiled  # fell back for good
    finally:
        assert not helpers_ssim.compile_pointwise(False)
    with pytest.raises(ValueError, match="enabled must be True or False; got 'yes'"):
        helpers_ssim.compile_pointwise("yes")


# ---------------------------------------------------------------------------------------------
# CUDA: the same values and gradients as on the CPU (run by benchmarks/gpu_check.sh)
# ---------------------------------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("metric", [ssim, ms_ssim])
def test_cuda_values_and_gradients_equal_the_cpu_ones(metric):
    x, y = _astronaut_noisy()
    values, grads = [], []
    for device in ("cpu", "cuda"):
        z = x.to(device).requires_grad_()
        value = metric(z, y.to(device))
        value.backward()
        values.append(value.item())
        grads.append(z.grad.cpu())
    assert abs(values[0] - values[1]) < 1e-6
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-9)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("metric", [ssim, ms_ssim])
def test_cuda_autocast_keeps_float32_and_its_precision(metric):
    x, y = (t.cuda() for t in _astronaut_noisy())
    exact = metric(x.double(), y.double()).item()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        cast = metric(x, y)
    assert cast.dtype == torch.float32
    assert abs(cast.item() - exact) < (1e-6 if metric is ssim else 3e-7)
