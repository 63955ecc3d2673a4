"""Pseudo-diffraction: a deterministic stand-in for the private data of the overfitting study.

The study (notebook 06) trained an autoencoder on 1 x 128 x 128 electron-diffraction patterns of cubic
crystals. Those patterns are not public, so this module makes patterns of the same kind from an index:

- a cubic lattice seen down its [001] axis, with P (primitive), I (body-centred) or F (face-centred)
  centring: the label, 0, 1 or 2;
- the **density image**: the projected density of the lattice, one Gaussian blob per atom column,
  in a 128 x 128 field of view, rotated by the same angle as the pattern;
- the **pattern**: the kinematic diffraction of that lattice. Reflections ``g = (h, k, 0)`` sit on the
  reciprocal lattice; their intensity is the squared structure factor of the centring (which is 0
  for the reflections the centring forbids: I needs ``h + k`` even, F needs ``h`` and ``k`` both even),
  times a Debye-Waller fall-off ``exp(-B |g|^2)`` and a two-beam thickness factor
  ``sin^2(pi t s) / (pi t s)^2`` with ``s`` growing with ``|g|``. Shown on a log scale, in [0, 1].

This is not a dynamical (Bloch-wave) simulation: there is no multiple scattering, so intensities are
only qualitatively right. What it keeps is what the study needs: 4-fold symmetric spot patterns
whose spacing, rotation, spot size and fall-off vary from image to image, a class that decides which
spots are present, and the paired real-space image. The same index gives the same arrays on every
machine (only NumPy's seeded generator and float64 arithmetic are used).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

SIDE = 128
CENTRINGS = ("P", "I", "F")
#: Atom columns of each centring in projection along [001], in units of the lattice constant.
MOTIFS = {
    "P": ((0.0, 0.0),),
    "I": ((0.0, 0.0), (0.5, 0.5)),
    "F": ((0.0, 0.0), (0.5, 0.5), (0.5, 0.0), (0.0, 0.5)),
}
#: Split sizes of the study's configuration (train / val / test).
SPLIT_SIZES = {"train": 9454, "val": 1500, "test": 1500}
#: Raised with every change that alters the images: cached arrays are kept per version.
GENERATOR_VERSION = 1
#: Images per cached file; file ``k`` holds indices ``k * CHUNK`` to ``(k + 1) * CHUNK - 1``.
CHUNK = 256
_LEVELS = 65535  # cached as 16-bit fixed point: x = round(x * 65535) / 65535, error <= 7.7e-6


def structure_factor(centring: str, h: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``|F(h, k, 0)|^2`` of a centring's motif, normalised to 1: 1 where allowed, 0 where forbidden."""
    motif = np.array(MOTIFS[centring])  # (M, 2)
    hk = np.stack([np.asarray(h, dtype=float).ravel(), np.asarray(k, dtype=float).ravel()], axis=1)
    amplitude = np.exp(2j * np.pi * hk @ motif.T).sum(axis=1) / len(motif)
    return (np.abs(amplitude) ** 2).reshape(np.shape(h))


def _blobs(centres: np.ndarray, weights: np.ndarray, width: float, radius: int = 6) -> np.ndarray:
    """Sum of Gaussian blobs of ``width`` px at ``centres`` ``(K, 2)`` (row, col), on a SIDE x SIDE grid."""
    image = np.zeros((SIDE, SIDE))
    offsets = np.arange(-radius, radius + 1)
    base = np.floor(centres).astype(int)  # (K, 2)
    rows = base[:, 0, None, None] + offsets[None, :, None]  # (K, R, 1)
    cols = base[:, 1, None, None] + offsets[None, None, :]  # (K, 1, R)
    d2 = (rows - centres[:, 0, None, None]) ** 2 + (cols - centres[:, 1, None, None]) ** 2
    values = weights[:, None, None] * np.exp(-d2 / (2 * width**2))
    rows, cols = np.broadcast_arrays(rows, cols)
    # cut at a distance, not at the patch's edge, so that a symmetric set of blobs stays symmetric
    inside = (rows >= 0) & (rows < SIDE) & (cols >= 0) & (cols < SIDE) & (d2 <= (radius - 1) ** 2)
    np.add.at(image, (rows[inside], cols[inside]), values[inside])
    return image


def pseudo_diffraction(index: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """Pattern ``(128, 128)``, density image ``(128, 128)`` (both float32 in [0, 1]) and label of ``index``.

    The label cycles P, I, F with the index, so every split is balanced. All other parameters are
    drawn from ``numpy.random.default_rng([seed, index])``: reciprocal spacing 7-13 px, in-plane
    rotation 0-90 degrees, spot width 0.7-1.4 px, fall-off ``B`` and thickness.
    """
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index must be a non-negative int; got {index!r}")
    label = int(index) % 3
    motif = np.array(MOTIFS[CENTRINGS[label]])  # (M, 2)
    rng = np.random.default_rng([seed, int(index)])
    spacing = rng.uniform(7.0, 13.0)  # reciprocal lattice spacing, px
    angle = rng.uniform(0.0, np.pi / 2)
    spot_width = rng.uniform(0.7, 1.4)
    falloff = rng.uniform(0.5, 2.0)  # B, in units of the spacing of the outermost ring
    thickness = rng.uniform(0.2, 1.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([(SIDE - 1) / 2, (SIDE - 1) / 2])  # the array's centre: rot90 maps it to itself

    # reciprocal lattice (h, k): structure factor of the motif, fall-off, thickness
    reach = int(np.ceil(SIDE / spacing))
    h, k = np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1), indexing="ij")
    hk = np.stack([h.ravel(), k.ravel()], axis=1).astype(float)  # (G, 2)
    structure = structure_factor(CENTRINGS[label], hk[:, 0], hk[:, 1])  # (G,): 1 allowed, 0 forbidden
    g = hk @ rotation.T * spacing  # spot positions relative to the centre, px
    radius = np.hypot(g[:, 0], g[:, 1]) / (SIDE / 2)  # 0 at the centre, 1 at the edge
    excitation = np.pi * thickness * 4 * radius  # grows away from the zone axis
    two_beam = np.sinc(excitation / np.pi) ** 2  # sin^2(x) / x^2
    intensity = structure * np.exp(-falloff * radius**2) * (0.2 + 0.8 * two_beam)
    keep = (intensity > 1e-6) & (radius < 1.0)
    spots = _blobs(centre + g[keep], intensity[keep], spot_width)
    pattern = np.log1p(1000 * spots) / np.log1p(1000 * spots.max())

    # real space: atom columns of the same lattice, period SIDE / spacing px, same rotation
    period = SIDE / spacing
    cells = int(np.ceil(SIDE / period)) + 2
    i, j = np.meshgrid(np.arange(-cells, cells + 1), np.arange(-cells, cells + 1), indexing="ij")
    cell_origins = np.stack([i.ravel(), j.ravel()], axis=1).astype(float)
    atoms = (cell_origins[:, None, :] + motif[None, :, :]).reshape(-1, 2) * period @ rotation.T + centre
    inside = np.all((atoms > -5) & (atoms < SIDE + 5), axis=1)
    density = _blobs(atoms[inside], np.ones(inside.sum()), width=0.12 * period + 0.6)
    density = density / density.max()
    return pattern.astype(np.float32), density.astype(np.float32), label


class PseudoDiffraction(Dataset):
    """``(pattern, label)`` pairs: pattern ``(1, 128, 128)`` float32 in [0, 1], label 0/1/2 (P/I/F).

    Images are made on demand from ``offset + i``; the splits use disjoint index ranges.
    :meth:`density` gives the paired density image ``(1, 128, 128)``.
    """

    classes = CENTRINGS

    def __init__(self, size: int, offset: int = 0, seed: int = 0) -> None:
        self.size, self.offset, self.seed = size, offset, seed

    def __len__(self) -> int:
        return self.size

    def _item(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        if not 0 <= i < self.size:
            raise IndexError(f"index {i} out of range for {self.size} images")
        return pseudo_diffraction(self.offset + i, self.seed)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        pattern, _, label = self._item(i)
        return torch.from_numpy(pattern)[None], label

    def density(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self._item(i)[1])[None]


def cache_folder(root: Path, seed: int = 0) -> Path:
    """Where the arrays of ``seed`` are cached under ``root`` (``data/``), by the generator's version."""
    return Path(root) / "pseudo-diffraction" / f"v{GENERATOR_VERSION}-seed{seed}"


def _chunk(first: int, seed: int) -> dict[str, np.ndarray]:
    """Images ``first .. first + CHUNK - 1``, as 16-bit patterns and densities and int64 labels."""
    made = [pseudo_diffraction(first + i, seed) for i in range(CHUNK)]
    patterns, densities, labels = (np.stack(parts) for parts in zip(*made, strict=True))
    return {
        "patterns": np.round(patterns.astype(np.float64) * _LEVELS).astype(np.uint16),
        "densities": np.round(densities.astype(np.float64) * _LEVELS).astype(np.uint16),
        "labels": labels.astype(np.int64),
    }


def generate(offset: int, count: int, seed: int = 0, cache: Path | None = None,
             progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images ``offset .. offset + count - 1`` at once: patterns and densities float32
    ``(count, 1, 128, 128)`` in [0, 1], labels int64 ``(count,)``.

    Generating takes about 4 ms an image, so with ``cache`` (a folder, see :func:`cache_folder`) each
    block of :data:`CHUNK` images is made once, written atomically (an interrupted run keeps the
    blocks it finished) and read back afterwards. Values are on a 16-bit grid (``round(x * 65535) /
    65535``, within 7.7e-6 of :func:`pseudo_diffraction`'s) whether or not a cache is used, so a
    cached and a fresh run see the same numbers.
    """
    first_chunk, end = offset // CHUNK, offset + count
    chunks = range(first_chunk, -(-end // CHUNK))
    parts = []
    for k in tqdm(chunks, desc="pseudo-diffraction", unit=f"x{CHUNK} images", disable=not progress,
                  leave=False):
        path = None if cache is None else Path(cache) / f"chunk-{k * CHUNK:06d}.npz"
        if path is not None and path.exists():
            with np.load(path) as stored:
                part = {name: stored[name] for name in stored.files}
        else:
            part = _chunk(k * CHUNK, seed)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_name(path.stem + ".part.npz")
                np.savez(temporary, **part)
                os.replace(temporary, path)
        parts.append(part)
    skip = offset - first_chunk * CHUNK

    def joined(name: str) -> np.ndarray:
        return np.concatenate([p[name] for p in parts])[skip: skip + count]

    patterns, densities = (torch.from_numpy(joined(n).astype(np.float32) / _LEVELS)[:, None]
                           for n in ("patterns", "densities"))
    return patterns, densities, torch.from_numpy(joined("labels"))
