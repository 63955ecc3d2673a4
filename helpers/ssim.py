"""SSIM and MS-SSIM, written from their definitions, with an analytic gradient.

SSIM (Wang, Bovik, Sheikh & Simoncelli 2004, equation 13) compares two images window by window::

    SSIM = l * cs,   l  = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)              (luminance)
                     cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)         (contrast-structure)

with C1 = (k1 L)^2, C2 = (k2 L)^2, L the data range, and the local statistics taken under an
11-tap Gaussian window of sigma 1.5 (notebook 01). The definition used here, and by the reference
implementations it is tested against (scikit-image with ``gaussian_weights=True``,
``use_sample_covariance=False``; Wang's MATLAB ``ssim_index.m``, which ``ssim.m`` wraps with a
downsampling by ``max(1, round(min(M, N) / 256))``):

- valid filtering: a window never leaves the image, so no padding value enters a statistic;
- population (weighted) variances and covariance, through the identities of notebook 01, computed
  after subtracting one constant per image pair (exact algebraically, and it avoids float32
  cancellation), the covariance from the variance of ``x - y`` (see :func:`similarity_terms`), with
  variances clamped at 0 against rounding;
- each channel scored on its own, one value per image and channel = the mean of its SSIM map.

MS-SSIM (Wang, Simoncelli & Bovik 2003) multiplies the mean cs of scales 1..M-1 and the mean SSIM of
scale M, each raised to its weight, halving the images between scales by 2x2 means (an odd last
row or column is averaged with itself, as in MATLAB's ``msssim.m`` and TensorFlow). Negative values
are clipped at 0 before the powers, as TensorFlow does.

Gradients do not go through autograd's record of the five filterings: ``MeanSimilarity`` of
:mod:`helpers.ssim_kernel` builds the three pointwise derivative maps and filters them back in the
forward pass (see ``similarity_terms`` there), so that autograd keeps one gradient map per image and
its backward is a product. That is faster and keeps far less memory.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.local_stats import gaussian_window
from helpers.ssim_kernel import MeanSimilarity, compile_pointwise, similarity_terms

__all__ = [
    "DEFAULT_WEIGHTS",
    "GRADIENT_FLOOR",
    "SMALL_IMAGE_WINDOW",
    "MSSSIMLoss",
    "SSIMLoss",
    "compile_pointwise",
    "gaussian_window",
    "ms_ssim",
    "ms_ssim_min_size",
    "ms_ssim_options_for_size",
    "ms_ssim_scales",
    "ms_ssim_weights_for_size",
    "ssim",
    "ssim_map",
]

#: The five scale weights of Wang, Simoncelli & Bovik (2003), finest scale first.
DEFAULT_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

#: In MS-SSIM the derivative of ``v ** w`` (``w v^(w-1)``, infinite at ``v = 0`` for ``w < 1``) is
#: taken at ``max(v, GRADIENT_FLOOR)``: exact for ``v >= 1e-4``, bounded by ``w * 1e-4^(w-1)`` below.
GRADIENT_FLOOR = 1e-4

#: The window of the small-image policy (:func:`ms_ssim_options_for_size`), in taps.
SMALL_IMAGE_WINDOW = 7

_REDUCTIONS = ("mean", "none")


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_arguments(
    x: Tensor, y: Tensor, data_range: float, window_size: int, sigma: float, k1: float, k2: float,
    reduction: str, check_values: bool = True,
) -> None:
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"{name} must have 4 dimensions (N, C, H, W); got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor; got dtype {t.dtype}")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.device != y.device:
        raise ValueError(f"x and y must be on one device; got {x.device} and {y.device}")
    odd_int = isinstance(window_size, int) and not isinstance(window_size, bool) and window_size % 2 == 1
    if not odd_int or window_size < 1:
        raise ValueError(f"window_size must be an odd positive int; got {window_size!r}")
    if min(x.shape[-2:]) < window_size:
        raise ValueError(
            f"x and y must be at least window_size x window_size = {window_size}x{window_size} pixels; "
            f"got {x.shape[-2]}x{x.shape[-1]}"
        )
    for name, value in (("data_range", data_range), ("sigma", sigma), ("k1", k1), ("k2", k2)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number; got {value!r}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    if check_values:
        _check_values(x, y, data_range)


def _check_values(x: Tensor, y: Tensor, data_range: float) -> None:
    """No NaN, and values in [0, data_range] up to a few roundings of the dtype.

    It reads the extremes back to the host: on a GPU, a synchronisation. Inside a training loop the
    loss modules therefore check their first call only (``check="first"``), which is where a wrong
    convention shows (a Tanh's outputs in [-1, 1], 8-bit values).
    """
    tolerance = data_range * max(1e-6, 4 * torch.finfo(x.dtype).eps)
    for name, t in (("x", x), ("y", y)):
        low, high = (v.item() for v in torch.aminmax(t.detach()))  # NaN propagates to both
        if math.isnan(low) or math.isnan(high):
            raise ValueError(f"{name} contains NaN; SSIM is defined for finite images only")
        if low < -tolerance or high > data_range + tolerance:
            raise ValueError(
                f"{name} must have values in [0, data_range] = [0, {data_range:g}]; got values in "
                f"[{low:.6g}, {high:.6g}]. Pass the range the images are in as data_range "
                f"(255 for 8-bit values), or map them into [0, {data_range:g}] first."
            )


def ms_ssim_min_size(window_size: int = 11, scales: int = len(DEFAULT_WEIGHTS)) -> int:
    """The smallest image side (pixels) for which MS-SSIM with ``scales`` scales is defined.

    The coarsest scale has side ``ceil(side / 2^(scales-1))`` and must hold one window:
    ``(window_size - 1) * 2^(scales - 1) + 1``, i.e. 161 px for 5 scales of an 11-tap window.
    """
    return (window_size - 1) * 2 ** (scales - 1) + 1


def ms_ssim_weights_for_size(
    side: int, window_size: int = 11, weights: Sequence[float] = DEFAULT_WEIGHTS
) -> tuple[float, ...]:
    """The small-image policy: the first scales of ``weights`` that fit ``side``, renormalised to sum 1.

    An image of ``side`` pixels (its smaller side) supports the largest ``M`` with
    ``ms_ssim_min_size(window_size, M) <= side``; the first ``M`` weights are kept and scaled so that
    their sum equals that of ``weights``. E.g. 32 px and 11 taps keep 2 scales; 28 px and 7 taps keep 3.
    Notebook 03 measures the bias of this policy against the 5-scale value.
    """
    if side < window_size:
        raise ValueError(f"side must be at least window_size = {window_size} pixels; got {side}")
    scales = max(m for m in range(1, len(weights) + 1) if ms_ssim_min_size(window_size, m) <= side)
    kept = weights[:scales]
    return tuple(w * sum(weights) / sum(kept) for w in kept)


def ms_ssim_options_for_size(side: int) -> dict:
    """The course's small-image policy for MS-SSIM: keyword arguments for :func:`ms_ssim`.

    Images of at least 161 px get the standard definition (11 taps, 5 scales). Smaller ones keep the
    Gaussian's sigma of 1.5 px but cut the window to 7 taps and keep the scales that fit,
    renormalised: 3 scales for 25-48 px (CIFAR's 32, Fashion-MNIST's 28), 4 for 49-96, 5 for
    97-160. It is a convention, not a measured optimum: notebook 03's factorial (taps x scales, pairs
    downsampled to 28-128 px) found that no substitute ranks small images as the 5-scale value of
    the large image does, single-scale SSIM no worse than this policy. It keeps the name honest (a
    loss called MS-SSIM still compares several scales); every table says which definition it used.
    """
    if side >= ms_ssim_min_size(11, len(DEFAULT_WEIGHTS)):
        return {"window_size": 11, "weights": DEFAULT_WEIGHTS}
    return {"window_size": SMALL_IMAGE_WINDOW, "weights": ms_ssim_weights_for_size(side, SMALL_IMAGE_WINDOW)}


def _compute_dtype(x: Tensor, y: Tensor) -> torch.dtype:
    """float64 if either image is float64, else float32 (float16 and bfloat16 are computed in float32)."""
    return torch.float64 if torch.float64 in (x.dtype, y.dtype) else torch.float32


def autocast_off(device: torch.device):
    """A context in which autocast is off on ``device``.

    Autocast would run the filtering in bfloat16 or float16, whose 8 or 11 bits of mantissa cost SSIM
    up to 2e-2 on a 512 x 512 photograph; the statistics need float32 at least.
    """
    try:
        return torch.autocast(device.type, enabled=False)
    except RuntimeError:  # a device type autocast does not know: there is nothing to switch off
        return contextlib.nullcontext()


def _constants(
    x: Tensor, y: Tensor, data_range: float, window_size: int, sigma: float, k1: float, k2: float
) -> tuple[torch.dtype, Tensor, float, float]:
    """The compute dtype, the 1-D window in it, and C1 = (k1 L)^2, C2 = (k2 L)^2."""
    dtype = _compute_dtype(x, y)
    window = _window(window_size, float(sigma), dtype, x.device)
    return dtype, window, (k1 * data_range) ** 2, (k2 * data_range) ** 2


# Made once per device: a copy from the host on every call would make every call wait for the device.
# The cached tensors are never modified in place.
@functools.lru_cache(maxsize=64)
def _window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    return gaussian_window(size, sigma, dtype=dtype, device=device)


@functools.lru_cache(maxsize=64)
def on_device(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    return torch.tensor(values, dtype=torch.float64).to(dtype=dtype, device=device)


def _reduce(per_channel: Tensor, reduction: str) -> Tensor:
    per_image = per_channel.mean(dim=1)  # (N,)
    return per_image.mean() if reduction == "mean" else per_image


# --------------------------------------------------------------------------------------------
# SSIM
# --------------------------------------------------------------------------------------------


def ssim(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    reduction: str = "mean",
    *,
    check_values: bool = True,
) -> Tensor:
    """The structural similarity of ``x`` and ``y``.

    ``x``, ``y``: ``(N, C, H, W)`` with values in ``[0, data_range]``, ``H, W >= window_size``, any
    ``C``; float16, bfloat16, float32 or float64, not necessarily the same. Computed in float64 if
    either is float64, else in float32, whatever autocast is active.
    Each image and channel is scored by the mean of its SSIM map; channels are averaged.
    Returns a scalar in ``[-1, 1]`` (``reduction="mean"``, the mean over images) or one value per
    image, ``(N,)`` (``reduction="none"``), in the inputs' dtype (the wider of the two).
    Differentiable in ``x`` and ``y``. ``check_values=False`` skips the check of the range and of
    NaN, which reads back from the device (see :class:`SSIMLoss`).
    """
    _check_arguments(x, y, data_range, window_size, sigma, k1, k2, reduction, check_values)
    dtype, window, c1, c2 = _constants(x, y, data_range, window_size, sigma, k1, k2)
    with autocast_off(x.device):
        per_channel = MeanSimilarity.apply(x.to(dtype), y.to(dtype), window, c1, c2, True)
        return _reduce(per_channel, reduction).to(torch.promote_types(x.dtype, y.dtype))


def ssim_map(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """The SSIM map: ``(N, C, H - k + 1, W - k + 1)``, one value in ``[-1, 1]`` per window position.

    Same inputs, definition, precision and output dtype as :func:`ssim`, whose per-channel values are
    this map's means. Differentiable through autograd.
    """
    _check_arguments(x, y, data_range, window_size, sigma, k1, k2, "none")
    dtype, window, c1, c2 = _constants(x, y, data_range, window_size, sigma, k1, k2)
    with autocast_off(x.device):
        similarity, _, _ = similarity_terms(x.to(dtype), y.to(dtype), window, c1, c2, luminance=True)
        return similarity.to(torch.promote_types(x.dtype, y.dtype))


# --------------------------------------------------------------------------------------------
# MS-SSIM
# --------------------------------------------------------------------------------------------


class _ClippedPower(torch.autograd.Function):
    """``max(v, 0) ** w`` whose derivative is taken at ``max(v, GRADIENT_FLOOR)`` (0 where v <= 0)."""

    @staticmethod
    def forward(ctx, values, weights):
        ctx.save_for_backward(values, weights)
        return values.clamp_min(0) ** weights

    @staticmethod
    def backward(ctx, grad):
        values, weights = ctx.saved_tensors
        slope = weights * values.clamp_min(GRADIENT_FLOOR) ** (weights - 1)
        return grad * torch.where(values > 0, slope, torch.zeros_like(slope)), None


def _halve(x: Tensor) -> Tensor:
    """2x2 means; an odd last row or column is averaged with itself. ``(N, C, ceil(H/2), ceil(W/2))``."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    # = F.avg_pool2d(x, 2), the same sums; measured about 1.4x faster forward + backward on a CPU
    rows = x[..., 0::2, :] + x[..., 1::2, :]
    return (rows[..., 0::2] + rows[..., 1::2]) * 0.25


def _check_scales(x: Tensor, window_size: int, scales: int) -> None:
    smallest = ms_ssim_min_size(window_size, scales)
    side = min(x.shape[-2:])
    if side < smallest:
        raise ValueError(
            f"MS-SSIM with {scales} scales and window_size={window_size} needs images of at least "
            f"{smallest}x{smallest} pixels; got {x.shape[-2]}x{x.shape[-1]}. Options: "
            f"ms_ssim(x, y, **ms_ssim_options_for_size({side})), the course's policy (a 7-tap window "
            f"and the scales that fit, notebook 03); weights=ms_ssim_weights_for_size({side}, "
            f"{window_size}) (fewer scales, renormalised); or pad the images."
        )


def _scale_values(x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float, scales: int) -> Tensor:
    values = []
    for scale in range(scales):
        if scale:
            x, y = _halve(x), _halve(y)
        values.append(MeanSimilarity.apply(x, y, window, c1, c2, scale == scales - 1))
    return torch.stack(values)


def ms_ssim_scales(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    scales: int = len(DEFAULT_WEIGHTS),
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """The per-scale factors of MS-SSIM before their powers: ``(scales, N, C)``.

    Rows ``0 .. scales-2`` are the mean cs maps of scales 1..M-1, the last row the mean SSIM map of
    scale M (images halved ``j - 1`` times at scale ``j``); each in ``[-1, 1]``, not clipped.
    Inputs, precision and output dtype as for :func:`ms_ssim`.
    """
    _check_arguments(x, y, data_range, window_size, sigma, k1, k2, "none")
    if isinstance(scales, bool) or not isinstance(scales, int) or scales < 1:
        raise ValueError(f"scales must be a positive int; got {scales!r}")
    _check_scales(x, window_size, scales)
    dtype, window, c1, c2 = _constants(x, y, data_range, window_size, sigma, k1, k2)
    with autocast_off(x.device):
        values = _scale_values(x.to(dtype), y.to(dtype), window, c1, c2, scales)
        return values.to(torch.promote_types(x.dtype, y.dtype))


def ms_ssim(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    k1: float = 0.01,
    k2: float = 0.03,
    reduction: str = "mean",
    *,
    check_values: bool = True,
) -> Tensor:
    """The multi-scale structural similarity of ``x`` and ``y``.

    ``x``, ``y``: ``(N, C, H, W)`` as for :func:`ssim`, with ``H, W >= ms_ssim_min_size(window_size,
    len(weights))`` (161 px for the default 5 scales and 11 taps). ``weights``: one exponent per
    scale, finest first. Per image and channel::

        MS-SSIM = prod_{j<M} max(cs_j, 0)^w_j * max(SSIM_M, 0)^w_M

    with ``cs_j``, ``SSIM_M`` the map means at scale ``j`` (:func:`ms_ssim_scales`); channels are then
    averaged. Returns a scalar in ``[0, 1]`` (``"mean"``) or ``(N,)`` (``"none"``). Precision, output
    dtype and ``check_values`` as for :func:`ssim`.
    """
    _check_arguments(x, y, data_range, window_size, sigma, k1, k2, reduction, check_values)
    if (
        isinstance(weights, (str, bytes))
        or len(weights) < 1
        or not all(isinstance(w, (int, float)) and w > 0 for w in weights)
    ):
        raise ValueError(f"weights must be a non-empty sequence of positive numbers; got {weights!r}")
    _check_scales(x, window_size, len(weights))
    dtype, window, c1, c2 = _constants(x, y, data_range, window_size, sigma, k1, k2)
    exponents = on_device(tuple(float(w) for w in weights), dtype, x.device)[:, None, None]
    with autocast_off(x.device):
        values = _scale_values(x.to(dtype), y.to(dtype), window, c1, c2, len(weights))  # (M, N, C)
        per_channel = _ClippedPower.apply(values, exponents).prod(dim=0)
        return _reduce(per_channel, reduction).to(torch.promote_types(x.dtype, y.dtype))


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------


_CHECKS = ("first", "always")


class _SimilarityLoss(nn.Module):
    """``1 - similarity(x, y, **options)``, checking the range of the values as ``check`` says.

    ``check="first"`` (the default) checks the first call's values and trusts later ones: the check
    reads back from the device, and a training loop that waited for it at every step would lose the
    GPU's head start; a wrong convention shows on the first batch. ``"always"`` checks every call.
    """

    def __init__(self, similarity, options: dict, check: str) -> None:
        super().__init__()
        if check not in _CHECKS:
            raise ValueError(f"check must be one of {_CHECKS}; got {check!r}")
        self.similarity, self.options, self.check = similarity, options, check
        self.checked = False

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        check_values = self.check == "always" or not self.checked
        value = self.similarity(x, y, **self.options, check_values=check_values)
        self.checked = True
        return 1 - value

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in {**self.options, "check": self.check}.items())


class SSIMLoss(_SimilarityLoss):
    """``1 - ssim(x, y)``: 0 for identical images, at most 2. Arguments as :func:`ssim`; ``check``:
    ``"first"`` or ``"always"`` (see :class:`_SimilarityLoss`)."""

    def __init__(self, data_range: float = 1.0, window_size: int = 11, sigma: float = 1.5,
                 k1: float = 0.01, k2: float = 0.03, reduction: str = "mean", check: str = "first") -> None:
        options = dict(data_range=data_range, window_size=window_size, sigma=sigma, k1=k1, k2=k2,
                       reduction=reduction)
        super().__init__(ssim, options, check)


class MSSSIMLoss(_SimilarityLoss):
    """``1 - ms_ssim(x, y)``: in ``[0, 1]``, 0 for identical images. Arguments as :func:`ms_ssim`;
    ``check`` as for :class:`SSIMLoss`."""

    def __init__(self, data_range: float = 1.0, window_size: int = 11, sigma: float = 1.5,
                 weights: Sequence[float] = DEFAULT_WEIGHTS, k1: float = 0.01, k2: float = 0.03,
                 reduction: str = "mean", check: str = "first") -> None:
        options = dict(data_range=data_range, window_size=window_size, sigma=sigma,
                       weights=tuple(weights), k1=k1, k2=k2, reduction=reduction)
        super().__init__(ms_ssim, options, check)
