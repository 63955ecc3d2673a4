"""The course's networks, one module per network, and how a checkpoint rebuilds them.

Each network records its constructor arguments in ``self.arguments`` (plain JSON values), so that
:func:`describe` can store them beside the weights and :func:`build` can make the same network again:
:func:`helpers.train.load_run` reloads a trained model without its data or its training code.
:func:`signature` identifies a network's layout (part of a run's key), :func:`weights_hash` its weights.

- :mod:`helpers.models.conv_autoencoder`: a small convolutional autoencoder (benchmarks, tests).
- :mod:`helpers.models.vqvae`: the VQ-VAE of notebook 07 (straight-through codes, codebook and commitment
  terms, codebook usage).
- :mod:`helpers.models.vae`: the VAE collection's convolutional VAE, optionally class-conditional
  (notebooks 04, 05).
- :mod:`helpers.models.classifier`: a small classifier of real images, frozen after training (05, 07).
- :mod:`helpers.models.gdn`: GDN and inverse GDN (Ballé et al. 2016), beta and gamma kept positive.
- :mod:`helpers.models.gdn_autoencoder`: the GDN network of notebook 06, density image -> pattern.
"""

from __future__ import annotations

import hashlib
import importlib
import json

import torch
from torch import nn

PACKAGE = __name__


def describe(model: nn.Module) -> dict | None:
    """``{"class": "module.Name", "arguments": {...}}`` for a network of this package, else None."""
    arguments = getattr(model, "arguments", None)
    module = type(model).__module__
    if arguments is None or not module.startswith(PACKAGE + "."):
        return None
    return {"class": f"{module}.{type(model).__qualname__}", "arguments": dict(arguments)}


def signature(model: nn.Module) -> str:
    """16 hex digits that change with the network's class, arguments, and parameter and buffer names
    and shapes: part of a run's identity, so that a changed network never reuses an old checkpoint."""
    layout = [(name, tuple(t.shape)) for name, t in model.state_dict().items()]
    text = json.dumps({"description": describe(model), "layout": layout}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def weights_hash(model: nn.Module) -> str:
    """SHA-256 of a model's parameters and buffers (names, shapes, dtypes, bytes), first 16 hex digits:
    the same for the same weights, whatever file or device they came from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return digest.hexdigest()[:16]


def build(description: dict) -> nn.Module:
    """The network :func:`describe` described, freshly initialised. Only this package's classes are
    built: a checkpoint cannot name arbitrary code."""
    name = description.get("class", "") if isinstance(description, dict) else ""
    module, _, cls = name.rpartition(".")
    if not module.startswith(PACKAGE + "."):
        raise ValueError(f"description must name a class of {PACKAGE}; got {description!r}")
    return getattr(importlib.import_module(module), cls)(**description.get("arguments", {}))
