"""The write-ups' faulty formulas, re-implemented from their descriptions so their effects can be measured.

Nothing here is meant for use as a loss or a metric: :mod:`helpers.ssim` is the correct version. Each
fault can be switched off on its own, so a notebook can measure what each one changes, and with
every fault off the result equals :func:`helpers.ssim.ms_ssim` (tested).
"""

from __future__ import annotations

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
