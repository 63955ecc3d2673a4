"""Images as the course's functions take them: ``(N, C, H, W)`` tensors, and back for plotting."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def as_float(images: Tensor) -> Tensor:
    """uint8 images -> float32 in [0, 1] (divided by 255); float images unchanged. Any shape."""
    return images.float() / 255 if images.dtype == torch.uint8 else images


def as_batch(image: np.ndarray) -> Tensor:
    """A NumPy image, ``(H, W)`` or ``(H, W, C)``, as a batch of one: ``(1, C, H, W)``, same dtype.

    Values are not rescaled: convert first (``skimage.util.img_as_float64`` maps 8-bit to [0, 1]).
    """
    array = np.asarray(image)
    if array.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C); got shape {array.shape}")
    t = torch.from_numpy(np.ascontiguousarray(array))
    return t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None].contiguous()


def as_image(batch: Tensor, index: int = 0) -> np.ndarray:
    """Image ``index`` of an ``(N, C, H, W)`` batch as NumPy for ``imshow``: ``(H, W)`` or ``(H, W, C)``."""
    if batch.dim() != 4:
        raise ValueError(f"batch must have shape (N, C, H, W); got shape {tuple(batch.shape)}")
    image = batch[index].detach().cpu().float()
    return (image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)).numpy()
