"""A classifier of the real training images, trained once and then frozen: how recognisable generated
images are (notebook 05), and the features of a Fréchet distance without Inception (notebook 07).

    judge = train_classifier(images, labels, val_images, val_labels, root=runs_dir() / "05_cvae",
                             info=train_info, val_info=val_info, epochs=4)  # a helpers.train.Run
    print(weights_hash(judge.model), judge.history[-1]["val_accuracy"])  # the hash names the weights
    accuracy(judge.model, generated, intended_labels)
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from helpers import models
from helpers.data import DatasetInfo, TensorLoader
from helpers.images import as_float
from helpers.locks import exclusive
from helpers.models.classifier import Classifier
from helpers.train import Run, Step, run, run_directory


def _objective(model: Classifier, x: Tensor, y: Tensor, at: Step) -> dict[str, Tensor]:
    logits = model(x)
    return {"loss": F.cross_entropy(logits, y), "accuracy": (logits.argmax(1) == y).float().mean()}


def train_classifier(images: Tensor, labels: Tensor, val_images: Tensor, val_labels: Tensor, *, root: Path,
                     info: DatasetInfo, val_info: DatasetInfo, epochs: int = 3, width: int = 32,
                     batch_size: int = 128, seed: int = 0, progress: bool = True) -> Run:
    """Train (or reload) a :class:`Classifier` on ``images`` ``(N, C, H, W)`` (uint8 or float in
    [0, 1]) and ``labels`` ``(N,)`` with :func:`helpers.train.run`; return the run with its model
    frozen (eval mode, CPU, gradients off; :func:`helpers.models.weights_hash` names its weights, and
    ``history[-1]["val_accuracy"]`` is its accuracy in [0, 1] on the validation images).
    ``info``/``val_info`` identify the data (part of the run's folder name, with the settings).
    Raises :class:`helpers.train.NonFiniteLossError` if training went NaN."""
    classes = int(max(labels.max(), val_labels.max())) + 1
    torch.manual_seed(seed)
    model = Classifier(images.shape[1], classes, width, side=images.shape[-1])
    config = {"model": "classifier", "network": models.signature(model), "epochs": epochs, "width": width,
              "batch_size": batch_size, "seed": seed, "classes": classes,
              "sizes": [len(images), len(val_images)], "side": images.shape[-1]}
    run_dir = run_directory(root, "classifier", config, data=[info, val_info])
    batches = TensorLoader(images, labels, batch_size=batch_size, shuffle=True, seed=seed, info=info)
    val = TensorLoader(val_images, val_labels, batch_size=500, info=val_info)
    judge = run(run_dir, model, _objective, batches, val, epochs, seed=seed,
                train_eval_size=min(1000, len(images)), progress=progress).trained()
    judge.model.requires_grad_(False)
    return judge


def train_shared_classifier(images: Tensor, labels: Tensor, val_images: Tensor, val_labels: Tensor, *,
                            root: Path, timeout: float = 6 * 3600.0, **kwargs) -> Run:
    """:func:`train_classifier` under the lock ``root/classifier.lock``: the first task of a job array
    (notebook 07) trains the classifier, the others wait and then reload the finished run (the same
    weights, the same hash) instead of training into the same folder at the same time. ``kwargs`` go
    to ``train_classifier``."""
    with exclusive(Path(root) / "classifier.lock", timeout=timeout):
        return train_classifier(images, labels, val_images, val_labels, root=root, **kwargs)


@torch.no_grad()
def accuracy(model: Classifier, images: Tensor, labels: Tensor) -> float:
    """The fraction of ``images`` (uint8 or float in [0, 1]) that ``model`` assigns to ``labels``."""
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"images and labels must have the same non-zero length; got {len(images)} and "
                         f"{len(labels)}")
    device = next(model.parameters()).device
    predicted = model.predict(as_float(images).to(device)).cpu()
    return float((predicted == labels.cpu()).float().mean())
