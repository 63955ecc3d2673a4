"""The GDN network of notebook 06: the study's parameter count, shapes, a training step, errors,
rebuilding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import models
from helpers.models.gdn import GDN
from helpers.models.gdn_autoencoder import GDNAutoencoder, parameter_count


def _expected_count(channels: int, width: int, code: int, bottleneck: int) -> int:
    hidden = 16 * bottleneck
    convs = 25 * (channels * width + 3 * width * width + width * bottleneck)  # 5 x 5, no bias
    gdn = 4 * (width * width + width)

    def fc(n_in: int, n_out: int) -> int:  # weights, bias, BatchNorm1d's weight and bias
        return n_in * n_out + n_out + 2 * n_out

    encoder = convs + gdn + 2 * fc(hidden, hidden) + fc(hidden, code)
    decoder = fc(code, hidden) + 2 * fc(hidden, hidden) + convs + gdn
    return encoder + decoder


def test_the_study_s_size_has_3_9_million_parameters():
    model = GDNAutoencoder()
    count = parameter_count(model)
    assert count == _expected_count(1, 128, 64, 32) == 3_922_880
    assert abs(count - 3.9e6) / 3.9e6 < 0.01  # the write-up's summary: 3.9 M
    # the write-up's per-layer table: conv 3.2 K, GDN 16.5 K, conv 409.6 K, last conv 102.4 K, fc 262.7 K
    sizes = [parameter_count(m) for m in model.encoder if parameter_count(m)]
    assert sizes[:10] == [3200, 16512, 409600, 16512, 409600, 16512, 409600, 16512, 102400, 262656]
    assert sum(isinstance(m, GDN) and m.inverse for m in model.decoder.modules()) == 4
    assert sum(isinstance(m, GDN) and not m.inverse for m in model.encoder.modules()) == 4


@pytest.mark.parametrize(("width", "code_size", "bottleneck"), [(8, 16, 4), (12, 64, 32)])
def test_shapes_range_and_a_training_step(width, code_size, bottleneck):
    torch.manual_seed(0)
    model = GDNAutoencoder(width=width, code_size=code_size, bottleneck=bottleneck)
    assert parameter_count(model) == _expected_count(1, width, code_size, bottleneck)
    density, pattern = torch.rand(4, 1, 128, 128), torch.rand(4, 1, 128, 128)
    code = model.encode(density)
    out = model.decode(code)
    assert code.shape == (4, code_size) and out.shape == (4, 1, 128, 128)
    # the study's code is relu(batchnorm(linear)): non-negative, and in training mode (the BatchNorm
    # centres each entry over the batch) some entries are 0 and some are not
    assert code.min() >= 0 and 0 < float((code == 0).float().mean()) < 1
    assert 0 <= out.min() and out.max() <= 1
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = F.mse_loss(model(density), pattern).item()
    for _ in range(5):
        optimiser.zero_grad()
        F.mse_loss(model(density), pattern).backward()
        optimiser.step()
    assert F.mse_loss(model(density), pattern).item() < before
    model.eval()
    with torch.no_grad():
        assert model(density[:1]).shape == (1, 1, 128, 128)  # one image is fine in eval mode


def test_bad_input_names_the_argument_the_expected_and_the_given():
    model = GDNAutoencoder(width=4, code_size=8, bottleneck=2)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 128, 128\); got \(2, 1, 64, 64\)"):
        model(torch.rand(2, 1, 64, 64))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 128, 128\); got \(2, 3, 128, 128\)"):
        model(torch.rand(2, 3, 128, 128))
    with pytest.raises(ValueError, match=r"code must have shape \(N, 8\); got \(2, 9\)"):
        model.decode(torch.rand(2, 9))
    with pytest.raises(ValueError, match="at least 2 images .*got 1; use model.eval"):
        model(torch.rand(1, 1, 128, 128))
    with pytest.raises(ValueError, match="code_size must be a positive int; got 0"):
        GDNAutoencoder(code_size=0)
    with pytest.raises(ValueError, match="width must be a positive int; got 2.5"):
        GDNAutoencoder(width=2.5)


def test_describe_and_build_make_the_same_network():
    model = GDNAutoencoder(width=4, code_size=8, bottleneck=2)
    description = models.describe(model)
    assert description == {"class": "helpers.models.gdn_autoencoder.GDNAutoencoder",
                           "arguments": {"channels": 1, "width": 4, "code_size": 8, "bottleneck": 2}}
    again = models.build(description)
    assert type(again) is GDNAutoencoder and parameter_count(again) == parameter_count(model)
    again.load_state_dict(model.state_dict())  # the same layers, names and shapes
    model.eval()
    again.eval()
    x = torch.rand(2, 1, 128, 128)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
