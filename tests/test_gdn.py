"""GDN and inverse GDN: the defining formula, its gradient, and the reparametrisation that keeps
beta > 0 and gamma >= 0."""

from __future__ import annotations

import pytest
import torch

from helpers.models.gdn import GDN, lower_bound


def _reference(x: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor, inverse: bool) -> torch.Tensor:
    """y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2) (times, for the inverse), pixel by pixel in float64."""
    x, beta, gamma = x.double(), beta.double(), gamma.double()
    out = torch.empty_like(x)
    n, c, h, w = x.shape
    for b in range(n):
        for r in range(h):
            for s in range(w):
                v = x[b, :, r, s]
                norm = torch.sqrt(beta + gamma @ (v * v))  # (c,)
                out[b, :, r, s] = v * norm if inverse else v / norm
    return out


def _layer(inverse: bool, channels: int = 5, seed: int = 0) -> GDN:
    g = torch.Generator().manual_seed(seed)
    layer = GDN(channels, inverse=inverse).double()
    layer.set_parameters(0.2 + torch.rand(channels, generator=g, dtype=torch.float64),
                         torch.rand(channels, channels, generator=g, dtype=torch.float64))
    return layer


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_is_the_defining_formula(inverse):
    layer = _layer(inverse)
    x = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    expected = _reference(x, layer.beta.detach(), layer.gamma.detach(), inverse)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)
    # float32 agrees with the float64 reference to float32 precision
    torch.testing.assert_close(layer.float()(x.float()).double(), expected, rtol=1e-5, atol=1e-6)


def test_a_fresh_layer_has_beta_one_and_diagonal_gamma():
    layer = GDN(4, gamma_init=0.1)
    assert sum(p.numel() for p in layer.parameters()) == 4 * 4 + 4
    torch.testing.assert_close(layer.beta, torch.ones(4))
    torch.testing.assert_close(layer.gamma, 0.1 * torch.eye(4))
    x = torch.randn(3, 4, 2, 2)
    torch.testing.assert_close(layer(x), x / torch.sqrt(1 + 0.1 * x * x))
    torch.testing.assert_close(GDN(4, inverse=True)(x), x * torch.sqrt(1 + 0.1 * x * x))


@pytest.mark.parametrize("inverse", [False, True])
def test_gradients_match_the_formula_s_derivative(inverse):
    """d y_i / d x_k = delta_ik / sqrt(D_i) - x_i gamma_ik x_k / D_i^(3/2) for GDN, D_i = beta_i +
    sum_j gamma_ij x_j^2 (for the inverse: delta_ik sqrt(D_i) + x_i gamma_ik x_k / sqrt(D_i)); and
    torch's gradcheck for x, beta and gamma together."""
    layer = _layer(inverse, channels=4)
    x = torch.randn(1, 4, 1, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    beta, gamma, v = layer.beta.detach(), layer.gamma.detach(), x[0, :, 0, 0]
    d = beta + gamma @ (v * v)
    if inverse:
        jacobian = torch.diag(torch.sqrt(d)) + (v / torch.sqrt(d))[:, None] * gamma * v[None, :]
    else:
        jacobian = torch.diag(d**-0.5) - (v * d**-1.5)[:, None] * gamma * v[None, :]
    autograd = torch.autograd.functional.jacobian(lambda t: layer(t.view(1, 4, 1, 1)).flatten(), v)
    torch.testing.assert_close(autograd, jacobian, rtol=1e-12, atol=1e-12)
    x = torch.randn(2, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
    # the stored parameters' gradients: the reference's gradient in beta, gamma times d p / d q = 2 q
    layer(x).sum().backward()
    beta, gamma = layer.beta.detach().requires_grad_(), layer.gamma.detach().requires_grad_()
    reference = _reference(x.detach(), beta, gamma, inverse).sum()
    beta_grad, gamma_grad = torch.autograd.grad(reference, (beta, gamma))
    torch.testing.assert_close(layer.beta_stored.grad, beta_grad * 2 * layer.beta_stored.detach())
    torch.testing.assert_close(layer.gamma_stored.grad, gamma_grad * 2 * layer.gamma_stored.detach())
    assert layer.beta_stored.grad.abs().min() > 0 and layer.gamma_stored.grad.abs().min() > 0


def test_reparametrisation_keeps_beta_positive_and_gamma_non_negative():
    torch.manual_seed(0)
    layer = GDN(3, beta_min=1e-4)
    optimiser = torch.optim.SGD(layer.parameters(), lr=5.0)
    for _ in range(20):  # push both down hard: plain parameters would go negative in one step
        optimiser.zero_grad()
        (layer.beta.sum() + layer.gamma.sum()).backward()
        optimiser.step()
    assert (layer.beta >= 1e-4).all() and (layer.gamma >= 0).all()
    assert layer.beta.min().item() == pytest.approx(1e-4, rel=1e-3) and layer.gamma.max().item() == 0
    y = layer(torch.randn(2, 3, 4, 4))
    assert torch.isfinite(y).all()
    # at the bound, a gradient that would raise the parameter still reaches it
    optimiser.zero_grad()
    (-layer.beta.sum()).backward()
    assert (layer.beta_stored.grad < 0).all()


def test_lower_bound_passes_the_gradient_only_towards_the_bound():
    x = torch.tensor([0.5, 2.0, 0.5, 2.0], requires_grad=True)
    y = lower_bound(x, 1.0)
    assert y.tolist() == [1.0, 2.0, 1.0, 2.0]
    y.backward(torch.tensor([1.0, 1.0, -1.0, -1.0]))
    # below the bound: a positive gradient (descent lowers x further) is stopped, a negative one passes
    assert x.grad.tolist() == [0.0, 1.0, -1.0, -1.0]


def test_half_precision_inputs_do_not_overflow():
    """300^2 overflows float16 (max 65504): the norm is computed in float32 and cast back."""
    x = torch.tensor([300.0, -2.0]).view(1, 2, 1, 1)
    for inverse in (False, True):
        layer = GDN(2, inverse=inverse)
        y = layer(x.half())
        assert y.dtype == torch.float16 and torch.isfinite(y).all()
        torch.testing.assert_close(y.float(), layer(x).half().float())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.isfinite(layer(x.bfloat16())).all()


def test_bad_arguments_and_shapes_are_named():
    with pytest.raises(ValueError, match="channels must be a positive int; got 0"):
        GDN(0)
    with pytest.raises(ValueError, match="beta_min must be > 0; got 0"):
        GDN(3, beta_min=0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3, H, W\); got \(2, 4, 5, 5\)"):
        GDN(3)(torch.rand(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"beta must have shape \(3,\) and entries >= 1e-06"):
        GDN(3).set_parameters(torch.zeros(3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"gamma must have shape \(3, 3\) and entries >= 0"):
        GDN(3).set_parameters(torch.ones(3), -torch.ones(3, 3))
