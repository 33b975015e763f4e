"""Datasets by name: `load_dataset` and the table of loaders behind it.

Datasets (`load_dataset`):
    fashion-mnist      the embedded class-balanced subset (10,000 / 2,000 images), or the full
                       set from a folder holding the four original IDX files
    cifar10, cifar100  the CIFAR python pickles, through torchvision (which can download them)
    svhn               train_32x32.mat / test_32x32.mat, through torchvision
    imagefolder:PATH   a folder of class folders (optionally under train/ and test/ or val/)

Only the dispatch lives here, so the list of names and the table are read in one place; the
readers of each on-disk format are in `formats` (the published releases) and `imagefolder`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rdarts.domains.image.datasets import ImageDataset
from rdarts.domains.image.formats import (
    CIFAR10_SPEC,
    CIFAR100_SPEC,
    load_cifar,
    load_fashion_mnist,
    load_svhn,
)
from rdarts.domains.image.imagefolder import load_imagefolder
from rdarts.errors import DataError, did_you_mean

__all__ = [
    "DATASET_NAMES",
    "load_dataset",
]

DATASET_NAMES: tuple[str, ...] = (
    "fashion-mnist",
    "cifar10",
    "cifar100",
    "svhn",
    "imagefolder:PATH",
)


def load_dataset(
    name: str, data_dir: str | Path | None = None, download: bool = False
) -> ImageDataset:
    """Load a dataset by name (see `DATASET_NAMES`) into uint8 CPU tensors.

    `data_dir` is where the dataset files are (or are downloaded to, with `download=True`).
    fashion-mnist without `data_dir` is the subset embedded in the package, so a first run needs
    neither files nor network. For `imagefolder:PATH` the folder is PATH and `data_dir` is unused.
    """
    key = name.strip()
    if key.lower().startswith("imagefolder:"):
        path = key[len("imagefolder:") :]
        if not path:
            raise DataError("imagefolder needs a folder: expected 'imagefolder:PATH', found ''")
        return load_imagefolder(key, Path(path).expanduser())
    loader = _LOADERS.get(key.lower())
    if loader is None:
        raise DataError(f"unknown dataset {name!r}{did_you_mean(key.lower(), _LOADERS)}; "
                        f"known: {', '.join(sorted(DATASET_NAMES))}")
    root = None if data_dir is None else Path(data_dir).expanduser()
    return loader(root, download)


# Loaders of the fixed names: (data folder or None, download) -> dataset.
_LOADERS: dict[str, Callable[[Path | None, bool], ImageDataset]] = {
    "fashion-mnist": load_fashion_mnist,
    "cifar10": lambda root, download: load_cifar(CIFAR10_SPEC, root, download),
    "cifar100": lambda root, download: load_cifar(CIFAR100_SPEC, root, download),
    "svhn": load_svhn,
}
