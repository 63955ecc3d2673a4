"""Generalized divisive normalization (GDN) and its approximate inverse, as image-compression networks use.

GDN (Ballé, Laparra & Simoncelli, "Density modeling of images using a generalized normalization
transformation", ICLR 2016; the form used in their "End-to-end optimized image compression", ICLR
2017) divides each channel by a norm of all channels at the same pixel:

    y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)          (GDN)
    x_i = y_i * sqrt(beta_i + sum_j gamma_ij y_j^2)          (inverse GDN, the decoder's layer)

with ``beta_i > 0`` and ``gamma_ij >= 0``. The inverse is the one-step approximation of the 2017 paper,
not the exact inverse of GDN.

The constraints are kept by a reparametrisation (Ballé, "Efficient nonlinear transforms for lossy image
compression", PCS 2018, section 3): each parameter ``p`` is stored as ``q = sqrt(p + pedestal)`` and
read back as ``p = max(q, sqrt(minimum + pedestal))^2 - pedestal``, with ``pedestal = 2^-36``. The
square keeps ``p`` from crossing zero and makes small values move slowly; the pedestal keeps the
gradient of the square root finite near 0; the lower bound (``minimum`` 1e-6 for ``beta``, 0 for
``gamma``) passes its gradient whenever that gradient would push ``q`` back up, so a parameter that
reached the bound can leave it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.checks import positive_int

PEDESTAL = 2.0**-36  # (2^-18)^2


class _LowerBound(torch.autograd.Function):
    """``max(x, bound)``; its gradient reaches ``x`` where ``x >= bound``, or where a descent step
    (``-grad``) would raise ``x`` towards the bound."""

    @staticmethod
    def forward(ctx, x: Tensor, bound: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        passes = (x >= ctx.bound) | (grad < 0)
        return grad * passes.to(grad.dtype), None


def lower_bound(x: Tensor, bound: float) -> Tensor:
    """``max(x, bound)``, with the gradient of :class:`_LowerBound`."""
    return _LowerBound.apply(x, bound)


def _stored(value: Tensor) -> Tensor:
    """The stored form ``sqrt(value + pedestal)`` of a non-negative ``value``."""
    return torch.sqrt(value + PEDESTAL)


def _read(stored: Tensor, minimum: float) -> Tensor:
    """The value ``max(stored, sqrt(minimum + pedestal))^2 - pedestal``: at least ``minimum``."""
    return lower_bound(stored, (minimum + PEDESTAL) ** 0.5) ** 2 - PEDESTAL


class GDN(nn.Module):
    """GDN over the channels of ``(N, channels, H, W)`` (any ``H, W``; the same shape and dtype out), or
    its approximate inverse with ``inverse=True``. Half-precision inputs are normalised in float32.

    ``beta`` ``(channels,)`` starts at 1 and ``gamma`` ``(channels, channels)`` at ``gamma_init`` times
    the identity, so a fresh layer computes ``x / sqrt(1 + gamma_init x^2)`` per channel. Parameters:
    ``channels^2 + channels`` (16,512 for 128 channels). Read the constrained values from
    :attr:`beta` and :attr:`gamma`; set them with :meth:`set_parameters`.
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1) -> None:
        super().__init__()
        positive_int("channels", channels)
        if not beta_min > 0:
            raise ValueError(f"beta_min must be > 0; got {beta_min!r}")
        if not gamma_init >= 0:
            raise ValueError(f"gamma_init must be >= 0; got {gamma_init!r}")
        self.channels, self.inverse, self.beta_min = channels, bool(inverse), float(beta_min)
        self.beta_stored = nn.Parameter(_stored(torch.ones(channels)))
        self.gamma_stored = nn.Parameter(_stored(gamma_init * torch.eye(channels)))

    @property
    def beta(self) -> Tensor:
        """``beta`` ``(channels,)``, every entry >= ``beta_min``."""
        return _read(self.beta_stored, self.beta_min)

    @property
    def gamma(self) -> Tensor:
        """``gamma`` ``(channels, channels)``, every entry >= 0; row ``i`` weighs the channels that
        divide channel ``i``."""
        return _read(self.gamma_stored, 0.0)

    @torch.no_grad()
    def set_parameters(self, beta: Tensor, gamma: Tensor) -> None:
        """Store ``beta`` ``(channels,)`` (each >= ``beta_min``) and ``gamma`` ``(channels, channels)``
        (each >= 0)."""
        c = self.channels
        if beta.shape != (c,) or not bool((beta >= self.beta_min).all()):
            raise ValueError(f"beta must have shape ({c},) and entries >= {self.beta_min}; got shape "
                             f"{tuple(beta.shape)}, minimum {beta.min().item():.3g}")
        if gamma.shape != (c, c) or not bool((gamma >= 0).all()):
            raise ValueError(f"gamma must have shape ({c}, {c}) and entries >= 0; got shape "
                             f"{tuple(gamma.shape)}, minimum {gamma.min().item():.3g}")
        self.beta_stored.copy_(_stored(beta.to(self.beta_stored)))
        self.gamma_stored.copy_(_stored(gamma.to(self.gamma_stored)))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must have shape (N, {self.channels}, H, W); got {tuple(x.shape)}")
        # in float32 at least, whatever autocast asks: x^2 overflows float16 from |x| = 256 on
        wide = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        with torch.autocast(x.device.type, enabled=False):
            # sum_j gamma_ij x_j^2 + beta_i at every pixel: a 1 x 1 convolution of the squares
            gamma, beta = self.gamma.to(wide.dtype), self.beta.to(wide.dtype)
            norm = F.conv2d(wide * wide, gamma[:, :, None, None], beta)  # (N, channels, H, W)
            y = wide * torch.sqrt(norm) if self.inverse else wide * torch.rsqrt(norm)
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.channels}, inverse={self.inverse}"
