"""The in-memory dataset: uint8 image tensors, and the splits the search and training take.

Every dataset is read once into uint8 tensors (about 150 MB for CIFAR-10) so that it can be
moved to the device once and indexed there for every batch (see `stream`). This module is the
type every loader returns and the operations on it that need no files: the search split,
prefix subsets for tiny presets, and random data for the speed benchmarks. Reading datasets
from disk is in `loading` (by name), `formats` and `imagefolder`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from rdarts.errors import DataError

__all__ = [
    "ImageDataset",
    "split_train_val",
    "subset",
]


@dataclass(frozen=True, eq=False)  # tensors have no single truth value: compare by identity
class ImageDataset:
    """A labelled image classification dataset held in memory as uint8 tensors.

    Images stay uint8 until a batch is drawn: a quarter of the memory of float32, which is what
    lets whole datasets live on the device. `mean` and `std` are per channel in [0, 1] units.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        # Cheap checks that catch a malformed file here rather than as a shape error mid-search.
        for split, images, labels in (
            ("train", self.train_images, self.train_labels),
            ("test", self.test_images, self.test_labels),
        ):
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise DataError(
                    f"{self.name}: {split} images must be uint8 (N, C, H, W); "
                    f"found {images.dtype} with shape {tuple(images.shape)}"
                )
            if labels.dtype != torch.int64 or labels.shape != (images.shape[0],):
                raise DataError(
                    f"{self.name}: {split} labels must be int64 of shape ({images.shape[0]},); "
                    f"found {labels.dtype} with shape {tuple(labels.shape)}"
                )
            if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < self.num_classes:
                raise DataError(
                    f"{self.name}: {split} labels must lie in [0, {self.num_classes}); "
                    f"found [{int(labels.min())}, {int(labels.max())}]"
                )
        if len(self.train_images) == 0:
            raise DataError(f"{self.name}: the training set is empty")
        if self.test_images.shape[1:] != self.train_images.shape[1:]:
            raise DataError(
                f"{self.name}: test images {tuple(self.test_images.shape[1:])} differ in shape "
                f"from training images {tuple(self.train_images.shape[1:])}"
            )
        channels = self.train_images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise DataError(
                f"{self.name}: expected {channels} mean/std values (one per channel); "
                f"found {len(self.mean)} and {len(self.std)}"
            )

    @property
    def in_channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> int:
        """Image height; every built-in dataset has square images."""
        return int(self.train_images.shape[2])


# --------------------------------------------------------------------------------------------
# Splits


def split_train_val(
    dataset: ImageDataset, train_portion: float = 0.5
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The search split: the first `train_portion` of the official training set trains the
    weights w, the rest is the validation set on which alpha is trained (Liu et al. 2019,
    section 3.1). No shuffling, like the reference code: split = floor(portion * N).
    Returns ((train_images, train_labels), (val_images, val_labels)), views of the dataset.
    """
    if not 0.0 < train_portion < 1.0:
        raise ValueError(f"train_portion must lie strictly between 0 and 1; found {train_portion}")
    n = len(dataset.train_images)
    split = math.floor(train_portion * n)
    if not 0 < split < n:
        raise DataError(
            f"{dataset.name}: train_portion {train_portion} of {n} training images leaves one "
            "side of the search split empty"
        )
    return (
        (dataset.train_images[:split], dataset.train_labels[:split]),
        (dataset.train_images[split:], dataset.train_labels[split:]),
    )


def subset(dataset: ImageDataset, max_train: int | None, max_test: int | None) -> ImageDataset:
    """The first `max_train` training and `max_test` test images (None keeps all); for tiny
    presets and tests. Taking a prefix keeps the search split meaningful (see `split_train_val`).
    """
    for label, value in (("max_train", max_train), ("max_test", max_test)):
        if value is not None and value < 1:
            raise ValueError(f"{label} must be at least 1 or None; found {value}")
    return dataclasses.replace(
        dataset,
        train_images=dataset.train_images[:max_train],
        train_labels=dataset.train_labels[:max_train],
        test_images=dataset.test_images[:max_test],
        test_labels=dataset.test_labels[:max_test],
    )


def random_dataset(count: int, *, size: int = 32, channels: int = 3, classes: int = 10,
                   seed: int = 0) -> ImageDataset:
    """Uniform random uint8 images with random labels: the input of the speed benchmarks
    (timings do not depend on content), never of anything that reports accuracy."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, channels, size, size), dtype=torch.uint8,
                           generator=generator)
    labels = torch.randint(0, classes, (count,), generator=generator)
    return ImageDataset(name="random", train_images=images, train_labels=labels,
                        test_images=images[: max(1, count // 10)],
                        test_labels=labels[: max(1, count // 10)], num_classes=classes,
                        mean=(0.5,) * channels, std=(0.25,) * channels)
