"""helpers.models.vqvae: shapes and parameters, the nearest code, where each term's gradient goes, the
loss of equation (3), codebook usage on known index sets, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from helpers import models
from helpers.models.vqvae import (
    VQVAE,
    CodeUsage,
    VectorQuantizer,
    code_counts,
    code_usage,
    vqvae_loss,
)


def small(channels: int = 3) -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(channels, width=8, codes=16, embedding_dim=4)


def parameter_count(c: int, w: int, k: int, d: int) -> int:
    residual = (d * d * 9 + d) + 2 * d + (d * d + d) + 2 * d  # 3x3 conv, BN, 1x1 conv, BN
    encoder = (c * w * 16 + w) + 2 * w + (w * d * 16 + d) + 2 * residual
    decoder = 2 * residual + (d * w * 16 + w) + 2 * w + (w * c * 16 + c)
    return encoder + k * d + decoder


def test_the_reproductions_network_shapes_and_parameters():
    torch.manual_seed(0)
    model = VQVAE()
    assert model.arguments == {"channels": 3, "width": 256, "codes": 512, "embedding_dim": 256}
    assert model.quantizer.codebook.weight.shape == (512, 256)
    assert model.quantizer.codebook.weight.abs().max() <= 1 / 512
    assert sum(p.numel() for p in model.parameters()) == parameter_count(3, 256, 512, 256)
    out = model(torch.rand(2, 3, 32, 32))
    assert out.output.shape == (2, 3, 32, 32) and 0 <= out.output.min() and out.output.max() <= 1
    assert out.indices.shape == (2, 8, 8) and out.indices.dtype == torch.int64
    assert 0 <= out.indices.min() and out.indices.max() < 512
    assert out.codebook_loss.shape == out.commitment_loss.shape == ()
    assert out.codebook_loss.item() == pytest.approx(out.commitment_loss.item())  # the same value forward
    grey = VQVAE(1, width=8, codes=16, embedding_dim=4)
    assert sum(p.numel() for p in grey.parameters()) == parameter_count(1, 8, 16, 4)
    assert grey(torch.rand(3, 1, 28, 36)).output.shape == (3, 1, 28, 36)


def test_quantizer_picks_the_nearest_code_and_passes_the_gradient_straight_through():
    torch.manual_seed(1)
    quantizer = VectorQuantizer(codes=10, embedding_dim=3)
    with torch.no_grad():
        quantizer.codebook.weight.normal_()
    z_e = torch.randn(2, 3, 4, 5, requires_grad=True)
    q = quantizer(z_e)
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, 3)
    nearest = torch.cdist(flat, quantizer.codebook.weight.detach()).argmin(1)
    assert torch.equal(q.indices.reshape(-1), nearest)
    chosen = quantizer.codebook.weight.detach()[q.indices].permute(0, 3, 1, 2)  # (N, D, h, w)
    torch.testing.assert_close(q.quantized, chosen)  # the codes' values forward
    assert not torch.allclose(q.quantized, z_e)
    upstream = torch.randn_like(z_e)
    (q.quantized * upstream).sum().backward()
    assert torch.equal(z_e.grad, upstream)  # straight through, unchanged
    assert quantizer.codebook.weight.grad is None  # the decoder's gradient never reaches the codes


def grads(model: VQVAE) -> dict[str, torch.Tensor | None]:
    return {"encoder": model.encoder[0].weight.grad, "codebook": model.quantizer.codebook.weight.grad,
            "decoder": model.decoder[-2].weight.grad}


def test_each_term_moves_only_what_equation_3_says():
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    model = small()
    F.mse_loss(model(x).output, x).backward()  # reconstruction: decoder and, straight through, encoder
    g = grads(model)
    assert g["encoder"].abs().sum() > 0 and g["decoder"].abs().sum() > 0 and g["codebook"] is None

    model = small()
    out = model(x)
    out.codebook_loss.backward()  # codebook term: the codes only, and only those chosen
    g = grads(model)
    assert g["encoder"] is None and g["decoder"] is None
    used = torch.zeros(16, dtype=torch.bool)
    used[out.indices.unique()] = True
    assert (g["codebook"][used].abs().sum(1) > 0).all() and (g["codebook"][~used] == 0).all()
    assert 0 < used.sum() < 16

    model = small()
    model(x).commitment_loss.backward()  # commitment term: the encoder only
    g = grads(model)
    assert g["encoder"].abs().sum() > 0 and g["codebook"] is None and g["decoder"] is None


def test_vqvae_loss_is_equation_3_and_training_lowers_it():
    x = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    model = small()
    out = model(x)
    reconstruction = F.mse_loss(out.output, x)
    total = vqvae_loss(reconstruction, out, beta=0.25)
    torch.testing.assert_close(total, reconstruction + out.codebook_loss + 0.25 * out.commitment_loss)
    assert vqvae_loss(reconstruction, out, beta=1.0) > total  # beta weighs the commitment term
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(15):
        optimiser.zero_grad()
        out = model(x)
        loss = vqvae_loss(F.mse_loss(out.output, x), out, beta=0.25)
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        out = model(x)
        assert vqvae_loss(F.mse_loss(out.output, x), out, beta=0.25) < total
        torch.testing.assert_close(model.decode(model.encode(x)), out.output)  # encode, decode = forward
    with pytest.raises(ValueError, match="beta must be a finite number >= 0 .*; got -1"):
        vqvae_loss(reconstruction, out, beta=-1)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0 .*; got nan"):
        vqvae_loss(reconstruction, out, beta=math.nan)
    with pytest.raises(ValueError, match=r"reconstruction must be a scalar tensor .*; got shape \(8,\)"):
        vqvae_loss(torch.zeros(8), out, beta=0.25)


def test_code_usage_on_known_index_sets():
    codes = 8
    one_code = code_usage(code_counts(torch.full((4, 2, 2), 5), codes))
    assert one_code == CodeUsage(perplexity=1.0, dead_codes=7, used_codes=1)
    every_code = code_usage(code_counts(torch.arange(codes).repeat(3), codes))
    assert every_code.perplexity == pytest.approx(codes) and every_code.dead_codes == 0
    four = code_usage(code_counts(torch.tensor([[0, 1], [2, 3]]), codes))
    assert four.perplexity == pytest.approx(4.0) and four.dead_codes == 4
    # frequencies 1/2, 1/4, 1/4: entropy 1.5 bits, perplexity 2^1.5
    skewed = code_usage(code_counts(torch.tensor([0, 0, 1, 2]), codes))
    assert skewed.perplexity == pytest.approx(2 ** 1.5) and skewed.dead_codes == 5
    epoch = code_counts(torch.tensor([0, 0]), codes) + code_counts(torch.tensor([1, 2]), codes)
    assert code_usage(epoch) == skewed  # batches' counts add up to the epoch's
    with pytest.raises(ValueError, match=r"indices must be in \[0, 8\); got values from 0 to 8"):
        code_counts(torch.tensor([0, 8]), codes)
    with pytest.raises(ValueError, match="indices must be an integer tensor; got torch.float32"):
        code_counts(torch.zeros(3), codes)
    with pytest.raises(ValueError, match="counts must be >= 0 with a positive total; got total 0"):
        code_usage(torch.zeros(codes, dtype=torch.long))


def test_bad_input_and_arguments_are_named():
    model = small()
    with pytest.raises(ValueError, match=r"x must be a floating tensor of shape \(N, 3, H, W\) with H and W "
                                         r"positive multiples of 4; got torch.float32 of shape "
                                         r"\(2, 3, 30, 32\)"):
        model(torch.rand(2, 3, 30, 32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*got torch.float32 of shape \(2, 1, 32, 32\)"):
        model(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"got torch.int64 of shape \(1, 3, 8, 8\)"):
        model(torch.zeros(1, 3, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"indices must be an integer tensor of shape \(N, h, w\) with "
                                         r"values in \[0, 16\); got torch.int64 of shape \(1, 2, 2\)"):
        model.decode(torch.full((1, 2, 2), 16))
    with pytest.raises(ValueError, match=r"z_e must have shape \(N, 4, h, w\); got \(1, 3, 2, 2\)"):
        model.quantizer(torch.rand(1, 3, 2, 2))
    with pytest.raises(ValueError, match="codes must be a positive int; got 0"):
        VQVAE(codes=0)
    with pytest.raises(ValueError, match="embedding_dim must be a positive int; got 2.5"):
        VQVAE(embedding_dim=2.5)
    with pytest.raises(ValueError, match="width must be a positive int; got True"):
        VQVAE(width=True)


def test_describe_and_build_make_the_same_network():
    model = small(1)
    description = models.describe(model)
    assert description == {"class": "helpers.models.vqvae.VQVAE",
                           "arguments": {"channels": 1, "width": 8, "codes": 16, "embedding_dim": 4}}
    again = models.build(description)
    assert type(again) is VQVAE and again.arguments == model.arguments
    again.load_state_dict(model.state_dict())  # the same parameters and buffers


def test_fit_trains_it_and_the_training_steps_code_usage_is_counted(tmp_path):
    from helpers.data.loader import TensorLoader
    from helpers.train import fit

    generator = torch.Generator().manual_seed(0)
    train = TensorLoader(torch.rand(24, 3, 16, 16, generator=generator), torch.zeros(24), batch_size=8,
                         shuffle=True)
    val = TensorLoader(torch.rand(8, 3, 16, 16, generator=generator), torch.zeros(8), batch_size=8)
    model = small()
    codes = model.arguments["codes"]
    counts = torch.zeros(codes, dtype=torch.long)
    usage = []

    def objective(model, x, y, at):
        out = model(x)
        reconstruction = F.mse_loss(out.output, x)
        if model.training:
            counts.add_(code_counts(out.indices, codes))
        return {"loss": vqvae_loss(reconstruction, out, beta=0.25), "reconstruction": reconstruction,
                "codebook": out.codebook_loss, "commitment": out.commitment_loss}

    def on_epoch_end(epoch, row):
        usage.append(code_usage(counts))
        assert counts.sum() == 24 * 4 * 4  # every position of every training image, once an epoch
        counts.zero_()

    history = fit(model, objective, train, val, epochs=2, run_dir=tmp_path, device="cpu", progress=False,
                  on_epoch_end=on_epoch_end)
    assert len(history) == 2 and len(usage) == 2
    assert {"train_codebook", "val_commitment", "val_reconstruction"} <= set(history[0])
    assert all(1 <= u.perplexity <= codes and u.dead_codes + u.used_codes == codes for u in usage)
