"""The GDN network of the overfitting study (notebook 06): density image in, diffraction pattern out.

As the study's write-up describes it (its model summary: 3.9 M parameters at width 128, code 64): five
5 x 5 stride-2 convolutions without bias take 1 x 128 x 128 to 32 x 4 x 4, with GDN after the first
four; fully connected layers 512 -> 512 -> 512 -> 64 (each with BatchNorm1d, ReLU after the first two)
give the code; the decoder mirrors it (64 -> 512 -> 512 -> 512, BatchNorm1d and ReLU, then transposed
convolutions with inverse GDN after the first four) and ends in a Sigmoid, so the output is in [0, 1].
As in the study's public code (``relu(fc_bn3(fc3(x)))``), a ReLU follows the code's BatchNorm too: the
code is non-negative, and about half its entries are 0 for a given image (the BatchNorm centres each
entry on 0 over a batch before the ReLU cuts it), which is what a code-size bottleneck turns on. It maps
image to image through the code: not an autoencoder of the pattern, although the study calls it one.
"""

from __future__ import annotations

from torch import Tensor, nn

from helpers.checks import positive_int
from helpers.models.gdn import GDN

SIDE = 128  # input and output side, px: five halvings give 4 x 4


class GDNAutoencoder(nn.Module):
    """``(N, channels, 128, 128)`` -> ``(N, channels, 128, 128)`` in [0, 1], through a ``(N, code_size)``
    code.

    ``width``: channels of the four inner convolutions (128 in the study); ``code_size``: the code's
    dimension (64); ``bottleneck``: channels of the last convolution (32), so the flattened map and the
    hidden fully connected layers have ``16 bottleneck`` units (512). At the study's sizes the network
    has 3,922,880 parameters (:func:`parameter_count`). In training mode BatchNorm1d needs N >= 2.
    """

    def __init__(self, channels: int = 1, width: int = 128, code_size: int = 64,
                 bottleneck: int = 32) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("width", width), ("code_size", code_size),
                            ("bottleneck", bottleneck)):
            positive_int(name, value)
        self.arguments = {"channels": channels, "width": width, "code_size": code_size,
                          "bottleneck": bottleneck}
        hidden = bottleneck * 4 * 4  # the flattened 4 x 4 map: 512 in the study

        def down(c_in: int, c_out: int) -> nn.Conv2d:  # halves the side
            return nn.Conv2d(c_in, c_out, 5, stride=2, padding=2, bias=False)

        def up(c_in: int, c_out: int) -> nn.ConvTranspose2d:  # doubles the side
            return nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1, bias=False)

        self.encoder = nn.Sequential(
            down(channels, width), GDN(width),  # (N, width, 64, 64)
            down(width, width), GDN(width),  # (N, width, 32, 32)
            down(width, width), GDN(width),  # (N, width, 16, 16)
            down(width, width), GDN(width),  # (N, width, 8, 8)
            down(width, bottleneck),  # (N, bottleneck, 4, 4)
            nn.Flatten(),  # (N, hidden)
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),  # (N, hidden)
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),  # (N, hidden)
            nn.Linear(hidden, code_size), nn.BatchNorm1d(code_size), nn.ReLU(),  # (N, code_size) >= 0
        )
        self.decoder = nn.Sequential(
            nn.Linear(code_size, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),  # (N, hidden)
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),  # (N, hidden)
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),  # (N, hidden)
            nn.Unflatten(1, (bottleneck, 4, 4)),  # (N, bottleneck, 4, 4)
            up(bottleneck, width), GDN(width, inverse=True),  # (N, width, 8, 8)
            up(width, width), GDN(width, inverse=True),  # (N, width, 16, 16)
            up(width, width), GDN(width, inverse=True),  # (N, width, 32, 32)
            up(width, width), GDN(width, inverse=True),  # (N, width, 64, 64)
            up(width, channels), nn.Sigmoid(),  # (N, channels, 128, 128), in [0, 1]
        )

    def _check_batch(self, n: int) -> None:
        if self.training and n < 2:
            raise ValueError(f"a batch in training mode must hold at least 2 images (BatchNorm1d); got {n}; "
                             "use model.eval() for single images")

    def encode(self, x: Tensor) -> Tensor:
        """The code ``(N, code_size)``, non-negative, of ``x`` ``(N, channels, 128, 128)``."""
        c = self.arguments["channels"]
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, SIDE, SIDE):
            raise ValueError(f"x must have shape (N, {c}, {SIDE}, {SIDE}); got {tuple(x.shape)}")
        self._check_batch(x.shape[0])
        return self.encoder(x)

    def decode(self, code: Tensor) -> Tensor:
        """The image ``(N, channels, 128, 128)`` in [0, 1] of ``code`` ``(N, code_size)``."""
        size = self.arguments["code_size"]
        if code.dim() != 2 or code.shape[1] != size:
            raise ValueError(f"code must have shape (N, {size}); got {tuple(code.shape)}")
        self._check_batch(code.shape[0])
        return self.decoder(code)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def parameter_count(model: nn.Module) -> int:
    """The number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

