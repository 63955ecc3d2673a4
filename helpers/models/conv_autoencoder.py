"""A small convolutional autoencoder: the network of the speed benchmarks and of the tests of ``fit``."""

from __future__ import annotations

import torch
from torch import nn

from helpers.checks import positive_int


class ConvAutoencoder(nn.Module):
    """``(N, channels, H, W)`` in [0, 1] -> the same shape, through a ``(N, 2 width, H/4, W/4)`` code.

    ``H`` and ``W`` must be multiples of 4. Two stride-2 convolutions down, one at the coarse scale,
    two transposed convolutions up, Sigmoid out (so outputs are in [0, 1], as SSIM expects).
    """

    def __init__(self, channels: int = 3, width: int = 128) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("width", width)):
            positive_int(name, value)
        self.arguments = {"channels": channels, "width": width}
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.ReLU(),  # (N, width, H/2, W/2)
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(),  # (N, 2 width, H/4, W/4)
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1), nn.ReLU(),  # (N, 2 width, H/4, W/4)
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),  # (N, width, H/2, W/2)
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Sigmoid(),  # (N, channels, H, W)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.arguments["channels"] or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"x must have shape (N, {self.arguments['channels']}, H, W) with H and W "
                             f"multiples of 4; got {tuple(x.shape)}")
        return self.decoder(self.encoder(x))
