"""A small convolutional classifier: it says how recognisable generated images are (notebook 05) and
gives the features of the Fréchet distance where Inception's weights cannot be had (notebook 07)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Classifier(nn.Module):
    """``(N, channels, H, W)`` images in [0, 1] -> ``(N, classes)`` logits.

    Three blocks of Conv 3x3 + BatchNorm + ReLU (widths ``width``, ``2 width``, ``4 width``), the first
    two followed by 2x2 max pooling, then a global average: :meth:`features` is that
    ``(N, 4 width)`` vector, the last layer a linear map to the logits. Any ``H, W >= 4``.
    """

    def __init__(self, channels: int = 1, classes: int = 10, width: int = 32) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("classes", classes), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        self.arguments = {"channels": channels, "classes": classes, "width": width}

        def block(a: int, b: int) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]

        self.body = nn.Sequential(
            *block(channels, width), nn.MaxPool2d(2),  # (N, width, H/2, W/2)
            *block(width, 2 * width), nn.MaxPool2d(2),  # (N, 2 width, H/4, W/4)
            *block(2 * width, 4 * width),  # (N, 4 width, H/4, W/4)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (N, 4 width)
        )
        self.head = nn.Linear(4 * width, classes)  # (N, classes)

    def features(self, x: Tensor) -> Tensor:
        """The ``(N, 4 width)`` penultimate features (the input of the last layer)."""
        channels = self.arguments["channels"]
        if x.dim() != 4 or x.shape[1] != channels or min(x.shape[-2:]) < 4:
            raise ValueError(f"x must have shape (N, {channels}, H, W) with H, W >= 4; got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 500) -> Tensor:
        """Class indices ``(N,)`` in eval mode, on ``x``'s device, batch by batch."""
        self.eval()
        return torch.cat([self(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
