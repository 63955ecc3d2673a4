"""The course's networks: shapes, parameter counts, a training step, and rebuilding from a checkpoint."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import models
from helpers.models.conv_autoencoder import ConvAutoencoder


@pytest.mark.parametrize("channels", [1, 3])
def test_conv_autoencoder_shapes_parameters_and_a_training_step(channels):
    torch.manual_seed(0)
    width = 8
    model = ConvAutoencoder(channels, width)
    x = torch.rand(4, channels, 32, 28)
    out = model(x)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    convs = ((channels * width * 16 + width) + (width * 2 * width * 16 + 2 * width)  # 4 x 4 kernels, biases
             + (2 * width * 2 * width * 9 + 2 * width))  # 3 x 3
    transposed = (2 * width * width * 16 + width) + (width * channels * 16 + channels)
    assert sum(p.numel() for p in model.parameters()) == convs + transposed
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = F.mse_loss(model(x), x).item()
    for _ in range(5):
        optimiser.zero_grad()
        F.mse_loss(model(x), x).backward()
        optimiser.step()
    assert F.mse_loss(model(x), x).item() < before


def test_bad_shapes_and_arguments_are_named():
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, H, W\) with H and W multiples of 4"):
        ConvAutoencoder(1, 4)(torch.rand(2, 1, 30, 32))
    with pytest.raises(ValueError, match="width must be a positive int; got 0"):
        ConvAutoencoder(1, 0)


def test_describe_and_build_make_the_same_network():
    model = ConvAutoencoder(1, 4)
    description = models.describe(model)
    assert description == {"class": "helpers.models.conv_autoencoder.ConvAutoencoder",
                           "arguments": {"channels": 1, "width": 4}}
    again = models.build(description)
    assert type(again) is ConvAutoencoder and again.arguments == model.arguments
    assert models.describe(torch.nn.Linear(2, 2)) is None
    with pytest.raises(ValueError, match="description must name a class of helpers.models"):
        models.build({"class": "os.system", "arguments": {}})
