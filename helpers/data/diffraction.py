"""Pseudo-diffraction: a deterministic stand-in for the private data of the overfitting study.

The study (notebook 06) trained a network that maps a crystal's projected density image to its
1 x 128 x 128 electron-diffraction pattern. Those patterns are not public, so this module makes pairs
of the same kind from an index, in two kinds (``KINDS``), both of cubic crystals seen down [001] with P
(primitive), I (body-centred) or F (face-centred) centring (the label, 0, 1 or 2):

- ``"lacbed"`` (:func:`pseudo_lacbed`, notebook 06's data): the **000-beam intensity as a function of
  incident-beam tilt**, as large-angle convergent-beam (LACBED) images show it: a 4mm-symmetric net of
  dark Bragg lines with fringes, a bright centre and a ring. Each reflection ``g = (h, k, 0)`` that the
  centring allows contributes its two-beam rocking curve (:func:`two_beam_transmission`)

      I_g = 1 - A_g sin^2(pi t sqrt(s_g^2 + xi_g^-2)) / (1 + (s_g xi_g)^2),

  with ``s_g`` the excitation error at that tilt (linear in the tilt, zero on the Bragg line), ``xi_g``
  the extinction distance, ``t`` the thickness and ``A_g`` a depth in [0.5, 1]; the pattern is the
  product of these curves over all reflections, and of one more for the first-order Laue zone, drawn
  as a ring (FOLZ-like: a ring, not the FOLZ lines). Symmetry-equivalent reflections share ``xi_g``
  and ``A_g``, so the pattern is 4mm symmetric about the array's centre, with the array's axes and
  diagonals as mirror lines.
- ``"spots"`` (:func:`pseudo_diffraction`): a kinematic spot pattern. Reflections sit on the reciprocal
  lattice; their intensity is the squared structure factor of the centring (0 for the reflections the
  centring forbids: I needs ``h + k`` even, F needs ``h`` and ``k`` both even), times a Debye-Waller
  fall-off ``exp(-B |g|^2)`` and a thickness factor ``sin^2(pi t s) / (pi t s)^2`` with ``s`` growing
  with ``|g|``. Shown on a log scale, in [0, 1]; rotated in-plane, so only 4-fold symmetric.

Each kind is paired with the **density image** of the same crystal: the projected density of the
lattice, one Gaussian blob per atom column, in a 128 x 128 field of view.

Neither kind is a many-beam (Bloch-wave) simulation. The spots are kinematic; the LACBED kind takes
each reflection's dynamical two-beam solution on its own, as if only it and the direct beam were
excited, and multiplies the results: there is no many-beam coupling between reflections, no
absorption, and the first-order Laue zone is a ring, not its lines, so intensities are only
qualitatively right. Seen down [001], the zero-layer reflections that I and F centring allow form
square nets again (``h + k`` even: the primitive net rotated by 45 degrees and sqrt(2) wider; ``h``,
``k`` both even: twice as wide), so in the LACBED kind the centring shows as a scale of the net of
lines, which the lattice constant also sets. What they keep is what the study needs: 4-fold
symmetric patterns whose scale, contrast and detail vary from image to image, a class that decides
which reflections appear, and the paired real-space image. The same index gives the same arrays on
every machine (only NumPy's seeded generators and float64 arithmetic are used).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from helpers.checks import positive_int

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
#: The kinds of pattern, and the generator of each (``index, seed -> pattern, density, label``).
KINDS = ("spots", "lacbed")
#: Raised with every change that alters the spot images: cached arrays are kept per version.
GENERATOR_VERSION = 1
#: The same for the LACBED images, which are cached apart (``CACHE_NAMES``).
LACBED_VERSION = 1
#: Folder of each kind's cache under ``data/``.
CACHE_NAMES = {"spots": "pseudo-diffraction", "lacbed": "pseudo-lacbed"}

# The LACBED kind's constants. Tilts and reflections are both measured in pixels of the pattern.
TILT_SCALE = 256.0  # a* (px of the pattern) = TILT_SCALE / a (px of the density image)
EXCITATION_SCALE = 2.5e-4  # s_g (1/nm) = EXCITATION_SCALE * (p.g + |g|^2 / 2), p and g in px
XI_0 = 40.0  # extinction distance (nm) of a reflection before its Debye-Waller and family factors
LAUE_K = 68.0  # px: the first-order Laue zone's ring has radius sqrt(2 LAUE_K a*) (44-59 px here)
RING_XI, RING_DEPTH = 60.0, 0.5  # the ring's extinction distance (nm) and depth
THICKNESS = (40.0, 160.0)  # nm
MIN_LINE_WIDTH = 0.05  # px: reflections whose line would darken less than this (integrated) are left out
_FAMILIES = 16  # the family tables cover |h|, |k| < 16 (a* >= 14.2 px needs at most 13)
_SUB = (np.arange(4) - 1.5) / 4  # 4 x 4 samples per pixel, so that thin lines are not aliased
_FIELD = (SIDE - 1) / 2 * np.sqrt(2)  # px from the centre to a corner pixel's centre
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


def _lattice_density(motif: np.ndarray, period: float, rotation: np.ndarray, width: float) -> np.ndarray:
    """Projected density ``(128, 128)`` in [0, 1] (maximum 1): one Gaussian blob of ``width`` px per atom
    column of ``motif`` ``(M, 2)`` (in lattice units), lattice constant ``period`` px, rotated by
    ``rotation`` ``(2, 2)`` about the array's centre."""
    centre = np.array([(SIDE - 1) / 2, (SIDE - 1) / 2])
    cells = int(np.ceil(SIDE / period)) + 2
    i, j = np.meshgrid(np.arange(-cells, cells + 1), np.arange(-cells, cells + 1), indexing="ij")
    cell_origins = np.stack([i.ravel(), j.ravel()], axis=1).astype(float)
    atoms = (cell_origins[:, None, :] + motif[None, :, :]).reshape(-1, 2) * period @ rotation.T + centre
    inside = np.all((atoms > -5) & (atoms < SIDE + 5), axis=1)
    density = _blobs(atoms[inside], np.ones(inside.sum()), width=width)
    return density / density.max()


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
    density = _lattice_density(motif, period, rotation, width=0.12 * period + 0.6)
    return pattern.astype(np.float32), density.astype(np.float32), label


def two_beam_transmission(s: np.ndarray, xi: float, thickness: float, depth: float = 1.0) -> np.ndarray:
    """The direct beam's intensity in the two-beam approximation (no absorption), in [1 - depth, 1]:

        I_0 = 1 - depth * sin^2(pi t sqrt(s^2 + xi^-2)) / (1 + (s xi)^2)

    ``s``: excitation errors (1/nm, any shape); ``xi``: the extinction distance (nm); ``thickness``
    ``t`` (nm); ``depth`` ``A`` in [0, 1] (1 is the two-beam result itself: Hirsch et al., *Electron
    Microscopy of Thin Crystals*, 1965, ch. 8; Williams & Carter, *Transmission Electron Microscopy*,
    ch. 13). At the Bragg condition (``s = 0``) ``I_0 = 1 - A sin^2(pi t / xi)``; far from it, 1.
    """
    s = np.asarray(s, dtype=float)
    return 1.0 - depth * np.sin(np.pi * thickness * np.sqrt(s * s + xi ** -2.0)) ** 2 / (1.0 + (s * xi) ** 2)


def _family_tables(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per family of symmetry-equivalent reflections, indexed ``[max(|h|, |k|), min(|h|, |k|)]``: a
    factor on the extinction distance (log-normal, spread 0.3) and a depth in [0.5, 1]. Drawn once
    per ``seed``: the same for every crystal of the data set, like the atoms' scattering would be."""
    rng = np.random.default_rng([seed, 2_000_003])
    shape = (_FAMILIES, _FAMILIES)
    return np.exp(0.3 * rng.standard_normal(shape)), rng.uniform(0.5, 1.0, shape)


def lacbed_reflections(centring: str, a_star: float, thickness: float, debye_waller: float,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reflections that draw a LACBED pattern: ``(hk, xi, depth)``, ``hk`` int ``(G, 2)``, extinction
    distances ``xi`` (nm) and depths ``(G,)``, grouped by family (the 8 images of ``(h, k)`` under 4mm).

    Kept: ``g = a_star (h, k)`` (px) allowed by ``centring``, whose Bragg line (``|g| / 2`` from the
    centre) crosses the field, and whose line darkens at least :data:`MIN_LINE_WIDTH` px in total.
    ``xi_g = XI_0 f_g exp(B (h^2 + k^2))``: the scattering of an atom column falls as its density's
    Fourier transform, ``exp(-B (h^2 + k^2))`` with ``B = 2 pi^2 debye_waller^2`` (``debye_waller``: the
    blob width over the lattice constant), and ``xi_g`` grows as the scattering falls; ``f_g`` and the
    depth come from :func:`_family_tables`. Every member of a family has the same ``xi`` and depth.
    """
    if centring not in CENTRINGS:
        raise ValueError(f"centring must be one of {CENTRINGS}; got {centring!r}")
    xi_factor, depth_table = _family_tables(seed)
    b = 2 * np.pi**2 * debye_waller**2
    reach = int(2 * _FIELD / a_star) + 1
    if reach >= _FAMILIES:
        raise ValueError(f"a_star must be at least {2 * _FIELD / (_FAMILIES - 1):.1f} px; got {a_star!r}")
    orders = np.arange(reach + 1)
    big, small = (part.ravel() for part in np.meshgrid(orders, orders, indexing="ij"))
    keep = (small <= big) & (big > 0)  # one (h, k) per family: h >= k >= 0
    keep &= structure_factor(centring, big, small) > 0.5  # the centring allows the family
    keep &= a_star * np.hypot(big, small) / 2 <= _FIELD  # its Bragg line crosses the field
    hk, xi, depth = [], [], []
    for h, k in zip(big[keep].tolist(), small[keep].tolist(), strict=True):
        n2 = h * h + k * k
        xi_g = XI_0 * xi_factor[h, k] * np.exp(b * n2)
        depth_g = depth_table[h, k]
        # the line's integrated darkening (px): kinematic pi^2 t / xi^2, dynamical pi / (2 xi)
        width = (depth_g * min(np.pi**2 * thickness / xi_g**2, np.pi / (2 * xi_g))
                 / (EXCITATION_SCALE * a_star * np.sqrt(n2)))
        if width < MIN_LINE_WIDTH:
            continue
        members = sorted({(sh * u, sk * v) for u, v in ((h, k), (k, h)) for sh in (1, -1) for sk in (1, -1)})
        hk += members
        xi += [xi_g] * len(members)
        depth += [depth_g] * len(members)
    return np.array(hk, dtype=np.int64).reshape(-1, 2), np.array(xi), np.array(depth)


def _lacbed_pattern(hk: np.ndarray, xi: np.ndarray, depth: np.ndarray, a_star: float,
                    thickness: float) -> np.ndarray:
    """The product of the reflections' rocking curves and the ring's, ``(128, 128)`` float64 in (0, 1].

    The tilt of pixel ``(i, j)`` is ``p = (j - 63.5, i - 63.5)`` px. ``s_g`` depends on ``p`` only
    through ``p.g / a* = h j + k i - 63.5 (h + k)``, an integer plus a constant: so each family's curve
    is tabulated once on the integers it takes (averaged over 4 x 4 samples in the pixel) and looked
    up, the same table for all 8 members, which keeps the pattern exactly symmetric up to the order of
    the products.
    """
    lines = np.arange(SIDE)
    image = np.ones((SIDE, SIDE))
    tables: dict[tuple[int, int], np.ndarray] = {}
    for (h, k), xi_g, depth_g in zip(hk.tolist(), xi, depth, strict=True):
        a, b = abs(h), abs(k)
        key = (max(a, b), min(a, b))
        if key not in tables:  # m = p.g / a* + 63.5 (|h| + |k|), an integer in [0, 127 (|h| + |k|)]
            m = np.arange((SIDE - 1) * (a + b) + 1)
            offsets = (a * _SUB[:, None] + b * _SUB[None, :]).ravel()  # the same set for every member
            projection = m[:, None] - (SIDE - 1) / 2 * (a + b) + offsets[None, :]  # p.g / a*
            s = EXCITATION_SCALE * (a_star * projection + a_star**2 * (a * a + b * b) / 2)  # p.g + |g|^2/2
            tables[key] = two_beam_transmission(s, xi_g, thickness, depth_g).mean(axis=1)
        shift = (SIDE - 1) * (max(-h, 0) + max(-k, 0))
        image *= tables[key][np.add.outer(k * lines, h * lines) + shift]
    # the first-order Laue zone, radius sqrt(2 K a*): s = EXCITATION_SCALE (|p|^2 - R^2) / 2
    sub = (np.arange(2 * SIDE) - (2 * SIDE - 1) / 2) / 2  # 2 x 2 samples per pixel
    r2 = (sub[:, None] ** 2 + sub[None, :] ** 2).reshape(SIDE, 2, SIDE, 2)
    s_ring = EXCITATION_SCALE * (r2 - 2 * LAUE_K * a_star) / 2
    image *= two_beam_transmission(s_ring, RING_XI, thickness, RING_DEPTH).mean(axis=(1, 3))
    return image


#: What a LACBED pair of :func:`pseudo_lacbed` is made from, besides the data set's seed: the centring
#: (one of three) and three numbers drawn per crystal. Nothing else varies from pair to pair, so a code
#: of 4 numbers can in principle hold all that tells one pattern from another.
LACBED_PARAMETERS: tuple[str, ...] = ("centring", "period", "debye_waller", "thickness")


def lacbed_parameters(index: int, seed: int = 0) -> dict[str, str | float]:
    """The :data:`LACBED_PARAMETERS` of pair ``index``: ``centring`` cycles P, I, F with the index; from
    ``numpy.random.default_rng([seed, index, 1])``, the lattice constant ``period`` (10-18 px in the
    density image), ``debye_waller`` (the blob width over the lattice constant, 0.06-0.10) and the
    ``thickness`` (40-160 nm)."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index must be a non-negative int; got {index!r}")
    rng = np.random.default_rng([seed, int(index), 1])
    period = rng.uniform(10.0, 18.0)  # lattice constant in the density image, px
    debye_waller = rng.uniform(0.06, 0.10)  # blob width / lattice constant
    thickness = rng.uniform(*THICKNESS)
    return {"centring": CENTRINGS[int(index) % 3], "period": float(period),
            "debye_waller": float(debye_waller), "thickness": float(thickness)}


def lacbed_pair(centring: str, period: float, debye_waller: float, thickness: float,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pattern and density image ``(128, 128)`` (float32 in [0, 1]) of one crystal given its
    :data:`LACBED_PARAMETERS` (``seed`` draws the data set's tables of families, the same for every
    crystal). ``a* = TILT_SCALE / period`` (14-26 px of tilt in the pattern). The pattern is divided by
    its maximum (maximum 1). The density image is the same crystal's, axes along the array's, scaled
    by ``thickness / 160 nm`` (the projected density grows with the thickness), so its maximum is
    0.25-1."""
    if centring not in CENTRINGS:
        raise ValueError(f"centring must be one of {CENTRINGS}; got {centring!r}")
    a_star = TILT_SCALE / period
    hk, xi, depth = lacbed_reflections(centring, a_star, thickness, debye_waller, seed)
    pattern = _lacbed_pattern(hk, xi, depth, a_star, thickness)
    pattern = pattern / pattern.max()
    motif = np.array(MOTIFS[centring])
    density = _lattice_density(motif, period, np.eye(2), width=debye_waller * period)
    density = density * (thickness / THICKNESS[1])
    return pattern.astype(np.float32), density.astype(np.float32)


def pseudo_lacbed(index: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """Pattern ``(128, 128)`` and density image ``(128, 128)`` (float32 in [0, 1]) and label of ``index``:
    the LACBED kind (see the module's docstring; products of two-beam rocking curves, not Bloch-wave),
    :func:`lacbed_pair` of :func:`lacbed_parameters`. The label (0, 1, 2) is the centring's index in
    :data:`CENTRINGS`."""
    parameters = lacbed_parameters(index, seed)
    pattern, density = lacbed_pair(**parameters, seed=seed)
    return pattern, density, CENTRINGS.index(parameters["centring"])


GENERATORS = {"spots": pseudo_diffraction, "lacbed": pseudo_lacbed}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")


def examples(count: int = 3, offset: int = 0, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray,
                                                                                  np.ndarray]]:
    """A few pairs of each kind, for showing them side by side: ``{kind: (patterns, densities,
    labels)}``, patterns and densities float32 ``(count, 128, 128)`` in [0, 1], labels int64
    ``(count,)``, of indices ``offset .. offset + count - 1`` (3 in a row cover P, I and F)."""
    positive_int("count", count)
    shown = {}
    for kind in KINDS:
        made = [GENERATORS[kind](offset + i, seed) for i in range(count)]
        patterns, densities, labels = (np.stack(parts) for parts in zip(*made, strict=True))
        shown[kind] = (patterns, densities, labels.astype(np.int64))
    return shown


class PseudoDiffraction(Dataset):
    """``(pattern, label)`` pairs: pattern ``(1, 128, 128)`` float32 in [0, 1], label 0/1/2 (P/I/F).

    Images of ``kind`` (one of :data:`KINDS`) are made on demand from ``offset + i``; the splits use
    disjoint index ranges. :meth:`density` gives the paired density image ``(1, 128, 128)``.
    """

    classes = CENTRINGS

    def __init__(self, size: int, offset: int = 0, seed: int = 0, kind: str = "spots") -> None:
        _check_kind(kind)
        self.size, self.offset, self.seed, self.kind = size, offset, seed, kind

    def __len__(self) -> int:
        return self.size

    def _item(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        if not 0 <= i < self.size:
            raise IndexError(f"index {i} out of range for {self.size} images")
        return GENERATORS[self.kind](self.offset + i, self.seed)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        pattern, _, label = self._item(i)
        return torch.from_numpy(pattern)[None], label

    def density(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self._item(i)[1])[None]


def cache_folder(root: Path, seed: int = 0, kind: str = "spots") -> Path:
    """Where the arrays of ``kind`` and ``seed`` are cached under ``root`` (``data/``), by the version of
    that kind's generator: ``pseudo-diffraction/v1-seed0`` for the spots, ``pseudo-lacbed/v1-seed0``."""
    _check_kind(kind)
    version = GENERATOR_VERSION if kind == "spots" else LACBED_VERSION
    return Path(root) / CACHE_NAMES[kind] / f"v{version}-seed{seed}"


def _chunk(first: int, seed: int, kind: str) -> dict[str, np.ndarray]:
    """Images ``first .. first + CHUNK - 1``, as 16-bit patterns and densities and int64 labels."""
    made = [GENERATORS[kind](first + i, seed) for i in range(CHUNK)]
    patterns, densities, labels = (np.stack(parts) for parts in zip(*made, strict=True))
    return {
        "patterns": np.round(patterns.astype(np.float64) * _LEVELS).astype(np.uint16),
        "densities": np.round(densities.astype(np.float64) * _LEVELS).astype(np.uint16),
        "labels": labels.astype(np.int64),
    }


def generate(offset: int, count: int, seed: int = 0, cache: Path | None = None,
             progress: bool = True, kind: str = "spots") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images ``offset .. offset + count - 1`` of ``kind`` at once: patterns and densities float32
    ``(count, 1, 128, 128)`` in [0, 1], labels int64 ``(count,)``.

    Generating takes about 4 ms a spot image and 12 ms a LACBED image on one core, so with ``cache`` (a
    folder, see :func:`cache_folder`: one per kind) each block of :data:`CHUNK` images is made once,
    written atomically (an interrupted run keeps the blocks it finished) and read back afterwards
    (LACBED blocks zip-compressed: 26 MB a 1000 images, against 66 MB for the spots). Values are on a
    16-bit grid (``round(x * 65535) / 65535``, within 7.7e-6 of the generator's) whether or not a
    cache is used, so a cached and a fresh run see the same numbers.
    """
    _check_kind(kind)
    first_chunk, end = offset // CHUNK, offset + count
    chunks = range(first_chunk, -(-end // CHUNK))
    parts = []
    for k in tqdm(chunks, desc=CACHE_NAMES[kind], unit=f"x{CHUNK} images", disable=not progress,
                  leave=False):
        path = None if cache is None else Path(cache) / f"chunk-{k * CHUNK:06d}.npz"
        if path is not None and path.exists():
            with np.load(path) as stored:
                part = {name: stored[name] for name in stored.files}
        else:
            part = _chunk(k * CHUNK, seed, kind)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_name(path.stem + ".part.npz")
                save = np.savez_compressed if kind == "lacbed" else np.savez  # 26 MB, not 66, a 1000
                save(temporary, **part)
                os.replace(temporary, path)
        parts.append(part)
    skip = offset - first_chunk * CHUNK

    def joined(name: str) -> np.ndarray:
        return np.concatenate([p[name] for p in parts])[skip: skip + count]

    patterns, densities = (torch.from_numpy(joined(n).astype(np.float32) / _LEVELS)[:, None]
                           for n in ("patterns", "densities"))
    return patterns, densities, torch.from_numpy(joined("labels"))
