"""The convolutional VAE of the popular VAE collection (AntixK/PyTorch-VAE, ``models/vanilla_vae.py``,
which its ``MSSIMVAE`` reuses), with what its users found hard-coded made into arguments, and an
optional class condition (the conditional VAE of notebook 05).

The collection's network: blocks of Conv 3x3 stride 2 + BatchNorm + LeakyReLU with widths 32, 64, 128,
256, 512 down to a 512 x 2 x 2 bottleneck; two linear layers give the mean and log-variance of a
128-d code; the decoder mirrors the encoder with transposed convolutions and ends in Tanh. Its
64 x 64 input, 3 channels, 2 x 2 bottleneck and ``z.cuda()`` in ``sample`` are fixed in its code.
Here the image side, channels, widths and code size are arguments, sampling uses the model's own
device, the KL divergence is returned as the positive number it is, and the output ends in a
Sigmoid: targets are in [0, 1], and SSIM's constants C1 = (0.01 L)^2, C2 = (0.03 L)^2 assume that
range (L = 1). A Tanh output, in [-1, 1], against [0, 1] targets is one of the collection's faults.

With ``classes > 0`` the network is conditional (a CVAE, Sohn et al. 2015): the one-hot label is
appended to the encoder's input as ``classes`` constant planes and to the code before the decoder.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.checks import positive_int


class VAEOutput(NamedTuple):
    """What :meth:`VAE.forward` returns. ``reconstruction``: ``(N, C, H, W)`` in [0, 1];
    ``mu``, ``logvar``: ``(N, latent)``, the code's Gaussian (log-variance in nats);
    ``z``: ``(N, latent)``, the sample the decoder saw (``mu`` itself in eval mode)."""

    reconstruction: Tensor
    mu: Tensor
    logvar: Tensor
    z: Tensor


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) in nats per image, summed over the code: ``(N, latent)`` ->
    ``(N,)``, each >= 0. ``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)``."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


class VAE(nn.Module):
    """A convolutional VAE for ``(N, channels, side, side)`` images in [0, 1].

    ``widths``: channels of the stride-2 blocks, e.g. ``(32, 64, 128, 256)``; ``side`` must be a
    multiple of ``2 ** len(widths)`` (the bottleneck is ``widths[-1] x side/2^k x side/2^k``).
    ``latent``: size of the code. ``classes``: 0 for a plain VAE, else the number of classes of the
    condition (labels are ints in ``[0, classes)``).

    Sampling the code in train mode uses torch's global generator; in eval mode ``forward`` decodes
    the mean (the reconstruction a test reports).
    """

    def __init__(self, side: int = 32, channels: int = 1, widths: tuple[int, ...] = (32, 64, 128, 256),
                 latent: int = 128, classes: int = 0) -> None:
        super().__init__()
        positive_int("side", side), positive_int("channels", channels), positive_int("latent", latent)
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 0:
            raise ValueError(f"classes must be an int >= 0 (0: no condition); got {classes!r}")
        widths = tuple(widths)
        if not widths or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
            raise ValueError(f"widths must be a non-empty sequence of positive ints; got {widths!r}")
        if side % 2 ** len(widths):
            raise ValueError(f"side must be a multiple of 2 ** len(widths) = {2 ** len(widths)} (one halving "
                             f"per block); got side={side} with widths={widths}")
        self.arguments = {"side": side, "channels": channels, "widths": list(widths), "latent": latent,
                          "classes": classes}
        self.bottom = side // 2 ** len(widths)  # side of the bottleneck
        flat = widths[-1] * self.bottom**2

        blocks, previous = [], channels + classes
        for width in widths:  # each: (N, previous, s, s) -> (N, width, s/2, s/2)
            blocks += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.BatchNorm2d(width),
                       nn.LeakyReLU()]
            previous = width
        self.encoder = nn.Sequential(*blocks)  # (N, channels + classes, side, side) -> (N, widths[-1], b, b)
        self.to_mu = nn.Linear(flat, latent)  # (N, flat) -> (N, latent)
        self.to_logvar = nn.Linear(flat, latent)  # (N, flat) -> (N, latent)

        self.from_code = nn.Linear(latent + classes, flat)  # (N, latent + classes) -> (N, flat)
        blocks = []
        reversed_widths = widths[::-1]
        for wide, narrow in zip(reversed_widths, reversed_widths[1:], strict=False):
            # (N, wide, s, s) -> (N, narrow, 2s, 2s)
            blocks += [nn.ConvTranspose2d(wide, narrow, 3, stride=2, padding=1, output_padding=1),
                       nn.BatchNorm2d(narrow), nn.LeakyReLU()]
        first = widths[0]
        # the last doubling, then to the image: (N, first, side/2, side/2) -> (N, channels, side, side)
        blocks += [
            nn.ConvTranspose2d(first, first, 3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(first), nn.LeakyReLU(),
            nn.Conv2d(first, channels, 3, padding=1), nn.Sigmoid(),
        ]
        self.decoder = nn.Sequential(*blocks)

    # ----------------------------------------------------------------------------------------

    def _one_hot(self, labels: Tensor | None, n: int) -> Tensor | None:
        classes = self.arguments["classes"]
        if classes == 0:
            if labels is not None:
                raise ValueError("labels must be None for an unconditional VAE (classes=0); got a tensor")
            return None
        if labels is None or labels.shape != (n,) or labels.dtype not in (torch.int32, torch.int64):
            shown = None if labels is None else f"{tuple(labels.shape)} {labels.dtype}"
            raise ValueError(f"labels must be an int tensor of shape ({n},) with values in [0, {classes}) "
                             f"for a conditional VAE; got {shown}")
        return F.one_hot(labels.long(), classes).float()

    def encode(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(N, channels, side, side)`` in [0, 1] -> ``(mu, logvar)``, each ``(N, latent)``."""
        a = self.arguments
        expected = (a["channels"], a["side"], a["side"])
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, expected))}); got {tuple(x.shape)}")
        one_hot = self._one_hot(labels, len(x))
        if one_hot is not None:  # (N, classes) -> (N, classes, side, side) constant planes
            planes = one_hot.to(x.dtype)[:, :, None, None].expand(-1, -1, a["side"], a["side"])
            x = torch.cat([x, planes], dim=1)
        h = self.encoder(x).flatten(1)  # (N, flat)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """``(N, latent)`` -> ``(N, channels, side, side)`` in [0, 1]."""
        one_hot = self._one_hot(labels, len(z))
        if one_hot is not None:
            z = torch.cat([z, one_hot.to(z.dtype)], dim=1)
        h = self.from_code(z).view(len(z), self.arguments["widths"][-1], self.bottom, self.bottom)
        return self.decoder(h)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> VAEOutput:
        mu, logvar = self.encode(x, labels)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return VAEOutput(self.decode(z, labels), mu, logvar, z)

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """``n`` images from the prior, ``(n, channels, side, side)``, on the model's device.
        ``generator``: a CPU generator, for samples that do not depend on the global random state."""
        positive_int("n", n)
        device = next(self.parameters()).device
        z = torch.randn(n, self.arguments["latent"], generator=generator).to(device)
        return self.decode(z, None if labels is None else labels.to(device))
