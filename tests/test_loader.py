"""TensorLoader: every sample once per epoch, an order drawn from (seed, epoch), 8-bit to [0, 1]."""

from __future__ import annotations

import pytest
import torch

from helpers.data.loader import TensorLoader


def _loader(**kwargs):
    images = torch.arange(10 * 4, dtype=torch.uint8).reshape(10, 1, 2, 2)
    return TensorLoader(images, torch.arange(10), batch_size=4, **kwargs)


def test_an_epoch_holds_every_sample_once_in_batches():
    loader = _loader(shuffle=True, seed=3)
    batches = list(loader)
    assert len(loader) == len(batches) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    labels = torch.cat([b[1] for b in batches])
    assert sorted(labels.tolist()) == list(range(10)) and labels.tolist() != list(range(10))
    assert len(_loader(drop_last=True)) == 2


def test_8_bit_images_become_float32_in_0_1_and_match_their_labels():
    images, labels = next(iter(_loader(shuffle=True)))
    assert images.dtype == torch.float32 and labels.dtype == torch.long
    expected = torch.stack([torch.arange(4 * i, 4 * i + 4).reshape(1, 2, 2) for i in labels.tolist()]) / 255
    assert torch.equal(images, expected.float())


def test_the_order_depends_on_seed_and_epoch_only():
    def order(seed, epoch):
        loader = _loader(shuffle=True, seed=seed)
        loader.set_epoch(epoch)
        return torch.cat([b[1] for b in loader]).tolist()

    assert order(0, 5) == order(0, 5)  # a resumed run sees the same batches
    assert order(0, 5) != order(0, 6) and order(0, 5) != order(1, 5)
    plain = _loader(shuffle=True)
    first, second = (torch.cat([b[1] for b in plain]).tolist() for _ in range(2))
    assert first != second  # plain iteration moves on to the next epoch
    assert torch.cat([b[1] for b in _loader()]).tolist() == list(range(10))  # no shuffle: in order


def test_subset_is_a_fixed_prefix_in_order():
    sub = _loader(shuffle=True).subset(6)
    assert sub.size == 6 and torch.cat([b[1] for b in sub]).tolist() == list(range(6))
    assert _loader().subset(50).size == 10


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"one non-zero first dimension; got \[3, 2\]"):
        TensorLoader(torch.zeros(3), torch.zeros(2), batch_size=1)
    with pytest.raises(ValueError, match="batch_size must be a positive int; got 0"):
        TensorLoader(torch.zeros(3), batch_size=0)
    with pytest.raises(TypeError, match=r"one or more torch.Tensors; got \['list'\]"):
        TensorLoader([1, 2], batch_size=1)
