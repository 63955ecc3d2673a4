"""Reconstruction losses by name, for the training comparisons of notebooks 04-07.

``get_loss(name)`` builds one of :data:`LOSSES`, or a combination ``"mse+<name>@<w>"`` meaning
MSE + w * loss (``"mse+ssim@0.5"``), the form of the VQ-VAE write-up ("Better Reconstruction Loss for
VQ-VAE", w = 1, 0.5, 0.25). Each is an ``nn.Module`` called as ``loss(output, target)``:

- ``output``, ``target``: ``(N, C, H, W)``, values in [0, 1], the same shape, any floating dtype;
- returns a float32 scalar, the mean over the batch, computed in float32 whatever autocast is active
  (autocast is switched off inside and the images cast to float32);
- every loss is 0 for identical images and decreases as the images get closer:

=========  ============================================================  ===============  ========  ========
name       loss                                                          range            channels  min side
=========  ============================================================  ===============  ========  ========
mse        mean of (output - target)^2 (torch)                           [0, 1]           any       1
bce        BCE(output, target) - BCE(target, target): torch's binary     [0, 100]         any       1
           cross-entropy less the target's entropy (the per-pixel KL
           divergence; same gradient, 0 at output = target)
psnr       PSNR_MAX - PSNR, piqa's ``psnr`` with epsilon = 1e-8,         [0, 80] dB       any       1
           PSNR_MAX = 10 log10(1 / epsilon) = 80 dB, its value at
           identical images
ssim       1 - :func:`helpers.ssim.ssim` (11 taps, sigma 1.5)            [0, 2]           any       11
ms_ssim    1 - :func:`helpers.ssim.ms_ssim` with                         [0, 1]           any       7
           ``ms_ssim_options_for_size(min(H, W))`` (the course's
           small-image policy, chosen from the input's size at each call)
haarpsi    1 - piqa's HaarPSI                                            [0, 1]           1 or 3    1
gmsd       piqa's GMSD, as it is (a deviation)                           [0, 0.5]         1 or 3    3
ms_gmsd    piqa's MS-GMSD, as it is                                      [0, 0.5]         1 or 3    9
=========  ============================================================  ===============  ========  ========

Ranges are up to float32 rounding: at identical images ``haarpsi`` is within 1e-5 of 0 either side
and ``psnr`` within one float32 step of 80 dB (8e-6) (tests/test_losses.py). GMSD and MS-GMSD are
standard deviations of similarities in [0, 1], so at most 0.5 (slightly more with Bessel's correction).
The gradient of ``psnr`` is that of MSE times 10 / (ln 10 (MSE + epsilon)): it grows without bound as
the images get closer.

piqa's HaarPSI, GMSD and MS-GMSD modules take RGB only (they assert 3 channels and convert to YIQ or Y).
Their functional forms take the luminance channel itself, ``(N, 1, H, W)``: grey images go there
directly, which equals the module on the grey image repeated to RGB (HaarPSI with
``chromatic=False``) up to the rounding of the colour conversion. RGB images get the modules' own
preprocessing (2x2 downsampling for HaarPSI and GMSD, piqa's RGB->YIQ or RGB->Y matrix) and give the
modules' values. The functional forms are called rather than the modules because the modules check
the value range on every call, which waits for the device. piqa zero-pads its filters, so HaarPSI
takes any size; GMSD and MS-GMSD need a coarsest gradient map of at least 2 x 2 pixels (below, piqa's
``torch.std`` of one value is NaN): 3 px for GMSD (after its 2x downsampling), 9 px for MS-GMSD
(4 scales). piqa's ``haarpsi`` builds its Haar kernels and copies them to the device on every call.

The range and NaN check reads back from the device, so by default (``check="first"``) only the first
call is checked, as :class:`helpers.ssim.SSIMLoss` does; ``check="always"`` checks every call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import NamedTuple

import piqa
import torch
import torch.nn.functional as F
from piqa.gmsd import gmsd, ms_gmsd
from piqa.haarpsi import haarpsi
from piqa.psnr import psnr
from piqa.utils.color import RGB_TO_YIQ, color_conv
from piqa.utils.functional import gradient_kernel, prewitt_kernel
from torch import Tensor, nn

from helpers.ssim import (
    SMALL_IMAGE_WINDOW,
    autocast_off,
    ms_ssim,
    ms_ssim_options_for_size,
    on_device,
    ssim,
)

__all__ = ["LOSSES", "PSNR_EPSILON", "PSNR_MAX", "MSEPlus", "ReconstructionLoss", "get_loss"]

#: The epsilon passed to piqa's ``psnr``: PSNR = 10 log10(1 / (MSE + epsilon)) for data range 1.
PSNR_EPSILON = 1e-8
#: PSNR of identical images, 10 log10(1 / PSNR_EPSILON) = 80 dB: the ``psnr`` loss is PSNR_MAX - PSNR.
PSNR_MAX = 10 * math.log10(1 / PSNR_EPSILON)

_CHECKS = ("first", "always")
_COMBINATION = re.compile(r"mse\+(?P<loss>[^@]*)@(?P<weight>.*)")


# --------------------------------------------------------------------------------------------
# The losses, on float32 images with autocast off
# --------------------------------------------------------------------------------------------


def _device_tensor(t: Tensor, device: torch.device) -> Tensor:
    """A constant of piqa's (float32) on ``device``, copied there once (see helpers.ssim.on_device)."""
    return on_device(tuple(t.flatten().tolist()), torch.float32, device).view(t.shape)


def _luminance(x: Tensor, rows: int) -> Tensor:
    """piqa's colour conversion: RGB -> the first ``rows`` of YIQ (3: YIQ, 1: Y); grey stays as it is."""
    if x.shape[1] == 1:
        return x
    return color_conv(x, _device_tensor(RGB_TO_YIQ[:rows], x.device))


def _halve(x: Tensor) -> Tensor:
    """The 2x2 downsampling of piqa's HaarPSI and GMSD modules."""
    return F.avg_pool2d(x, 2, ceil_mode=True)


def _mse(output: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(output, target)


def _bce(output: Tensor, target: Tensor) -> Tensor:
    entropy = F.binary_cross_entropy(target.detach(), target.detach())  # the minimum over outputs
    return F.binary_cross_entropy(output, target) - entropy


def _psnr(output: Tensor, target: Tensor) -> Tensor:
    return PSNR_MAX - psnr(output, target, epsilon=PSNR_EPSILON, value_range=1.0).mean()


def _ssim(output: Tensor, target: Tensor) -> Tensor:
    return 1 - ssim(output, target, check_values=False)


def _ms_ssim(output: Tensor, target: Tensor) -> Tensor:
    options = ms_ssim_options_for_size(min(output.shape[-2:]))
    return 1 - ms_ssim(output, target, **options, check_values=False)


def _haarpsi(output: Tensor, target: Tensor) -> Tensor:
    return 1 - haarpsi(_luminance(_halve(output), 3), _luminance(_halve(target), 3)).mean()


def _prewitt(device: torch.device) -> Tensor:
    return _device_tensor(gradient_kernel(prewitt_kernel()), device)  # (2, 1, 3, 3), piqa's default


def _gmsd(output: Tensor, target: Tensor) -> Tensor:
    kernel = _prewitt(output.device)
    return gmsd(_luminance(_halve(output), 1), _luminance(_halve(target), 1), kernel=kernel).mean()


def _ms_gmsd(output: Tensor, target: Tensor) -> Tensor:
    kernel, weights = _prewitt(output.device), _device_tensor(piqa.MS_GMSD.WEIGHTS, output.device)
    return ms_gmsd(_luminance(output, 1), _luminance(target, 1), kernel=kernel, weights=weights).mean()


class _Spec(NamedTuple):
    compute: Callable[[Tensor, Tensor], Tensor]
    channels: tuple[int, ...] | None  # None: any number
    min_side: int
    why: str  # what the minimum side or the channels come from


_GREY_OR_RGB = "piqa's implementation takes RGB, or grey as its luminance channel"
_SPECS: dict[str, _Spec] = {
    "mse": _Spec(_mse, None, 1, ""),
    "bce": _Spec(_bce, None, 1, ""),
    "psnr": _Spec(_psnr, None, 1, ""),
    "ssim": _Spec(_ssim, None, 11, "one 11 x 11 Gaussian window must fit in the image"),
    "ms_ssim": _Spec(_ms_ssim, None, SMALL_IMAGE_WINDOW,
                     f"the small-image policy's {SMALL_IMAGE_WINDOW}-tap window must fit in the image"),
    "haarpsi": _Spec(_haarpsi, (1, 3), 1, _GREY_OR_RGB),
    "gmsd": _Spec(_gmsd, (1, 3), 3, f"{_GREY_OR_RGB}; after its 2x downsampling at least 2 x 2 "
                  "pixels must remain, or piqa's standard deviation of one value is NaN"),
    "ms_gmsd": _Spec(_ms_gmsd, (1, 3), 9, f"{_GREY_OR_RGB}; its 4th scale (1/8 of the size) must keep "
                     "at least 2 x 2 pixels, or piqa's standard deviation of one value is NaN"),
}

#: The names of the base losses, in the order of the module's table.
LOSSES: tuple[str, ...] = tuple(_SPECS)


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_pair(output: Tensor, target: Tensor) -> None:
    for name, t in (("output", output), ("target", target)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
        if t.dim() != 4 or not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor of shape (N, C, H, W); got shape "
                             f"{tuple(t.shape)} and dtype {t.dtype}")
    if output.shape != target.shape:
        raise ValueError(f"output and target must have the same shape; got {tuple(output.shape)} and "
                         f"{tuple(target.shape)}")
    if output.device != target.device:
        raise ValueError(f"output and target must be on one device; got {output.device} and {target.device}")


def _check_values(output: Tensor, target: Tensor) -> None:
    """No NaN, values in [0, 1]. Reads the extremes back from the device: a synchronisation."""
    for name, t in (("output", output), ("target", target)):
        low, high = (v.item() for v in torch.aminmax(t.detach()))  # NaN propagates to both
        if math.isnan(low) or math.isnan(high):
            raise ValueError(f"{name} contains NaN; the losses are defined for finite images only")
        if low < 0 or high > 1:
            raise ValueError(f"{name} must have values in [0, 1]; got values in [{low:.6g}, {high:.6g}]. "
                             "Map the images into [0, 1] first (a sigmoid output; x / 255 for 8-bit values).")


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------


class ReconstructionLoss(nn.Module):
    """The base loss ``name`` (one of :data:`LOSSES`): ``loss(output, target)`` -> float32 scalar.

    ``output``, ``target``: ``(N, C, H, W)`` in [0, 1]; the channels and the smallest side each loss
    takes are in the module's table. Shapes are checked at every call, values (range, NaN) at the
    first call only with ``check="first"``, at every call with ``check="always"``.
    """

    def __init__(self, name: str, check: str = "first") -> None:
        super().__init__()
        if name not in _SPECS:
            raise ValueError(f"name must be one of {LOSSES}; got {name!r}")
        if check not in _CHECKS:
            raise ValueError(f"check must be one of {_CHECKS}; got {check!r}")
        self.name, self.check, self.checked = name, check, False
        self.spec = _SPECS[name]

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        _check_pair(output, target)
        channels, side = output.shape[1], min(output.shape[-2:])
        if self.spec.channels is not None and channels not in self.spec.channels:
            allowed = " or ".join(map(str, self.spec.channels))
            raise ValueError(f"loss {self.name!r} takes images with {allowed} channels ({self.spec.why}); "
                             f"got output of shape {tuple(output.shape)}")
        if side < self.spec.min_side:
            raise ValueError(f"loss {self.name!r} needs images of at least {self.spec.min_side} x "
                             f"{self.spec.min_side} pixels ({self.spec.why}); got output of shape "
                             f"{tuple(output.shape)}")
        if self.check == "always" or not self.checked:
            _check_values(output, target)
            self.checked = True
        with autocast_off(output.device):
            return self.spec.compute(output.float(), target.float())

    def extra_repr(self) -> str:
        return f"{self.name!r}, check={self.check!r}"


class MSEPlus(nn.Module):
    """``MSE + weight * loss``: ``loss`` a :class:`ReconstructionLoss`, ``weight >= 0``. Called and
    returning as a :class:`ReconstructionLoss`; ``name`` is ``"mse+<loss>@<weight>"``."""

    def __init__(self, loss: ReconstructionLoss, weight: float, check: str = "first") -> None:
        super().__init__()
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
            raise ValueError(f"weight must be a finite number >= 0; got {weight!r}")
        self.mse, self.loss, self.weight = ReconstructionLoss("mse", check), loss, float(weight)
        self.name = f"mse+{loss.name}@{self.weight:g}"

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return self.mse(output, target) + self.weight * self.loss(output, target)

    def extra_repr(self) -> str:
        return f"weight={self.weight:g}"


def get_loss(name: str, check: str = "first") -> ReconstructionLoss | MSEPlus:
    """The loss called ``name``: one of :data:`LOSSES`, or ``"mse+<loss>@<weight>"`` with ``<loss>`` one
    of :data:`LOSSES` and ``<weight>`` a number >= 0 (``"mse+ssim@0.5"`` = MSE + 0.5 (1 - SSIM)).
    ``check``: ``"first"`` or ``"always"``, when the values are checked (see :class:`ReconstructionLoss`).
    """
    if not isinstance(name, str):
        raise ValueError(f"name must be a str, one of {LOSSES} or 'mse+<loss>@<weight>'; got {name!r}")
    if name in _SPECS:
        return ReconstructionLoss(name, check)
    if "+" not in name and "@" not in name:
        raise ValueError(f"name must be one of {LOSSES} or 'mse+<loss>@<weight>' (e.g. 'mse+ssim@0.5'); "
                         f"got {name!r}")
    match = _COMBINATION.fullmatch(name)
    if match is None:
        raise ValueError(f"name must have the form 'mse+<loss>@<weight>' (e.g. 'mse+ssim@0.5'); got {name!r}")
    loss, weight_text = match["loss"], match["weight"]
    if loss not in _SPECS:
        raise ValueError(f"name {name!r}: the loss after 'mse+' must be one of {LOSSES}; got {loss!r}")
    try:
        weight = float(weight_text)
    except ValueError:
        weight = math.nan
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"name {name!r}: the weight after '@' must be a finite number >= 0; "
                         f"got {weight_text!r}")
    return MSEPlus(ReconstructionLoss(loss, check), weight, check)
