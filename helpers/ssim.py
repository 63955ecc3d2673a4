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
  cancellation), the covariance from the variance of ``x - y`` (see :func:`_similarity_terms`), with
  variances clamped at 0 against rounding;
- each channel scored on its own, one value per image and channel = the mean of its SSIM map.

MS-SSIM (Wang, Simoncelli & Bovik 2003) multiplies the mean cs of scales 1..M-1 and the mean SSIM of
scale M, each raised to its weight, halving the images between scales by 2x2 means (an odd last
row or column is averaged with itself, as in MATLAB's ``msssim.m`` and TensorFlow). Negative values
are clipped at 0 before the powers, as TensorFlow does.

Gradients do not go through autograd's record of the five filterings: :class:`_MeanSimilarity`
builds the three pointwise derivative maps and filters them back in the forward pass (see
:func:`_similarity_terms`), so that autograd keeps one gradient map per image and its backward is a
product. That is faster and keeps far less memory.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.local_stats import filter_full, filter_valid, gaussian_window

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


# --------------------------------------------------------------------------------------------
# The similarity maps and their derivatives
# --------------------------------------------------------------------------------------------


def _moment_stack(x: Tensor, y: Tensor, shift: Tensor) -> Tensor:
    """``[x, y, xc^2, yc^2, (x - y)^2]`` stacked ``(N, 5, C, H, W)``; ``xc = x - shift``, ``yc = y - shift``.

    The first two are the images themselves: their local means keep their relative precision where
    the images are dark (a mean of ``xc`` plus ``shift`` would not). Outside autograd (the forward of
    :class:`_MeanSimilarity`) the five maps are written straight into one buffer; under autograd
    (:func:`ssim_map`) they are stacked, which autograd can follow.
    """
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        xc, yc = x - shift, y - shift
        return torch.stack([x, y, xc * xc, yc * yc, (x - y) ** 2], dim=1)
    stack = x.new_empty(x.shape[0], 5, *x.shape[1:])
    stack[:, 0].copy_(x)
    stack[:, 1].copy_(y)
    torch.sub(x, shift, out=stack[:, 2]).square_()
    torch.sub(y, shift, out=stack[:, 3]).square_()
    torch.sub(x, y, out=stack[:, 4]).square_()
    return stack


def _similarity_terms(
    x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float, luminance: bool,
    wrt: tuple[bool, bool] = (False, False),
) -> tuple[Tensor, Tensor | None, Tensor]:
    """The SSIM map (or the cs map when ``luminance`` is False) and what its backward needs.

    ``x``, ``y``: ``(N, C, H, W)``. Returns ``(similarity, coefficients, shift)``: the map
    ``(N, C, H', W')`` with ``H' = H - k + 1``; the pointwise derivative maps of the similarity with
    respect to the local statistics of the images ``wrt`` asks for (x, y), stacked ``(N, K, C, H', W')``
    (``None`` if neither); and ``shift`` ``(N, 1, 1, 1)``, the constant subtracted from both images
    (``xc = x - shift``, ``yc = y - shift``) before the moments are taken.

    The map depends on the images only through ``mu = G xc``, ``E[xc^2] = G xc^2`` and
    ``E[xc yc] = G (xc yc)`` (``G`` the valid filtering), so with ``D_m = d(map)/d(statistic m)``
    the gradient of ``sum(map * g)`` is::

        d/dx = G^T(g D_mux) + 2 xc G^T(g D_exx) + yc G^T(g D_exy)            (K = 3: mux, exx, exy)
        d/dy = G^T(g D_muy) + 2 yc G^T(g D_eyy) + xc G^T(g D_exy)            (K = 3: muy, eyy, exy)

    and both together stack ``[mux, exx, exy, muy, eyy]`` (K = 5). (The forward evaluates the same
    function through ``E[(x - y)^2] = E[xc^2] + E[yc^2] - 2 E[xc yc]``, which rounds better; the
    derivatives are taken in the three statistics above.) The five filterings run in one stacked
    pass (:func:`~helpers.local_stats.filter_valid`); the pointwise algebra after them is
    :func:`_pointwise_terms`, compiled into one kernel where :func:`compile_pointwise` asks for it.
    """
    n, c, h, w = x.shape
    k = window.numel()
    shift = (x.mean(dim=(1, 2, 3), keepdim=True) + y.mean(dim=(1, 2, 3), keepdim=True)) / 2
    stack = _moment_stack(x, y, shift)  # (N, 5, C, H, W): x, y, xc^2, yc^2, (x - y)^2
    stats = filter_valid(stack.view(n, 5 * c, h, w), window).view(n, 5, c, h - k + 1, w - k + 1)
    del stack
    terms = _kernel("terms") if not torch.is_grad_enabled() else _pointwise_terms
    similarity, coefficients = terms(stats, shift, c1, c2, luminance, wrt)
    return similarity, coefficients, shift


def _pointwise_terms(
    stats: Tensor, shift: Tensor, c1: float, c2: float, luminance: bool, wrt: tuple[bool, bool]
) -> tuple[Tensor, Tensor | None]:
    """From the five local moments ``(N, 5, C, H', W')`` (of ``x``, ``y``, ``xc^2``, ``yc^2``,
    ``(x - y)^2``) to the similarity map ``(N, C, H', W')`` and the derivative maps (see
    :func:`_similarity_terms`). Pointwise only, so that ``torch.compile`` can fuse it into one loop.
    """
    ux, uy, exx, eyy, edd = stats.unbind(1)  # local moments, (N, C, H', W') each
    mx, my = ux - shift, uy - shift  # the local means of xc and yc
    # The covariance comes from the variance of the difference, 2 cov = var_x + var_y - var_(x-y),
    # so cs = (b2 - var_(x-y)) / b2 with b2 = var_x + var_y + C2. For images that are close, as a
    # trained model's output is to its target, (x - y)^2 is small and its local mean keeps far more
    # digits in float32 than E[xc yc] - mu_x mu_y, whose two terms nearly cancel (tests: the worst
    # float32 error over 18 photographs x 3 noise levels x 3 seeds fell from 3.4e-6 to 8.3e-7 for
    # SSIM and from 2.1e-6 to 2.0e-7 for MS-SSIM, together with the uncentred means).
    # Rounding can give a variance below 0, or var_(x-y) beyond 2 (var_x + var_y), bounds the true
    # statistics never break (the second is |cov| <= (var_x + var_y) / 2, from Cauchy-Schwarz). Both
    # are clamped: then |cs| <= 1, and identical images (x - y = 0) score exactly 1.
    # (in-place operations only on fresh intermediates: fewer passes over memory when eager)
    var_x = (exx - mx * mx).clamp_min_(0)
    var_y = (eyy - my * my).clamp_min_(0)
    sum_var = var_x + var_y
    mean_d = ux - uy
    var_d = edd - mean_d * mean_d
    held = torch.minimum(var_d.clamp_min(0), 2 * sum_var.detach())  # held fixed where it acts
    b2 = sum_var.add_(c2)
    cs = (b2 - held).div_(b2)
    if luminance:
        # lum = (2 mu_x mu_y + C1) / b1 = (b1 - (mu_x - mu_y)^2) / b1: exactly 1 where mu_x = mu_y,
        # however the compiler groups the sums of b1
        b1 = (ux * ux).add_(uy * uy).add_(c1)
        lum = (b1 - mean_d * mean_d).div_(b1)
        similarity = lum * cs
    else:
        similarity = cs
    if not any(wrt):
        return similarity, None
    # d/d(var) = -similarity / b2 and d/d(cov) = 2 lum / b2; where a clamp acts (through rounding
    # only) the clamped statistic is held fixed: its derivative is taken as 0.
    d_var = (similarity / b2).neg_()
    d_exy = torch.where(held == var_d, (2 * lum if luminance else 2.0) / b2, 0.0)
    # d(lum)/d(u_self) = 2 (u_other - lum u_self) / b1, times cs
    slope = (2 * cs).div_(b1) if luminance else None

    def d_mean(m_self, m_other, d_e, u_self, u_other):
        """d/d(mu_self): var = E[xc^2] - mu^2 and cov = E[xc yc] - mu_x mu_y depend on the means,
        and so does lum."""
        d = (m_self * d_e).mul_(-2).addcmul_(m_other, d_exy, value=-1)
        return d.addcmul_(torch.addcmul(u_other, lum, u_self, value=-1), slope) if luminance else d

    columns = []
    if wrt[0]:
        d_exx = torch.where(var_x > 0, d_var, 0.0)
        columns += [d_mean(mx, my, d_exx, ux, uy), d_exx, d_exy]
    if wrt[1]:
        d_eyy = torch.where(var_y > 0, d_var, 0.0)
        columns += [d_mean(my, mx, d_eyy, uy, ux), d_eyy] + ([] if wrt[0] else [d_exy])
    return similarity, torch.stack(columns, dim=1)


def _input_gradients(
    g: Tensor, x: Tensor, y: Tensor, shift: Tensor, wrt: tuple[bool, bool]
) -> tuple[Tensor | None, Tensor | None]:
    """``d/dx = g_mux + 2 xc g_exx + yc g_exy`` and its mirror for y, from the transposed filterings
    ``g`` ``(N, K, C, H, W)`` (:func:`_similarity_terms`). Pointwise, compiled with it."""
    xc, yc = x - shift, y - shift
    grad_x = grad_y = None
    if wrt[0]:  # g = [mux, exx, exy, (muy, eyy)]
        grad_x = torch.addcmul(g[:, 0], xc, g[:, 1], value=2).addcmul_(yc, g[:, 2])
    if wrt[1]:  # g = [muy, eyy, exy] or [mux, exx, exy, muy, eyy]
        first = 3 if wrt[0] else 0
        grad_y = torch.addcmul(g[:, first], yc, g[:, first + 1], value=2).addcmul_(xc, g[:, 2])
    return grad_x, grad_y


class _MeanSimilarity(torch.autograd.Function):
    """``(x, y) -> (N, C)``: the mean of each image's and channel's SSIM map (or cs map).

    Each output is one number per image and channel, so the incoming gradient is one factor per image
    and channel, and the transposed filtering (linear) can run before it is known: the forward pass
    builds the whole input-gradient map of each mean, ``(N, C, H, W)`` per image asked for (see
    :func:`_similarity_terms`), and the backward only scales it. Autograd keeps that one map per input:
    no statistic, no derivative map and not the images themselves.
    """

    @staticmethod
    def forward(ctx, x, y, window, c1, c2, luminance):
        wrt = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        similarity, coefficients, shift = _similarity_terms(x, y, window, c1, c2, luminance, wrt)
        if any(wrt):
            n, m, c, h, w = coefficients.shape
            g = filter_full(coefficients.view(n, m * c, h, w), window).view(n, m, c, *x.shape[-2:])
            del coefficients
            maps = _kernel("gradients")(g, x, y, shift, wrt)
            ctx.wrt, ctx.positions = wrt, h * w
            ctx.save_for_backward(*(t for t in maps if t is not None))
        return similarity.mean(dim=(2, 3))

    @staticmethod
    def backward(ctx, grad):
        saved = iter(ctx.saved_tensors)
        # d(mean over the H' x W' positions of each image and channel)/d(map) = grad / (H' W')
        factor = (grad / ctx.positions)[:, :, None, None]
        return (*(next(saved) * factor if needed else None for needed in ctx.wrt), None, None, None, None)


# --------------------------------------------------------------------------------------------
# Optional compilation of the pointwise algebra
# --------------------------------------------------------------------------------------------

_EAGER = {"terms": _pointwise_terms, "gradients": _input_gradients}
_compiled: dict[str, object] = {}  # filled by compile_pointwise(True); empty: eager


def compile_pointwise(enabled: bool = True) -> bool:
    """Fuse SSIM's pointwise algebra with ``torch.compile`` (True) or run it eagerly (False, the default).

    Only the algebra between the filterings is compiled (:func:`_pointwise_terms`, about 40 pointwise
    operations on the valid-size maps, and :func:`_input_gradients`); the convolutions and the spatial
    means stay eager. Values equal the eager ones to a few roundings. Each new combination of dtype,
    device and options costs a compilation (seconds on a CPU, shapes are dynamic), so it pays in
    training loops, not for one-off scores. Returns whether compiled kernels are now in use: False
    where ``torch.compile`` is missing; a kernel that fails to compile on its first call (no C++
    compiler, an unsupported backend) warns once and falls back to the eager algebra for good.
    """
    _compiled.clear()
    if not isinstance(enabled, bool):
        raise ValueError(f"enabled must be True or False; got {enabled!r}")
    if enabled and hasattr(torch, "compile"):
        for name, function in _EAGER.items():
            _compiled[name] = _with_fallback(name, torch.compile(function, dynamic=True))
    return bool(_compiled)


def _with_fallback(name: str, compiled):
    def run(*args):
        try:
            return compiled(*args)
        except Exception as error:  # noqa: BLE001 - any failure of the compiler means: run eagerly
            import warnings

            warnings.warn(f"torch.compile of SSIM's pointwise algebra failed ({type(error).__name__}); "
                          f"using the eager algebra", RuntimeWarning, stacklevel=3)
            _compiled.clear()
            return _EAGER[name](*args)

    return run


def _kernel(name: str):
    """The compiled pointwise function ``name`` if :func:`compile_pointwise` is on, else the eager one."""
    return _compiled.get(name, _EAGER[name])


def _compute_dtype(x: Tensor, y: Tensor) -> torch.dtype:
    """float64 if either image is float64, else float32 (float16 and bfloat16 are computed in float32)."""
    return torch.float64 if torch.float64 in (x.dtype, y.dtype) else torch.float32


def _autocast_off(device: torch.device):
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
def _on_device(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
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
    with _autocast_off(x.device):
        per_channel = _MeanSimilarity.apply(x.to(dtype), y.to(dtype), window, c1, c2, True)
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
    with _autocast_off(x.device):
        similarity, _, _ = _similarity_terms(x.to(dtype), y.to(dtype), window, c1, c2, luminance=True)
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
        values.append(_MeanSimilarity.apply(x, y, window, c1, c2, scale == scales - 1))
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
    with _autocast_off(x.device):
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
    exponents = _on_device(tuple(float(w) for w in weights), dtype, x.device)[:, None, None]
    with _autocast_off(x.device):
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
