"""The VQ-VAE of notebook 07, and how to follow the use of its codebook.

A vector-quantised autoencoder (van den Oord, Vinyals and Kavukcuoglu 2017, "Neural Discrete
Representation Learning"): the encoder's output z_e, one D-vector per position of an (H/4, W/4) grid,
is replaced by its nearest of K codebook vectors e, and the decoder sees only those. The network is
the one of the public reproduction that the write-up of notebook 07 trained (Kumar, Deleu and Racah
2018, pytorch-vqvae) for 32 x 32 images: two 4x4 stride-2 convolutions and two residual blocks down,
K = 512 codes of D = 256, the mirror image up; BatchNorm as there, and a Sigmoid output in [0, 1]
(that repository scales images to [-1, 1] with a Tanh) because SSIM and its kin expect [0, 1].

The gradient skips the quantisation (straight-through estimator): the decoder's gradient with respect
to the quantised vectors is passed to z_e unchanged. The loss is the paper's equation (3), with means
over elements as the reproduction computes them:

    L = reconstruction(x, x_hat) + |sg[z_e] - e|^2 + beta |z_e - sg[e]|^2,                  (3)

where sg stops the gradient: the codebook term moves only the codes, the commitment term only the
encoder. beta is the caller's to state (:func:`vqvae_loss` has no default): the paper uses 0.25, the
reproduction's default is 1.0.

Codebook usage: ``VQVAEOutput.indices`` are the codes chosen; :func:`code_counts` counts them (add
the counts of an epoch's batches), :func:`code_usage` gives the perplexity (exp of the entropy of the
code frequencies: K when every code is used equally, 1 when one code takes all) and the dead codes
(never used). An objective for :func:`helpers.train.fit`, counting the codes of the training steps::

    counts = torch.zeros(model.arguments["codes"], dtype=torch.long, device=device)

    def objective(model, x, y, at):
        out = model(x)
        reconstruction = loss(out.output, x)
        if model.training:
            counts.add_(code_counts(out.indices, model.arguments["codes"]))
        return {"loss": vqvae_loss(reconstruction, out, beta=0.25), "reconstruction": reconstruction,
                "codebook": out.codebook_loss, "commitment": out.commitment_loss, "output": out.output,
                "target": x}

    # on_epoch_end: usage = code_usage(counts); counts.zero_()
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.checks import positive_int


class Quantized(NamedTuple):
    """What :class:`VectorQuantizer` returns for ``z_e`` of shape ``(N, D, h, w)``."""

    quantized: Tensor  # (N, D, h, w): the codes' values forward, z_e's gradient backward (straight-through)
    codebook_loss: Tensor  # scalar: mean of (e - sg[z_e])^2, moves the codes only
    commitment_loss: Tensor  # scalar: mean of (z_e - sg[e])^2, moves the encoder only
    indices: Tensor  # (N, h, w) int64 in [0, K): the code chosen at each position


class VQVAEOutput(NamedTuple):
    """What :class:`VQVAE` returns for images ``(N, C, H, W)``."""

    output: Tensor  # (N, C, H, W) in [0, 1]: the reconstruction
    codebook_loss: Tensor  # scalar, >= 0
    commitment_loss: Tensor  # scalar, >= 0
    indices: Tensor  # (N, H/4, W/4) int64 in [0, K)


class VectorQuantizer(nn.Module):
    """Nearest of ``codes`` codebook vectors of ``embedding_dim`` dimensions (Euclidean), with the
    straight-through gradient and the two loss terms of equation (3).

    The codebook starts uniform in [-1/K, 1/K], as in the reproduction. Distances and losses are
    computed in float32 whatever autocast is active (bfloat16 would blur the nearest code).
    """

    def __init__(self, codes: int = 512, embedding_dim: int = 256) -> None:
        super().__init__()
        positive_int("codes", codes)
        positive_int("embedding_dim", embedding_dim)
        self.codebook = nn.Embedding(codes, embedding_dim)  # weight (K, D)
        nn.init.uniform_(self.codebook.weight, -1.0 / codes, 1.0 / codes)

    def forward(self, z_e: Tensor) -> Quantized:
        dim = self.codebook.weight.shape[1]
        if z_e.dim() != 4 or z_e.shape[1] != dim:
            raise ValueError(f"z_e must have shape (N, {dim}, h, w); got {tuple(z_e.shape)}")
        n, _, h, w = z_e.shape
        with torch.autocast(z_e.device.type, enabled=False):
            z = z_e.float()
            weight = self.codebook.weight.float()
            with torch.no_grad():
                flat = z.permute(0, 2, 3, 1).reshape(-1, dim)  # (N h w, D)
                distances = ((flat * flat).sum(1, keepdim=True) - 2 * flat @ weight.T
                             + (weight * weight).sum(1))  # (N h w, K): |z - e_k|^2
                indices = distances.argmin(1)  # (N h w,)
            chosen = weight[indices].view(n, h, w, dim).permute(0, 3, 1, 2)  # (N, D, h, w), grad to codes
            codebook_loss = F.mse_loss(chosen, z.detach())
            commitment_loss = F.mse_loss(z, chosen.detach())
            quantized = z + (chosen - z).detach()  # value of the codes, gradient of z_e
        return Quantized(quantized, codebook_loss, commitment_loss, indices.view(n, h, w))


class ResidualBlock(nn.Module):
    """``x + f(x)`` with f = ReLU, 3x3 conv, BatchNorm, ReLU, 1x1 conv, BatchNorm; ``(N, dim, h, w)`` in
    and out."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(dim, dim, 3, 1, 1), nn.BatchNorm2d(dim),  # (N, dim, h, w)
            nn.ReLU(),
            nn.Conv2d(dim, dim, 1), nn.BatchNorm2d(dim),  # (N, dim, h, w)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class VQVAE(nn.Module):
    """``(N, channels, H, W)`` images in [0, 1] -> :class:`VQVAEOutput`, through an ``(H/4, W/4)`` grid
    of codes, one of ``codes`` (K) vectors of ``embedding_dim`` (D) dimensions each.

    ``width``: channels of the outer convolutions (at H/2 x W/2); the residual blocks and the codes
    have D channels. The defaults, ``width = D = 256``, ``K = 512``, are the reproduction's network for
    CIFAR-10 (4.88 M parameters; 0.75 M with D = 64). ``H`` and ``W`` must be multiples of 4.
    """

    def __init__(self, channels: int = 3, width: int = 256, codes: int = 512,
                 embedding_dim: int = 256) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("width", width)):
            positive_int(name, value)
        self.quantizer = VectorQuantizer(codes, embedding_dim)  # checks codes and embedding_dim
        self.arguments = {"channels": channels, "width": width, "codes": codes,
                          "embedding_dim": embedding_dim}
        d = embedding_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),  # (N, width, H/2, W/2)
            nn.Conv2d(width, d, 4, 2, 1),  # (N, D, H/4, W/4)
            ResidualBlock(d),  # (N, D, H/4, W/4)
            ResidualBlock(d),  # (N, D, H/4, W/4): z_e
        )
        self.decoder = nn.Sequential(
            ResidualBlock(d),  # (N, D, H/4, W/4)
            ResidualBlock(d),  # (N, D, H/4, W/4)
            nn.ReLU(),
            nn.ConvTranspose2d(d, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),  # (N, width, H/2, W/2)
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Sigmoid(),  # (N, channels, H, W) in [0, 1]
        )
        for module in self.modules():  # Xavier-uniform convolutions, zero biases, as the reproduction
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def _check(self, x: Tensor) -> None:
        channels = self.arguments["channels"]
        if (not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != channels or not x.is_floating_point()
                or x.shape[-1] % 4 or x.shape[-2] % 4 or x.shape[-1] == 0 or x.shape[-2] == 0):
            shown = f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a floating tensor of shape (N, {channels}, H, W) with H and W "
                             f"positive multiples of 4; got {shown}")

    def forward(self, x: Tensor) -> VQVAEOutput:
        self._check(x)
        q = self.quantizer(self.encoder(x))
        return VQVAEOutput(self.decoder(q.quantized), q.codebook_loss, q.commitment_loss, q.indices)

    def encode(self, x: Tensor) -> Tensor:
        """The codes ``(N, H/4, W/4)`` int64 of images ``(N, channels, H, W)`` in [0, 1]."""
        self._check(x)
        return self.quantizer(self.encoder(x)).indices

    def decode(self, indices: Tensor) -> Tensor:
        """Images ``(N, channels, 4 h, 4 w)`` in [0, 1] from codes ``(N, h, w)`` (integers in [0, K))."""
        codes = self.arguments["codes"]
        if (not isinstance(indices, Tensor) or indices.dim() != 3 or indices.is_floating_point()
                or indices.numel() == 0 or indices.min() < 0 or indices.max() >= codes):
            shown = (f"{indices.dtype} of shape {tuple(indices.shape)}" if isinstance(indices, Tensor)
                     else type(indices).__name__)
            raise ValueError(f"indices must be an integer tensor of shape (N, h, w) with values in "
                             f"[0, {codes}); got {shown}")
        quantized = self.quantizer.codebook(indices).permute(0, 3, 1, 2)  # (N, D, h, w)
        return self.decoder(quantized)


def vqvae_loss(reconstruction: Tensor, out: VQVAEOutput, *, beta: float) -> Tensor:
    """Equation (3): ``reconstruction + out.codebook_loss + beta * out.commitment_loss``, a scalar.

    ``reconstruction``: the scalar reconstruction loss of ``out.output`` (MSE, 1 - SSIM, ...);
    ``beta`` >= 0, finite: 0.25 in the paper, 1.0 by default in the reproduction."""
    if isinstance(beta, bool) or not isinstance(beta, int | float) or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0 (the paper's 0.25, the reproduction's 1.0); "
                         f"got {beta!r}")
    if not isinstance(reconstruction, Tensor) or reconstruction.dim() != 0:
        shown = f"shape {tuple(reconstruction.shape)}" if isinstance(reconstruction, Tensor) else \
            type(reconstruction).__name__
        raise ValueError(f"reconstruction must be a scalar tensor (the reconstruction loss); got {shown}")
    return reconstruction + out.codebook_loss + beta * out.commitment_loss


def code_counts(indices: Tensor, codes: int) -> Tensor:
    """How often each of ``codes`` codes occurs in ``indices`` (integers in [0, codes), any shape):
    an int64 tensor ``(codes,)`` on ``indices``' device. Counts of several batches add up.

    Made with device operations only, so a training step on a GPU does not wait for it: the range of
    the indices is checked on the CPU only (on a GPU an index out of range stops the kernel)."""
    positive_int("codes", codes)
    if not isinstance(indices, Tensor) or indices.is_floating_point() or indices.dtype == torch.bool:
        shown = indices.dtype if isinstance(indices, Tensor) else type(indices).__name__
        raise ValueError(f"indices must be an integer tensor; got {shown}")
    flat = indices.reshape(-1).long()
    if flat.device.type == "cpu" and flat.numel() and (flat.min() < 0 or flat.max() >= codes):
        raise ValueError(f"indices must be in [0, {codes}); got values from {flat.min().item()} to "
                         f"{flat.max().item()}")
    counts = torch.zeros(codes, dtype=torch.long, device=flat.device)
    return counts.scatter_add_(0, flat, torch.ones_like(flat))


class CodeUsage(NamedTuple):
    """How the codebook was used over some set of positions (an epoch, a test set)."""

    perplexity: float  # exp(entropy of the code frequencies), in [1, K]
    dead_codes: int  # codes never used, in [0, K - 1]
    used_codes: int  # K - dead_codes


def code_usage(counts: Tensor) -> CodeUsage:
    """Perplexity and dead codes of the code counts ``(K,)`` (from :func:`code_counts`, at least one
    code counted). Zero counts add nothing to the entropy (0 log 0 = 0)."""
    if not isinstance(counts, Tensor) or counts.dim() != 1 or counts.numel() == 0:
        shown = f"shape {tuple(counts.shape)}" if isinstance(counts, Tensor) else type(counts).__name__
        raise ValueError(f"counts must be a tensor of shape (K,); got {shown}")
    counts = counts.double()
    if (counts < 0).any() or counts.sum() == 0:
        raise ValueError(f"counts must be >= 0 with a positive total; got total {counts.sum().item():g} and "
                         f"smallest {counts.min().item():g}")
    p = counts[counts > 0] / counts.sum()
    dead = int((counts == 0).sum())
    return CodeUsage(float(torch.exp(-(p * p.log()).sum())), dead, counts.numel() - dead)
