"""A small convolutional classifier: it says how recognisable generated images are (notebook 05) and
gives the features of the Fréchet distance where Inception's weights cannot be had (notebook 07)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from helpers.checks import positive_int


class Classifier(nn.Module):
    """``(N, channels, side, side)`` images in [0, 1] -> ``(N, classes)`` logits.

    Two blocks of Conv 3x3 + BatchNorm + ReLU + 2x2 max pooling (widths ``width``, ``2 width``), then
    a linear layer to ``4 width`` features with ReLU (:meth:`features`), then a linear layer to the
    logits. The flattened map keeps where things are, which small images' classes depend on (a global
    average over the map reached about 0.7 on Fashion-MNIST where this reaches about 0.87).
    ``side`` must be a multiple of 4.
    """

    def __init__(self, channels: int = 1, classes: int = 10, width: int = 32, side: int = 32) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("classes", classes), ("width", width), ("side", side)):
            positive_int(name, value)
        if side % 4:
            raise ValueError(f"side must be a multiple of 4 (two 2x2 poolings); got {side}")
        self.arguments = {"channels": channels, "classes": classes, "width": width, "side": side}

        def block(a: int, b: int) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2)]

        self.body = nn.Sequential(
            *block(channels, width),  # (N, width, side/2, side/2)
            *block(width, 2 * width),  # (N, 2 width, side/4, side/4)
            nn.Flatten(),  # (N, 2 width (side/4)^2)
            nn.Linear(2 * width * (side // 4) ** 2, 4 * width), nn.ReLU(),  # (N, 4 width)
        )
        self.head = nn.Linear(4 * width, classes)  # (N, classes)

    def features(self, x: Tensor) -> Tensor:
        """The ``(N, 4 width)`` penultimate features (the input of the last layer)."""
        a = self.arguments
        expected = (a["channels"], a["side"], a["side"])
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, expected))}); got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 500) -> Tensor:
        """Class indices ``(N,)`` in eval mode, on ``x``'s device, batch by batch."""
        self.eval()
        return torch.cat([self(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
