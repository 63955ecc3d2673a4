"""The pseudo-diffraction generator: deterministic, 4-fold symmetric, the centring's extinctions."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from helpers.data import diffraction, get_dataset, load_split
from helpers.data.diffraction import (
    PseudoDiffraction,
    lacbed_reflections,
    pseudo_diffraction,
    pseudo_lacbed,
    structure_factor,
    two_beam_transmission,
)


def _digest(a: np.ndarray) -> str:
    # rounded to 1e-6 first, so a last-bit difference of a libm elsewhere does not change it
    return hashlib.sha256(np.round(a.astype(np.float64), 6).tobytes()).hexdigest()[:16]


def test_same_index_same_image_by_hash():
    pattern, density, label = pseudo_diffraction(7)
    again = pseudo_diffraction(7)
    assert _digest(pattern) == _digest(again[0]) and _digest(density) == _digest(again[1])
    assert label == again[2] == 1
    assert _digest(pattern) != _digest(pseudo_diffraction(10)[0])  # another index, another image
    assert _digest(pattern) != _digest(pseudo_diffraction(7, seed=1)[0])


def test_recorded_hashes_do_not_drift():
    """Fixed when the generator was written: a change to it must be deliberate (and change these)."""
    assert _digest(pseudo_diffraction(0)[0]) == PATTERN_0
    assert _digest(pseudo_diffraction(2)[1]) == DENSITY_2


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4, 5])
def test_patterns_are_four_fold_symmetric_and_in_range(index):
    pattern, density, label = pseudo_diffraction(index)
    assert pattern.shape == density.shape == (128, 128) and pattern.dtype == np.float32
    assert pattern.min() >= 0 and pattern.max() == 1 and density.min() >= 0 and density.max() == 1
    assert np.abs(pattern - np.rot90(pattern)).max() < 1e-6
    assert label == index % 3


def test_centring_extinctions():
    h = np.array([1, 0, 1, 2, 2, 1])
    k = np.array([0, 1, 1, 0, 2, 2])
    assert structure_factor("P", h, k).tolist() == pytest.approx([1, 1, 1, 1, 1, 1])
    assert structure_factor("I", h, k).tolist() == pytest.approx([0, 0, 1, 1, 1, 0], abs=1e-12)
    assert structure_factor("F", h, k).tolist() == pytest.approx([0, 0, 0, 1, 1, 0], abs=1e-12)


def test_dataset_pairs_and_errors():
    ds = PseudoDiffraction(6, offset=3)
    pattern, label = ds[0]
    assert pattern.shape == (1, 128, 128) and pattern.dtype == torch.float32 and label == 0
    assert torch.equal(pattern[0], torch.from_numpy(pseudo_diffraction(3)[0]))
    assert ds.density(0).shape == (1, 128, 128)
    with pytest.raises(IndexError):
        ds[6]
    with pytest.raises(ValueError, match="index must be a non-negative int; got -1"):
        pseudo_diffraction(-1)




# ---------------------------------------------------------------------------------------------
# The LACBED kind
# ---------------------------------------------------------------------------------------------


def _howie_whelan_direct_beam(s: float, xi: float, thickness: float) -> float:
    """|phi_0(t)|^2 of the two-beam Howie-Whelan equations d(phi_0, phi_g)/dz = i pi M (phi_0, phi_g),
    M = [[0, 1/xi], [1/xi, 2 s]], phi(0) = (1, 0): solved through M's eigenvectors, not the closed form."""
    values, vectors = np.linalg.eigh(np.array([[0.0, 1 / xi], [1 / xi, 2 * s]]))
    phi = vectors @ (np.exp(1j * np.pi * thickness * values) * (vectors.T @ np.array([1.0, 0.0])))
    return float(abs(phi[0]) ** 2)


@pytest.mark.parametrize("xi", [25.0, 60.0])
@pytest.mark.parametrize("thickness", [17.0, 45.0, 130.0])
def test_two_beam_transmission_solves_the_two_beam_equations(xi, thickness):
    s = np.linspace(-0.1, 0.1, 41)
    expected = [_howie_whelan_direct_beam(x, xi, thickness) for x in s]
    assert two_beam_transmission(s, xi, thickness) == pytest.approx(expected, abs=1e-12)
    # the depth scales the dip; at the Bragg condition the dip is sin^2(pi t / xi)
    half = two_beam_transmission(s, xi, thickness, depth=0.5)
    assert 1 - half == pytest.approx(0.5 * (1 - np.array(expected)), abs=1e-12)
    assert two_beam_transmission(0.0, xi, thickness) == pytest.approx(1 - np.sin(np.pi * thickness / xi) ** 2)


def test_lacbed_same_index_same_image_and_recorded_hashes():
    pattern, density, label = pseudo_lacbed(7)
    again = pseudo_lacbed(7)
    assert _digest(pattern) == _digest(again[0]) and _digest(density) == _digest(again[1]) and label == 1
    assert _digest(pattern) != _digest(pseudo_lacbed(10)[0])
    assert _digest(pattern) != _digest(pseudo_lacbed(7, seed=1)[0])
    assert _digest(pattern) != _digest(pseudo_diffraction(7)[0])  # the kinds differ
    # fixed when the LACBED kind was written: a change must be deliberate (and raise LACBED_VERSION)
    assert _digest(pseudo_lacbed(0)[0]) == LACBED_PATTERN_0
    assert _digest(pseudo_lacbed(2)[1]) == LACBED_DENSITY_2
    with pytest.raises(ValueError, match="index must be a non-negative int; got 2.0"):
        pseudo_lacbed(2.0)


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4, 5])
def test_lacbed_patterns_are_4mm_symmetric_in_range_and_not_flat(index):
    pattern, density, label = pseudo_lacbed(index)
    assert pattern.shape == density.shape == (128, 128) and pattern.dtype == density.dtype == np.float32
    assert pattern.min() >= 0 and pattern.max() == 1 and pattern.std() > 0.1  # lines, not a blank field
    assert density.min() >= 0 and 0.25 <= density.max() <= 1 and label == index % 3
    # 4mm about the array's centre: the 4-fold axis, the mirrors on the axes and on the diagonals;
    # only the order of the products differs between equivalent pixels (float rounding)
    for image in (np.rot90(pattern), np.fliplr(pattern), np.flipud(pattern), pattern.T, np.rot90(pattern.T)):
        assert np.abs(pattern - image).max() <= 1e-6


@pytest.mark.parametrize("centring", ["P", "I", "F"])
def test_lacbed_reflections_follow_the_centring_and_share_by_family(centring):
    hk, xi, depth = lacbed_reflections(centring, a_star=16.0, thickness=100.0, debye_waller=0.07)
    assert hk.shape == (len(xi), 2) and len(hk) >= 16 and (xi > 0).all()
    assert ((0.5 <= depth) & (depth <= 1)).all()
    assert structure_factor(centring, hk[:, 0], hk[:, 1]) == pytest.approx(np.ones(len(hk)))  # all allowed
    found = {tuple(g): (x, d) for g, x, d in zip(hk.tolist(), xi, depth, strict=True)}
    assert len(found) == len(hk) and (0, 0) not in found
    for (h, k), shared in found.items():  # each of the 8 images under 4mm is there, with the same xi, A
        for image in ((-h, k), (h, -k), (-h, -k), (k, h), (-k, h), (k, -h), (-k, -h)):
            assert found[image] == shared
    first = {"P": (1, 0), "I": (1, 1), "F": (2, 0)}[centring]  # the shortest allowed reflection
    assert first in found and min(h * h + k * k for h, k in found) == first[0] ** 2 + first[1] ** 2
    # thicker crystals and slower fall-offs show more lines
    assert len(lacbed_reflections(centring, 16.0, 150.0, 0.06)[0]) >= len(hk)
    with pytest.raises(ValueError, match=r"centring must be one of \('P', 'I', 'F'\); got 'C'"):
        lacbed_reflections("C", 16.0, 100.0, 0.07)


def test_a_bragg_line_lies_where_its_excitation_error_vanishes():
    """One reflection g = a* (1, 0) with t = xi / 2: the direct beam is extinguished on its Bragg line,
    p.g + |g|^2 / 2 = 0, i.e. the column at x = -a*/2 from the centre, and nowhere else on the row."""
    a_star = 21.0  # the line at x = -10.5 px: the centre of column 63.5 - 10.5 = 53
    image = diffraction._lacbed_pattern(np.array([[1, 0]]), np.array([40.0]), np.array([1.0]), a_star, 20.0)
    row = image[64]
    assert int(np.argmin(row)) == 53 and row[53] < 0.2
    assert image[:, 53].max() < 0.2 and (np.argmin(image[20:108], axis=1) == 53).all()  # a straight line
    assert row[74] > 0.9 and row[100] > 0.9  # no line at +a*/2: only g, not -g, was given


def test_lacbed_cache_has_its_own_folder_and_gives_the_generator_s_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(diffraction, "CHUNK", 4)  # small blocks: the test makes 8 images, not 512
    folder = diffraction.cache_folder(tmp_path, seed=0, kind="lacbed")
    assert folder == tmp_path / "pseudo-lacbed" / f"v{diffraction.LACBED_VERSION}-seed0"
    assert diffraction.cache_folder(tmp_path) == tmp_path / "pseudo-diffraction" / "v1-seed0"  # unchanged
    fresh = diffraction.generate(2, 5, cache=None, progress=False, kind="lacbed")  # crosses a block
    cached = diffraction.generate(2, 5, cache=folder, progress=False, kind="lacbed")
    assert sorted(p.name for p in folder.iterdir()) == ["chunk-000000.npz", "chunk-000004.npz"]
    again = diffraction.generate(2, 5, cache=folder, progress=False, kind="lacbed")
    for a, b, c in zip(fresh, cached, again, strict=True):
        assert torch.equal(a, b) and torch.equal(b, c)
    patterns, densities, labels = fresh
    assert patterns.shape == densities.shape == (5, 1, 128, 128) and labels.tolist() == [2, 0, 1, 2, 0]
    for i in (0, 4):
        pattern, density, _ = pseudo_lacbed(2 + i)
        assert (patterns[i, 0] - torch.from_numpy(pattern)).abs().max() <= 0.5 / 65535 + 1e-7
        assert (densities[i, 0] - torch.from_numpy(density)).abs().max() <= 0.5 / 65535 + 1e-7
    with pytest.raises(ValueError, match=r"kind must be one of \('spots', 'lacbed'\); got 'rings'"):
        diffraction.generate(0, 1, kind="rings")


def test_pseudo_lacbed_data_set_and_split(tmp_path, monkeypatch):
    monkeypatch.setattr(diffraction, "CHUNK", 4)
    val, info = get_dataset("pseudo-lacbed", "val", size=3)
    assert val.dataset.offset == 9454 and val.dataset.kind == "lacbed" and info.size == 3
    assert info.label == "pseudo-LACBED (synthetic)" and "not Bloch-wave" in info.source and not info.is_real
    assert torch.equal(val[1][0][0], torch.from_numpy(pseudo_lacbed(9455)[0]))
    assert get_dataset("pseudo-diffraction", "val", size=1)[0].dataset.kind == "spots"  # unchanged
    split = load_split("pseudo-lacbed", "test", root=tmp_path, size=2, progress=False)
    assert split.images.shape == split.densities.shape == (2, 1, 128, 128)
    assert split.labels.tolist() == [(9454 + 1500) % 3, (9454 + 1501) % 3]
    assert (tmp_path / "pseudo-lacbed" / "v1-seed0" / "chunk-010952.npz").exists()
    with pytest.raises(ValueError, match="impossible for 'pseudo-lacbed'"):
        get_dataset("pseudo-lacbed", "train", mode="real")
    with pytest.raises(ValueError, match=r"kind must be one of .*; got 'ring'"):
        PseudoDiffraction(3, kind="ring")


def test_examples_show_both_kinds_side_by_side():
    shown = diffraction.examples(2, offset=3)
    assert list(shown) == ["spots", "lacbed"]
    for kind, make in (("spots", pseudo_diffraction), ("lacbed", pseudo_lacbed)):
        patterns, densities, labels = shown[kind]
        assert patterns.shape == densities.shape == (2, 128, 128) and labels.tolist() == [0, 1]
        assert np.array_equal(patterns[1], make(4)[0]) and np.array_equal(densities[0], make(3)[1])
    with pytest.raises(ValueError, match="count must be a positive int; got 0"):
        diffraction.examples(0)


PATTERN_0 = "83117da3566087f2"
DENSITY_2 = "f23e63484658fac8"
LACBED_PATTERN_0 = "c206f7829f8a05b6"
LACBED_DENSITY_2 = "45c01d86a3d820b3"


def test_a_lacbed_pair_is_made_from_its_four_parameters_alone():
    # what the code-size question of notebook 06 rests on: nothing but LACBED_PARAMETERS varies per pair
    for index in range(5):
        parameters = diffraction.lacbed_parameters(index)
        assert tuple(parameters) == diffraction.LACBED_PARAMETERS and len(parameters) == 4
        pattern, density, label = diffraction.pseudo_lacbed(index)
        again = diffraction.lacbed_pair(**parameters)
        assert np.array_equal(pattern, again[0]) and np.array_equal(density, again[1])
        assert diffraction.CENTRINGS[label] == parameters["centring"]
    thicker = {**diffraction.lacbed_parameters(0), "thickness": 150.0}
    assert not np.array_equal(diffraction.lacbed_pair(**thicker)[0], diffraction.pseudo_lacbed(0)[0])
    with pytest.raises(ValueError, match="centring must be one of .*got 'X'"):
        diffraction.lacbed_pair(**{**thicker, "centring": "X"})
    with pytest.raises(ValueError, match="index must be a non-negative int; got -1"):
        diffraction.lacbed_parameters(-1)
