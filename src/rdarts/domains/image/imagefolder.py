"""Reader of `imagefolder:PATH`: a folder of class folders in torchvision's ImageFolder layout.

Unlike the published releases, a folder has no official split, image size or pixel
statistics, so this loader makes them: a seeded 90/10 split when there is no test folder, one
common size, mean and std from the training images, and a fixed shuffle of the training
images so that the unshuffled search split does not give the weights and alpha different
classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rdarts.domains.image.datasets import ImageDataset
from rdarts.errors import DataError

__all__ = ["load_imagefolder"]


_IMAGEFOLDER_SIZE = 32
_IMAGEFOLDER_SEED = 0


def _list_images(folder: Path, class_to_idx: dict[str, int] | None) -> tuple[list, list[str]]:
    """List (path, class index) pairs in torchvision's ImageFolder order, and the class names."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    if not folder.is_dir():
        raise DataError(f"expected an image folder at {folder}; found no such folder")
    try:
        classes, found_to_idx = find_classes(str(folder))
    except FileNotFoundError as error:
        raise DataError(f"expected one folder per class in {folder}; found none") from error
    if class_to_idx is not None:
        unknown = sorted(set(classes) - set(class_to_idx))
        if unknown:
            raise DataError(
                f"{folder} has classes {unknown} that the training folder lacks; "
                f"training classes: {sorted(class_to_idx)}"
            )
    try:
        # A test folder may lack a class; every training class needs images.
        samples = make_dataset(
            str(folder),
            class_to_idx or found_to_idx,
            extensions=IMG_EXTENSIONS,
            allow_empty=class_to_idx is not None,
        )
    except FileNotFoundError as error:
        raise DataError(f"no images in {folder}: {error}") from error
    if not samples:
        raise DataError(f"no images in {folder}: expected files ending in {IMG_EXTENSIONS}")
    return samples, classes


def _read_images(paths: Sequence[str], size: tuple[int, int] | None) -> torch.Tensor:
    """Decode images as RGB into one uint8 (N, 3, H, W) tensor, resizing to `size` if given."""
    from PIL import Image

    out = None
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except (OSError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
            raise DataError(f"{path}: not a readable image ({error})") from error
        if size is not None and rgb.size != size:
            rgb = rgb.resize(size, Image.Resampling.BILINEAR)
        array = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)
        if out is None:
            out = torch.empty((len(paths), *array.shape), dtype=torch.uint8)
        out[i] = array
    assert out is not None
    return out


def _image_size(paths: Sequence[str]) -> tuple[int, int] | None:
    """The common square size of all images, or None when they differ (then resize to 32)."""
    from PIL import Image

    sizes = set()
    for path in paths:
        try:
            with Image.open(path) as image:  # reads the header only
                sizes.add(image.size)
        except (OSError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
            raise DataError(f"{path}: not a readable image ({error})") from error
        if len(sizes) > 1:
            return None
    (width, height) = sizes.pop()
    return (width, height) if width == height else None


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std in [0, 1] units, accumulated in float64 chunks."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for chunk in images.split(1024):
        x = chunk.to(torch.float64).div_(255)
        total += x.sum(dim=(0, 2, 3))
        total_sq += x.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


def load_imagefolder(name: str, root: Path) -> ImageDataset:
    """Load `imagefolder:PATH` (torchvision ImageFolder layout) into uint8 tensors.

    Layout: PATH/train/<class>/... with PATH/test/<class>/... (or PATH/val/ when there is no
    test/); otherwise PATH/<class>/... split per class into 90% train / 10% test (at least one
    test image per class; a class needs two images) by a generator seeded with 0.
    Images are converted to RGB. If every image has the same square size it is kept; otherwise
    every image is resized (bilinear) to 32x32. mean/std are computed from the training images.
    The training images are put in a fixed pseudo-random order (seed 0): ImageFolder lists files
    class by class, and the search split takes the first half without shuffling, which would
    otherwise give the weights and alpha disjoint classes.
    """
    generator = torch.Generator().manual_seed(_IMAGEFOLDER_SEED)
    test_folder = next((root / s for s in ("test", "val") if (root / s).is_dir()), None)
    if (root / "train").is_dir() and test_folder is not None:
        train_samples, classes = _list_images(root / "train", None)
        class_to_idx = {c: i for i, c in enumerate(classes)}
        test_samples, _ = _list_images(test_folder, class_to_idx)
    else:
        samples, classes = _list_images(root, None)
        by_class: list[list[tuple[str, int]]] = [[] for _ in classes]
        for sample in samples:
            by_class[sample[1]].append(sample)
        train_samples, test_samples = [], []
        for class_name, members in zip(classes, by_class, strict=True):
            if len(members) < 2:
                raise DataError(
                    f"{root / class_name}: splitting 90/10 needs at least 2 images per class; "
                    f"found {len(members)} (or provide train/ and test/ folders)"
                )
            order = torch.randperm(len(members), generator=generator).tolist()
            n_test = max(1, round(0.1 * len(members)))
            test_samples += [members[i] for i in sorted(order[:n_test])]
            train_samples += [members[i] for i in sorted(order[n_test:])]
    shuffle = torch.randperm(len(train_samples), generator=generator).tolist()
    train_samples = [train_samples[i] for i in shuffle]

    paths = [path for path, _ in train_samples + test_samples]
    common = _image_size(paths)
    size = None if common is not None else (_IMAGEFOLDER_SIZE, _IMAGEFOLDER_SIZE)
    images = _read_images(paths, size)
    labels = torch.tensor([label for _, label in train_samples + test_samples], dtype=torch.int64)
    n_train = len(train_samples)
    train_images = images[:n_train].contiguous()
    mean, std = _channel_stats(train_images)
    # A constant channel would divide by zero in normalisation.
    std = tuple(max(s, 1e-3) for s in std)
    return ImageDataset(
        name=name,
        train_images=train_images,
        train_labels=labels[:n_train].contiguous(),
        test_images=images[n_train:].contiguous(),
        test_labels=labels[n_train:].contiguous(),
        num_classes=len(classes),
        mean=mean,
        std=std,
    )
