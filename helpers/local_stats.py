"""Local (windowed) statistics of images: means, variances and covariances.

SSIM compares images through the local statistics under a Gaussian window ``w`` whose weights sum
to 1 (notebook 01, equations 1-3):

    mu_x     = sum w x                      (local mean)
    sigma_x2 = sum w x^2 - mu_x^2           (local variance, the "variance identity")
    sigma_xy = sum w x y - mu_x mu_y        (local covariance)

:func:`local_moments` computes them with five separable convolutions, the way SSIM does;
:func:`sliding_window_moments` computes them from the definition, one window at a time, in float64,
and serves as the reference.

All filtering is "valid": a window never leaves the image, so an ``H x W`` image with a ``k``-tap
window gives ``(H - k + 1) x (W - k + 1)`` maps and no padding value ever enters a statistic.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


class LocalMoments(NamedTuple):
    """Local statistics, each of shape ``(N, C, H - k + 1, W - k + 1)``."""

    mean_x: Tensor
    mean_y: Tensor
    var_x: Tensor
    var_y: Tensor
    cov_xy: Tensor


def gaussian_window(
    size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float64, device=None
) -> Tensor:
    """A 1-D Gaussian window of ``size`` taps, standard deviation ``sigma`` (pixels), summing to 1.

    Built in float64 and only then cast to ``dtype``, so its float32 sum is within one rounding of 1.
    The 2-D window is the outer product of this one with itself (the Gaussian is separable).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd positive int; got {size!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be a positive number of pixels; got {sigma!r}")
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-(offsets**2) / (2 * sigma**2))
    return (weights / weights.sum()).to(dtype=dtype, device=device)


def _check_images(name: str, x: Tensor, window_size: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W); got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")
    if min(x.shape[-2:]) < window_size:
        raise ValueError(
            f"{name} must be at least {window_size}x{window_size} pixels for a {window_size}-tap "
            f"window; got {x.shape[-2]}x{x.shape[-1]}"
        )


def filter_valid(x: Tensor, window: Tensor) -> Tensor:
    """Filter every channel of ``x`` with the separable window ``window`` (1-D, ``k`` taps).

    ``x``: ``(N, C, H, W)``; returns ``(N, C, H - k + 1, W - k + 1)``. Batch and channels are
    folded into one axis and filtered by a (1, k) then a (k, 1) depthwise convolution.
    """
    if window.dim() != 1:
        raise ValueError(f"window must be 1-D (k taps); got shape {tuple(window.shape)}")
    _check_images("x", x, window.numel())
    taps = window.to(dtype=x.dtype, device=x.device)
    return _separable(x, taps, taps, padding=0)


def filter_full(x: Tensor, window: Tensor, scale: Tensor | None = None) -> Tensor:
    """The adjoint (transpose) of :func:`filter_valid`, each channel optionally multiplied by a number.

    ``x``: ``(N, C, H', W')``; ``window``: 1-D, ``k`` taps; ``scale``: ``(N, C)`` or None (1).
    Returns ``(N, C, H' + k - 1, W' + k - 1)``: every value of ``x``, times its channel's ``scale``,
    spread back over the ``k x k`` pixels its window covered ("full" filtering with the flipped window).
    So ``sum(filter_valid(a, w) * b) == sum(a * filter_full(b, w))`` for any ``a``, ``b``: the backward
    pass of a valid filtering. The zero border is the convolution's own padding, never a buffer, and
    ``scale`` is folded into the row taps (one ``k``-tap filter per channel): both are free.
    """
    if window.dim() != 1:
        raise ValueError(f"window must be 1-D (k taps); got shape {tuple(window.shape)}")
    _check_images("x", x, 1)
    taps = rows = window.flip(0).to(dtype=x.dtype, device=x.device)
    if scale is not None:
        if tuple(scale.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"scale must have shape (N, C) = {tuple(x.shape[:2])}; got {tuple(scale.shape)}"
            )
        rows = scale.to(x.dtype).reshape(-1, 1) * taps  # (N C, k): one filter per channel
    return _separable(x, rows, taps, padding=window.numel() - 1)


def _separable(x: Tensor, rows: Tensor, cols: Tensor, padding: int) -> Tensor:
    """``x`` ``(N, C, H, W)`` filtered by a (1, k) then a (k, 1) depthwise convolution, zero-padded by
    ``padding`` pixels on each side: ``(N, C, H - k + 1 + 2 padding, W - k + 1 + 2 padding)``.

    ``rows``: ``(k,)``, one filter for all channels, or ``(N C, k)``, one each; ``cols``: ``(k,)``. Batch and
    channels are folded into one axis of ``N C`` groups, oneDNN's depthwise kernel: a convolution of
    one channel and one group falls back to a path about ten times slower.
    """
    n, c, h, w = x.shape
    groups = n * c
    k = cols.numel()
    row_filters = rows.view(-1, 1, 1, k).expand(groups, 1, 1, k)
    col_filters = cols.view(1, 1, k, 1).expand(groups, 1, k, 1)
    out = x.reshape(1, groups, h, w)
    if padding:  # measured: oneDNN's row pass is faster on a padded copy, its column pass on its own padding
        out = F.pad(out, (padding, padding))
    out = F.conv2d(out, row_filters, groups=groups)
    out = F.conv2d(out, col_filters, padding=(padding, 0), groups=groups)
    return out.view(n, c, *out.shape[-2:])


def local_moments(
    x: Tensor, y: Tensor | None = None, window: Tensor | None = None, centre: bool = True
) -> LocalMoments:
    """Local means, variances and covariance of ``x`` and ``y`` by the identities (1)-(3).

    ``x``, ``y``: ``(N, C, H, W)``, any range; ``y`` defaults to ``x``. ``window``: 1-D, summing to
    1; defaults to :func:`gaussian_window` (11 taps, sigma 1.5).

    ``centre=True`` subtracts one constant per image (the mean of ``x`` and ``y`` together) before
    squaring. Variances and covariances do not change under a shift, but ``E[x^2]`` and ``mu^2`` get
    small, so their difference loses far fewer digits in float32 (notebook 01, section 4).
    The returned means are those of the original images.
    """
    y = x if y is None else y
    if window is None:
        _check_images("x", x, 1)  # before x.dtype is read
        window = gaussian_window(dtype=x.dtype, device=x.device)
    _check_images("x", x, window.numel())
    _check_images("y", y, window.numel())
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    shift = torch.zeros((), dtype=x.dtype, device=x.device)
    if centre:
        shift = (x.mean(dim=(1, 2, 3), keepdim=True) + y.mean(dim=(1, 2, 3), keepdim=True)) / 2
    xc, yc = x - shift, y - shift
    n, c, h, w = x.shape
    stacked = torch.cat([xc, yc, xc * xc, yc * yc, xc * yc], dim=1)  # (N, 5C, H, W)
    filtered = filter_valid(stacked, window)
    mu_x, mu_y, e_xx, e_yy, e_xy = filtered.split(c, dim=1)
    return LocalMoments(
        mean_x=mu_x + shift,
        mean_y=mu_y + shift,
        var_x=e_xx - mu_x * mu_x,
        var_y=e_yy - mu_y * mu_y,
        cov_xy=e_xy - mu_x * mu_y,
    )


def sliding_window_moments(x: np.ndarray, y: np.ndarray, window2d: np.ndarray) -> LocalMoments:
    """The same statistics from their definitions, window by window, in float64 (the reference).

    ``x``, ``y``: 2-D arrays ``(H, W)``; ``window2d``: ``(k, k)`` weights summing to 1. For each
    window position it takes the ``k x k`` patch, its weighted mean, and the weighted mean of the
    squared deviations from it, ``sum w (x - mu_x)^2``: two passes, no identity used. Returns
    float64 tensors of shape ``(1, 1, H - k + 1, W - k + 1)``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(window2d, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"x and y must be 2-D arrays of one shape; got {x.shape} and {y.shape}")
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] > min(x.shape):
        raise ValueError(f"window2d must be square and fit in the image; got shape {w.shape}")
    k = w.shape[0]
    px = np.lib.stride_tricks.sliding_window_view(x, (k, k))  # (H-k+1, W-k+1, k, k), no copy
    py = np.lib.stride_tricks.sliding_window_view(y, (k, k))
    mu_x = np.einsum("ijkl,kl->ij", px, w)
    mu_y = np.einsum("ijkl,kl->ij", py, w)
    dx = px - mu_x[:, :, None, None]
    dy = py - mu_y[:, :, None, None]
    var_x = np.einsum("ijkl,kl->ij", dx * dx, w)
    var_y = np.einsum("ijkl,kl->ij", dy * dy, w)
    cov_xy = np.einsum("ijkl,kl->ij", dx * dy, w)
    maps = (mu_x, mu_y, var_x, var_y, cov_xy)  # each (H-k+1, W-k+1)
    return LocalMoments(*(torch.from_numpy(np.ascontiguousarray(m))[None, None] for m in maps))
