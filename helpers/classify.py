"""A classifier of the real training images, trained once and then frozen: how recognisable generated
images are (notebook 05), and the features of a Fréchet distance without Inception (notebook 07).

    clf = train_classifier(images, labels, val_images, val_labels, root=runs_dir() / "05_cvae",
                           info=train_info, val_info=val_info, epochs=4)
    print(clf.hash, clf.val_accuracy)   # the weights' hash identifies the frozen model
    accuracy(clf.model, generated, intended_labels)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from helpers import models
from helpers.data import DatasetInfo
from helpers.images import as_float
from helpers.loader import TensorLoader
from helpers.models.classifier import Classifier
from helpers.train import Step, fit, load_run, run_directory
from helpers.vae_experiments import weights_hash


@dataclass(frozen=True)
class FrozenClassifier:
    """``model`` (eval mode, CPU, gradients off), ``hash`` (:func:`weights_hash`), ``val_accuracy``
    in [0, 1] on the validation images, and its ``run_dir``."""

    model: Classifier
    hash: str
    val_accuracy: float
    run_dir: Path


def _objective(model: Classifier, x: Tensor, y: Tensor, at: Step) -> dict[str, Tensor]:
    logits = model(x)
    return {"loss": F.cross_entropy(logits, y), "accuracy": (logits.argmax(1) == y).float().mean()}


def train_classifier(images: Tensor, labels: Tensor, val_images: Tensor, val_labels: Tensor, *, root: Path,
                     info: DatasetInfo, val_info: DatasetInfo, epochs: int = 3, width: int = 32,
                     batch_size: int = 128, seed: int = 0, progress: bool = True) -> FrozenClassifier:
    """Train (or reload) a :class:`Classifier` on ``images`` ``(N, C, H, W)`` (uint8 or float in
    [0, 1]) and ``labels`` ``(N,)``; return it frozen. ``info``/``val_info`` identify the data (part
    of the run's folder name, with the settings)."""
    classes = int(max(labels.max(), val_labels.max())) + 1
    torch.manual_seed(seed)
    model = Classifier(images.shape[1], classes, width, side=images.shape[-1])
    config = {"model": "classifier", "network": models.signature(model), "epochs": epochs, "width": width,
              "batch_size": batch_size, "seed": seed, "classes": classes,
              "sizes": [len(images), len(val_images)], "side": images.shape[-1]}
    run_dir = run_directory(root, "classifier", config, data=[info, val_info])
    train = TensorLoader(images, labels, batch_size=batch_size, shuffle=True, seed=seed, info=info)
    val = TensorLoader(val_images, val_labels, batch_size=500, info=val_info)
    history = fit(model, _objective, train, val, epochs, run_dir, seed=seed,
                  train_eval_size=min(1000, len(images)), progress=progress)
    model = load_run(run_dir).model.requires_grad_(False)
    return FrozenClassifier(model, weights_hash(model), history[-1]["val_accuracy"], run_dir)


@torch.no_grad()
def accuracy(model: Classifier, images: Tensor, labels: Tensor) -> float:
    """The fraction of ``images`` (uint8 or float in [0, 1]) that ``model`` assigns to ``labels``."""
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"images and labels must have the same non-zero length; got {len(images)} and "
                         f"{len(labels)}")
    device = next(model.parameters()).device
    predicted = model.predict(as_float(images).to(device)).cpu()
    return float((predicted == labels.cpu()).float().mean())
