"""The write-ups' faulty formulas, re-implemented from their descriptions so their effects can be measured.

Nothing here is meant for use as a loss or a metric: :mod:`helpers.ssim` is the correct version.

- :func:`collection_ms_ssim`, the MS-SSIM of a popular VAE collection: each fault can be switched off
  on its own, so a notebook can measure what each one changes, and with every fault off the result
  equals :func:`helpers.ssim.ms_ssim` (tested).
- :func:`blog_ssim_map` and :func:`blog_ssim`, the zero-padded SSIM loss of the post "SSIM Loss を
  PyTorch で実装" (notebook 02), which the CVAE write-up "SSIM Lossを用いてConditionalVAEの損失関数を
  定義する" reuses with one channel (notebook 05); as the post computes it, faults included.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from helpers.local_stats import gaussian_window
from helpers.ssim import DEFAULT_WEIGHTS


def flipped_gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """The 1-D window of the VAE collection's MSSIM: ``exp(+d^2 / 2 sigma^2)``, normalised (float64).

    The sign of the exponent is flipped, so the weights *grow* away from the centre: for 11 taps and
    sigma 1.5 each end tap holds 42 % of the 1-D weight and the four corner pixels of the 2-D window
    72 % of the total.
    """
    offsets = torch.arange(size, dtype=torch.float64) - size // 2
    weights = torch.exp(offsets**2 / (2 * sigma**2))
    return weights / weights.sum()


def collection_ms_ssim(
    x: Tensor,
    y: Tensor,
    *,
    window_size: int = 11,
    sigma: float = 1.5,
    flipped_window: bool = True,
    zero_padding: bool = True,
    batch_means: bool = True,
    last_scale_power: bool = True,
    clip: bool = False,
    per_scale: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """MS-SSIM as the popular VAE collection's ``MSSIM`` class computes it, fault by fault.

    ``x``, ``y``: ``(N, C, H, W)`` in [0, 1]; data range 1, five scales with the standard weights, 2x2
    average pooling between scales. The faults, all on by default as in the original:

    - ``flipped_window``: :func:`flipped_gaussian_window` instead of the Gaussian;
    - ``zero_padding``: "same" filtering with ``window_size // 2`` zeros around the image instead of
      valid filtering; at 64 x 64 the fifth scale is a 4 x 4 image filtered with an 11 x 11 window;
    - ``batch_means``: each scale's cs and SSIM are means over the whole batch (and channels), so the
      batch gets one value, not one per image;
    - ``last_scale_power``: ``prod(cs[:-1]**w[:-1] * ssim[-1]**w[-1])`` multiplies the last scale's
      factor into each of four terms: SSIM_5 is raised to ``4 w_5`` and no longer to ``w_5``;
    - ``clip=False``: negative cs raised to a fractional power gives NaN (the original does not clip).

    Returns a scalar if ``batch_means`` else one value per image, ``(N,)``: the similarity, not the loss
    (the original returns ``1 -`` this). ``per_scale=True`` returns the factors before the powers
    instead: ``(cs, ssim)``, each ``(5,)`` or ``(5, N, C)``.
    """
    c = x.shape[1]
    taps = (flipped_gaussian_window if flipped_window else gaussian_window)(window_size, sigma).to(x.dtype)
    window = torch.outer(taps, taps).expand(c, 1, window_size, window_size)
    padding = window_size // 2 if zero_padding else 0
    c1, c2 = 0.01**2, 0.03**2
    weights = torch.tensor(DEFAULT_WEIGHTS, dtype=x.dtype)
    mean_dims = (0, 1, 2, 3) if batch_means else (2, 3)  # one value per scale, or per image and channel

    def local_mean(t):
        return F.conv2d(t, window, padding=padding, groups=c)

    ssims, css = [], []
    for scale in range(len(DEFAULT_WEIGHTS)):
        if scale:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        mu_x, mu_y = local_mean(x), local_mean(y)
        var_x = local_mean(x * x) - mu_x**2
        var_y = local_mean(y * y) - mu_y**2
        cov = local_mean(x * y) - mu_x * mu_y
        cs_map = (2 * cov + c2) / (var_x + var_y + c2)
        ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
        css.append(cs_map.mean(dim=mean_dims))
        ssims.append(ssim_map.mean(dim=mean_dims))
    cs, sim = torch.stack(css), torch.stack(ssims)  # (5,) or (5, N, C)
    if per_scale:
        return cs, sim
    if clip:
        cs, sim = cs.clamp_min(0), sim.clamp_min(0)
    w = weights.view(-1, *([1] * (cs.dim() - 1)))
    powered_cs, powered_ssim = cs**w, sim**w
    if last_scale_power:
        value = torch.prod(powered_cs[:-1] * powered_ssim[-1], dim=0)
    else:
        value = torch.prod(powered_cs[:-1], dim=0) * powered_ssim[-1]
    return value if batch_means else value.mean(dim=1)


# The blog's constants: C1 = (k1 L)^2 and C2 = (k2 L)^2 with L = 1, whatever the data.
_BLOG_C1, _BLOG_C2 = 0.01**2, 0.03**2


def blog_window(window_size: int = 11, sigma: float = 1.5) -> Tensor:
    """The 2-D Gaussian window of the SSIM blog post: ``(window_size, window_size)``, float32, sums to 1.

    Built as the post builds it: offsets ``(1 - k)/2 .. (k - 1)/2`` in float32, taps
    ``exp(-(d / sigma)^2 / 2)`` normalised to sum 1, and their outer product, all in float32 (the
    course's :func:`helpers.local_stats.gaussian_window` is float64).
    """
    offsets = torch.arange((1 - window_size) / 2, (1 + window_size) / 2, dtype=torch.float32)
    taps = torch.exp(-((offsets / sigma) ** 2) / 2)
    taps = taps / taps.sum()
    return torch.outer(taps, taps)


@functools.lru_cache(maxsize=16)
def _blog_window_on(window_size: int, sigma: float, device: torch.device) -> Tensor:
    """:func:`blog_window` as ``(1, 1, k, k)`` on ``device``, copied there once. Never modified in place."""
    return blog_window(window_size, sigma)[None, None].to(device)


def blog_ssim_map(
    x: Tensor,
    y: Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    channels: int = 3,
    eps: float = 1e-12,
) -> Tensor:
    """The SSIM map of the blog post "SSIM Loss を PyTorch で実装": ``(N, C, H, W)``, the inputs' size.

    ``x``, ``y``: ``(N, channels, H, W)``, float32 (or whatever autocast makes of a float32 window);
    any values: there is no range check, and the constants assume a data range of 1 whatever the data.
    The post's formula, faults included:

    - "same" filtering with ``window_size // 2`` zeros around the image (``padding=k // 2``): every
      window within ``k // 2`` pixels of the border averages zeros that are in neither image;
    - the window is float32 (:func:`blog_window`) and expanded to ``channels`` copies with
      ``groups=channels``, fixed in advance (3 in the post, 1 in the CVAE write-up): an input with
      another number of channels, or a float64 input, fails inside ``F.conv2d`` with torch's
      RuntimeError, as in the original;
    - uncentred moments, ``var = E[x^2] - E[x]^2`` and ``cov = E[xy] - E[x]E[y]``, unclamped;
    - ``C1 = 0.01^2`` and ``C2 = 0.03^2`` (data range 1), and ``eps`` added to the denominator::

        map = (2 mu_x mu_y + C1)(2 cov + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2) + eps)

    Away from the border (windows that never reach the padding) it equals
    :func:`helpers.ssim.ssim_map` up to float32 rounding. Differentiable through autograd.
    """
    window = _blog_window_on(window_size, sigma, x.device).expand(channels, 1, window_size, window_size)

    def local_mean(t: Tensor) -> Tensor:
        return F.conv2d(t, window, padding=window_size // 2, groups=channels)

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x * mu_x
    var_y = local_mean(y * y) - mu_y * mu_y
    cov = local_mean(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + _BLOG_C1) * (2 * cov + _BLOG_C2)
    denominator = (mu_x**2 + mu_y**2 + _BLOG_C1) * (var_x + var_y + _BLOG_C2)
    return numerator / (denominator + eps)


def blog_ssim(
    x: Tensor,
    y: Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    channels: int = 3,
    eps: float = 1e-12,
) -> Tensor:
    """The blog post's SSIM: the mean of :func:`blog_ssim_map` over the batch, channels and pixels, one
    scalar for the whole batch. The post's loss (and the CVAE write-up's, with ``channels=1``) is
    ``1 - blog_ssim(x, y)``."""
    return blog_ssim_map(x, y, window_size, sigma, channels, eps).mean()
