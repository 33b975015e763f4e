"""Datasets as device-resident uint8 tensors, and batched augmentation on the device.

The search loop asks for a minibatch every step, so the data path is built for that loop rather
than for `torch.utils.data`: every dataset is read once into uint8 tensors (about 150 MB for
CIFAR-10), moved to the device once, and each batch is an index into those tensors followed by
crop, flip, normalisation and Cutout computed for the whole batch at once. No worker processes,
no per-sample Python, no iterator rebuilt per step.

Datasets (`load_dataset`):
    fashion-mnist      the embedded class-balanced subset (10,000 / 2,000 images), or the full
                       set from a folder holding the four original IDX files
    cifar10, cifar100  the CIFAR python pickles, through torchvision (which can download them)
    svhn               train_32x32.mat / test_32x32.mat, through torchvision
    imagefolder:PATH   a folder of class folders (optionally under train/ and test/ or val/)

Augmentation follows the reference DARTS pipeline: random crop with 4 pixels of zero padding and
a horizontal flip on the raw image, then normalisation, then Cutout on the normalised tensor
(so a Cutout hole is 0 after normalisation, i.e. the mean colour, as in the reference code).
"""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import math
import pickle
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rdarts.errors import DataError

__all__ = [
    "DATASET_NAMES",
    "Augmentation",
    "BatchStream",
    "ImageDataset",
    "augment",
    "evaluation_batches",
    "load_dataset",
    "normalize",
    "prepare_batch",
    "split_train_val",
    "subset",
]

DATASET_NAMES: tuple[str, ...] = (
    "fashion-mnist",
    "cifar10",
    "cifar100",
    "svhn",
    "imagefolder:PATH",
)

Stats = Sequence[float] | torch.Tensor


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
# Loading


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
        return _load_imagefolder(key, Path(path).expanduser())
    loader = _LOADERS.get(key.lower())
    if loader is None:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASET_NAMES))}")
    root = None if data_dir is None else Path(data_dir).expanduser()
    return loader(root, download)


# Fashion-MNIST -------------------------------------------------------------------------------

_FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Pixel statistics of the full 60,000-image training set; the embedded subset uses the same
# values so that a network trained on one normalises like one trained on the other.
_FASHION_MNIST_MEAN = (0.2860,)
_FASHION_MNIST_STD = (0.3530,)


def _parse_idx(data: bytes, source: str, ndim: int) -> torch.Tensor:
    """Parse a uint8 IDX file (LeCun's MNIST format), gzip-compressed or not.

    Layout: two zero bytes, a type byte (0x08 = unsigned byte), a byte with the number of
    dimensions, one big-endian uint32 per dimension, then the data in C order.
    """
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"{source}: not a readable gzip file ({error})") from error
    expected_magic = 0x0800 | ndim
    if len(data) < 4 or struct.unpack(">I", data[:4])[0] != expected_magic:
        found = data[:4].hex() if len(data) >= 4 else f"{len(data)} bytes"
        raise DataError(
            f"{source}: expected IDX magic number 0x{expected_magic:08x} "
            f"(uint8, {ndim} dimensions); found {found}"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: IDX header cut short ({len(data)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = math.prod(dims)
    if len(data) - header != expected:
        raise DataError(
            f"{source}: IDX dimensions {dims} need {expected} bytes of data; "
            f"found {len(data) - header}"
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    return torch.from_numpy(array.copy())


def _find_fashion_mnist(root: Path) -> dict[str, Path] | None:
    """Locate the four IDX files in `root` or in torchvision's `root/FashionMNIST/raw`."""
    for folder in (root, root / "FashionMNIST" / "raw"):
        found = {}
        for stem in _FASHION_MNIST_FILES:
            # torchvision keeps both forms after a download; the plain one skips decompression.
            for candidate in (folder / stem, folder / f"{stem}.gz"):
                if candidate.is_file():
                    found[stem] = candidate
                    break
        if len(found) == len(_FASHION_MNIST_FILES):
            return found
    return None


def _fashion_mnist_from_bytes(name: str, read: dict[str, tuple[bytes, str]]) -> ImageDataset:
    """Build the dataset from the raw bytes (and a display name) of the four IDX files."""
    tensors = {}
    for stem, (data, source) in read.items():
        tensors[stem] = _parse_idx(data, source, ndim=3 if "images" in stem else 1)
    splits = []
    for images_stem, labels_stem in (_FASHION_MNIST_FILES[:2], _FASHION_MNIST_FILES[2:]):
        images, labels = tensors[images_stem], tensors[labels_stem]
        if len(images) != len(labels):
            raise DataError(
                f"{read[images_stem][1]} holds {len(images)} images but "
                f"{read[labels_stem][1]} holds {len(labels)} labels"
            )
        splits.append((images.unsqueeze(1).contiguous(), labels.to(torch.int64)))
    (train_images, train_labels), (test_images, test_labels) = splits
    return ImageDataset(
        name=name,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        num_classes=10,
        mean=_FASHION_MNIST_MEAN,
        std=_FASHION_MNIST_STD,
    )


def _load_fashion_mnist(root: Path | None, download: bool) -> ImageDataset:
    if root is None:
        package = resources.files("rdarts.domains.image") / "embedded" / "fashion-mnist"
        read = {}
        for stem in _FASHION_MNIST_FILES:
            resource = package / f"{stem}.gz"
            try:
                read[stem] = (resource.read_bytes(), f"embedded {stem}.gz")
            except OSError as error:
                raise DataError(
                    f"the embedded Fashion-MNIST subset is missing {stem}.gz ({error}); "
                    "reinstall rdarts or pass --data-dir"
                ) from error
        return _fashion_mnist_from_bytes("fashion-mnist", read)

    files = _find_fashion_mnist(root)
    if files is None and download:
        from torchvision.datasets import FashionMNIST  # imported lazily: slow to import

        try:
            FashionMNIST(str(root), train=True, download=True)
        except (RuntimeError, OSError) as error:
            raise DataError(f"downloading Fashion-MNIST into {root} failed: {error}") from error
        files = _find_fashion_mnist(root)
    if files is None:
        expected = ", ".join(f"{stem}(.gz)" for stem in _FASHION_MNIST_FILES)
        found = "the folder does not exist" if not root.is_dir() else "some or all are missing"
        raise DataError(
            f"no Fashion-MNIST IDX files in {root}: expected {expected} there or in "
            f"FashionMNIST/raw/ below it, but {found}; pass --download to fetch them, "
            "or leave out --data-dir to use the embedded subset"
        )
    return _fashion_mnist_from_bytes(
        "fashion-mnist", {stem: (path.read_bytes(), str(path)) for stem, path in files.items()}
    )


# CIFAR ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CifarSpec:
    name: str
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


_CIFAR10 = _CifarSpec(
    name="cifar10",
    title="CIFAR-10",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_files=("test_batch",),
    label_key="labels",
    num_classes=10,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
)
_CIFAR100 = _CifarSpec(
    name="cifar100",
    title="CIFAR-100",
    folder="cifar-100-python",
    train_files=("train",),
    test_files=("test",),
    label_key="fine_labels",
    num_classes=100,
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
)


def _require_data_dir(root: Path | None, title: str) -> Path:
    if root is None:
        raise DataError(
            f"{title} is read from files: --data-dir is required "
            "(add --download to fetch the files into it)"
        )
    return root


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds NumPy arrays, for CIFAR files whose checksum is unknown.

    torchvision unpickles CIFAR files only after their MD5 matched the official release, which
    is what makes unpickling them safe; a file with another checksum could run arbitrary code
    under plain `pickle.load`, so the fallback reader accepts nothing but arrays and builtins.
    """

    _ALLOWED: dict[tuple[str, str], Any] = {
        (module, "_reconstruct"): np.empty(0).__reduce__()[0]
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    } | {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Protocol-2 pickles written by Python 3 encode bytes as _codecs.encode(str, "latin1").
        ("_codecs", "encode"): codecs.encode,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _read_cifar_pickle(path: Path, label_key: str) -> tuple[np.ndarray, list[int]]:
    """Read one CIFAR python batch: a dict with 'data' (N, 3072) uint8 and a list of labels."""
    try:
        with path.open("rb") as f:
            entry = _ArrayUnpickler(f, encoding="latin1").load()
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = [int(label) for label in entry[label_key]]
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as error:
        raise DataError(
            f"{path}: expected a CIFAR python batch (a pickled dict with 'data' and "
            f"'{label_key}'); reading it failed: {error}"
        ) from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(
            f"{path}: expected 'data' of shape (N, 3072) and N labels; found shape "
            f"{data.shape} and {len(labels)} labels"
        )
    return data, labels


def _read_cifar_folder(folder: Path, spec: _CifarSpec, train: bool) -> tuple[np.ndarray, list]:
    """Fallback reader of the same pickle files, returning torchvision's (N, H, W, C) layout."""
    arrays, labels = [], []
    for file_name in spec.train_files if train else spec.test_files:
        data, batch_labels = _read_cifar_pickle(folder / file_name, spec.label_key)
        arrays.append(data)
        labels.extend(batch_labels)
    data = np.vstack(arrays).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return data, labels


def _load_cifar(spec: _CifarSpec, root: Path | None, download: bool) -> ImageDataset:
    from torchvision.datasets import CIFAR10, CIFAR100  # imported lazily: slow to import

    root = _require_data_dir(root, spec.title)
    folder = root / spec.folder
    needed = spec.train_files + spec.test_files
    missing = [f for f in needed if not (folder / f).is_file()]
    dataset_class = CIFAR10 if spec is _CIFAR10 else CIFAR100
    if missing and download:
        try:
            dataset_class(str(root), train=True, download=True)
        except (RuntimeError, OSError) as error:
            raise DataError(f"downloading {spec.title} into {root} failed: {error}") from error
        missing = [f for f in needed if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"no {spec.title} files in {root}: expected {spec.folder}/ with "
            f"{', '.join(needed)}; missing {', '.join(missing)}; pass --download to fetch them"
        )

    splits = []
    verified = True  # torchvision checks every file's MD5 on each construction
    for train in (True, False):
        if verified:
            try:
                loaded = dataset_class(str(root), train=train, download=False)
                data, labels = loaded.data, loaded.targets
            except RuntimeError:
                verified = False
        if not verified:
            # The files exist but their MD5 is not the official one (a re-packed copy, or a
            # small fixture): read the same pickle layout ourselves, restricted to arrays.
            data, labels = _read_cifar_folder(folder, spec, train)
        images = torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2).contiguous()
        splits.append((images, torch.tensor(labels, dtype=torch.int64)))
    (train_images, train_labels), (test_images, test_labels) = splits
    return ImageDataset(
        name=spec.name,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        num_classes=spec.num_classes,
        mean=spec.mean,
        std=spec.std,
    )


# SVHN -----------------------------------------------------------------------------------------

_SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


def _read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an SVHN .mat file the way torchvision does: X (H, W, C, N), y (N, 1), 10 -> 0."""
    import scipy.io  # imported lazily: only SVHN needs it

    try:
        mat = scipy.io.loadmat(str(path))
        data, labels = np.asarray(mat["X"]), np.asarray(mat["y"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(
            f"{path}: expected a MATLAB file with 'X' (32, 32, 3, N) and 'y' (N, 1); "
            f"reading it failed: {error}"
        ) from error
    if data.ndim != 4 or data.shape[2] != 3 or labels.size != data.shape[3]:
        raise DataError(
            f"{path}: expected 'X' of shape (32, 32, 3, N) and N labels in 'y'; found "
            f"{data.shape} and {labels.size} labels"
        )
    labels = labels.astype(np.int64).reshape(-1)
    labels[labels == 10] = 0  # SVHN stores the digit 0 as class 10
    return data.astype(np.uint8, copy=False).transpose(3, 2, 0, 1), labels


def _load_svhn(root: Path | None, download: bool) -> ImageDataset:
    from torchvision.datasets import SVHN  # imported lazily: slow to import

    root = _require_data_dir(root, "SVHN")
    splits = []
    for split, file_name in _SVHN_FILES.items():
        path = root / file_name
        if not path.is_file() and download:
            try:
                SVHN(str(root), split=split, download=True)
            except (RuntimeError, OSError) as error:
                raise DataError(f"downloading SVHN into {root} failed: {error}") from error
        if not path.is_file():
            raise DataError(
                f"no SVHN files in {root}: expected {', '.join(_SVHN_FILES.values())}; "
                f"missing {file_name}; pass --download to fetch them"
            )
        try:
            loaded = SVHN(str(root), split=split, download=False)
            data, labels = loaded.data, loaded.labels
        except RuntimeError:
            # MD5 differs from the official file (a re-saved copy or a fixture): same layout.
            data, labels = _read_svhn_mat(path)
        images = torch.from_numpy(np.ascontiguousarray(data))
        splits.append((images, torch.as_tensor(labels, dtype=torch.int64)))
    (train_images, train_labels), (test_images, test_labels) = splits
    return ImageDataset(
        name="svhn",
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        num_classes=10,
        mean=(0.4377, 0.4438, 0.4728),
        std=(0.1980, 0.2010, 0.1970),
    )


# Image folders ---------------------------------------------------------------------------------

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


def _load_imagefolder(name: str, root: Path) -> ImageDataset:
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


_LOADERS = {
    "fashion-mnist": _load_fashion_mnist,
    "cifar10": lambda root, download: _load_cifar(_CIFAR10, root, download),
    "cifar100": lambda root, download: _load_cifar(_CIFAR100, root, download),
    "svhn": _load_svhn,
}


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


# --------------------------------------------------------------------------------------------
# Batched augmentation


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation of the reference DARTS / R-DARTS pipeline.

    crop_padding: random crop back to the original size after zero padding; 0 disables.
    flip: random horizontal flip with probability 1/2.
    cutout_length, cutout_prob: with probability `cutout_prob` per sample, a square of side
        `cutout_length` centred at a uniformly random pixel (clipped at the border) is set to 0
        in the normalised image (DeVries & Taylor 2017; R-DARTS varies the probability).
    """

    crop_padding: int = 4
    flip: bool = True
    cutout_length: int = 0
    cutout_prob: float = 0.0

    def __post_init__(self) -> None:
        if self.crop_padding < 0 or self.cutout_length < 0:
            raise ValueError(
                f"crop_padding and cutout_length must be >= 0; found {self.crop_padding} "
                f"and {self.cutout_length}"
            )
        if not 0.0 <= self.cutout_prob <= 1.0:
            raise ValueError(f"cutout_prob must lie in [0, 1]; found {self.cutout_prob}")


def _channel_tensor(values: Stats, images: torch.Tensor) -> torch.Tensor:
    """Per-channel values as a float32 (1, C, 1, 1) tensor on the images' device."""
    tensor = torch.as_tensor(values, dtype=torch.float32, device=images.device).reshape(-1)
    if tensor.numel() not in (1, images.shape[1]):
        raise ValueError(
            f"expected 1 or {images.shape[1]} per-channel values; found {tensor.numel()}"
        )
    return tensor.view(1, -1, 1, 1)


def _normalize(images: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(x - 255 mean) / (255 std) with precomputed shift = 255 mean, scale = 1 / (255 std)."""
    return images.to(torch.float32).sub_(shift).mul_(scale)


def normalize(images: torch.Tensor, mean: Stats, std: Stats) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 (x / 255 - mean) / std, on the images' device."""
    mean_t, std_t = _channel_tensor(mean, images), _channel_tensor(std, images)
    return _normalize(images, mean_t * 255, 1.0 / (std_t * 255))


def augment(
    images: torch.Tensor, augmentation: Augmentation, generator: torch.Generator
) -> torch.Tensor:
    """Random crop (zero padding) and horizontal flip of a uint8 (B, C, H, W) batch.

    Vectorised: each output pixel (i, j) of sample b reads input pixel
    (i + dy_b - p, j' + dx_b - p), with j' = W - 1 - j for flipped samples and j otherwise, from
    the zero-padded batch via one `gather`; dy, dx ~ U{0..2p}. All randomness comes from
    `generator`, which must live on the images' device. Cutout is not done here because the
    reference applies it after normalisation; see `prepare_batch`. Returns `images` itself when
    there is nothing to do.
    """
    p = augmentation.crop_padding
    if p == 0 and not augmentation.flip:
        return images
    b, c, h, w = images.shape
    device = images.device
    rows = torch.arange(h, device=device).expand(b, h)
    cols = torch.arange(w, device=device).expand(b, w)
    if p > 0:
        dy = torch.randint(0, 2 * p + 1, (b, 1), generator=generator, device=device)
        dx = torch.randint(0, 2 * p + 1, (b, 1), generator=generator, device=device)
        rows, cols = rows + dy, cols + dx
    if augmentation.flip:
        flipped = torch.rand((b, 1), generator=generator, device=device) < 0.5
        # Flipping the crop window's columns flips the crop; the window stays where it was.
        cols = torch.where(flipped, cols.flip(1), cols)
    padded = torch.nn.functional.pad(images, (p, p, p, p)) if p > 0 else images
    width = w + 2 * p
    index = (rows[:, :, None] * width + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    return padded.reshape(b, c, -1).gather(2, index).view(b, c, h, w)


def _cutout_(x: torch.Tensor, length: int, prob: float, generator: torch.Generator) -> None:
    """Zero, in place, a length x length square per sample with probability `prob`.

    The centre (cy, cx) is uniform over the image; the square covers rows
    [cy - length // 2, cy - length // 2 + length) clipped to the image (the reference Cutout for
    even lengths, and exactly `length` wide for odd ones), and likewise for columns.
    """
    b, _, h, w = x.shape
    device = x.device
    apply = torch.rand(b, generator=generator, device=device) < prob
    cy = torch.randint(0, h, (b, 1), generator=generator, device=device)
    cx = torch.randint(0, w, (b, 1), generator=generator, device=device)
    y0, x0 = cy - length // 2, cx - length // 2
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    in_rows = (rows >= y0) & (rows < y0 + length)  # (B, H)
    in_cols = (cols >= x0) & (cols < x0 + length)  # (B, W)
    hole = in_rows[:, :, None] & in_cols[:, None, :] & apply[:, None, None]
    x.masked_fill_(hole[:, None], 0.0)


def prepare_batch(
    images: torch.Tensor,
    augmentation: Augmentation | None,
    generator: torch.Generator | None,
    mean: Stats,
    std: Stats,
) -> torch.Tensor:
    """uint8 batch -> float32 network input: augment (crop, flip) -> normalise -> Cutout.

    Cutout comes last so that the hole is 0 in normalised units (the mean colour), as in the
    reference DARTS code which cuts the normalised tensor. `generator` may be None only when
    `augmentation` is None.
    """
    mean_t, std_t = _channel_tensor(mean, images), _channel_tensor(std, images)
    return _prepare(images, augmentation, generator, mean_t * 255, 1.0 / (std_t * 255))


def _prepare(
    images: torch.Tensor,
    augmentation: Augmentation | None,
    generator: torch.Generator | None,
    shift: torch.Tensor,
    scale: torch.Tensor,
) -> torch.Tensor:
    if augmentation is None:
        return _normalize(images, shift, scale)
    if generator is None:
        raise ValueError("augmentation needs a generator on the images' device")
    x = _normalize(augment(images, augmentation, generator), shift, scale)
    if augmentation.cutout_length > 0 and augmentation.cutout_prob > 0:
        _cutout_(x, augmentation.cutout_length, augmentation.cutout_prob, generator)
    return x


class BatchStream:
    """Endless stream of shuffled, augmented minibatches from device-resident uint8 images.

    Each pass over the data starts with a fresh permutation; the last incomplete batch is
    dropped, so a pass is `steps_per_pass = N // batch_size` steps (one batch of all N samples
    when N < batch_size). Shuffling and augmentation draw from two generators on the device,
    seeded with `seed` and `seed + 1`: the sample order is then the same whatever the
    augmentation, which keeps runs that differ only in regularisation comparable.
    `state_dict()` holds both generator states, the permutation and the position, so a resumed
    stream yields exactly the batches an uninterrupted one would.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        *,
        seed: int,
        mean: Stats,
        std: Stats,
        augmentation: Augmentation | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if len(images) == 0:
            raise ValueError("cannot stream batches from an empty set of images")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; found {batch_size}")
        self.device = torch.device(device)
        self.images = images.to(self.device).contiguous()
        self.labels = labels.to(self.device, torch.int64)
        self.num_samples = len(images)
        self.batch_size = min(batch_size, self.num_samples)
        self.steps_per_pass = self.num_samples // self.batch_size
        self.augmentation = augmentation
        self._shift = _channel_tensor(mean, self.images) * 255
        self._scale = 1.0 / (_channel_tensor(std, self.images) * 255)
        self._shuffle_generator = torch.Generator(device=self.device).manual_seed(seed)
        self._augment_generator = torch.Generator(device=self.device).manual_seed(seed + 1)
        self._permutation: torch.Tensor | None = None
        self._position = self.steps_per_pass  # forces a shuffle on the first call

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (float32 normalised augmented images, int64 labels) batch on the device."""
        if self._position >= self.steps_per_pass or self._permutation is None:
            self._permutation = torch.randperm(
                self.num_samples, generator=self._shuffle_generator, device=self.device
            )
            self._position = 0
        start = self._position * self.batch_size
        index = self._permutation[start : start + self.batch_size]
        self._position += 1
        x = _prepare(
            self.images[index], self.augmentation, self._augment_generator, self._shift, self._scale
        )
        return x, self.labels[index]

    def state_dict(self) -> dict[str, Any]:
        return {
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "shuffle_generator": self._shuffle_generator.get_state(),
            "augment_generator": self._augment_generator.get_state(),
            "permutation": None if self._permutation is None else self._permutation.cpu(),
            "position": self._position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["num_samples"], state["batch_size"]) != (self.num_samples, self.batch_size):
            raise ValueError(
                f"the saved stream has {state['num_samples']} samples in batches of "
                f"{state['batch_size']}; this one has {self.num_samples} in batches of "
                f"{self.batch_size}"
            )
        self._shuffle_generator.set_state(state["shuffle_generator"])
        self._augment_generator.set_state(state["augment_generator"])
        permutation = state["permutation"]
        self._permutation = None if permutation is None else permutation.to(self.device)
        self._position = int(state["position"])


def evaluation_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    mean: Stats,
    std: Stats,
    device: torch.device | str,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (normalised float32 images, int64 labels) in order, all samples, no augmentation;
    for validation and test accuracy. Each slice is moved to `device` as it is needed."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; found {batch_size}")
    device = torch.device(device)
    probe = images[:1].to(device)
    shift = _channel_tensor(mean, probe) * 255
    scale = 1.0 / (_channel_tensor(std, probe) * 255)
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device, non_blocking=True)
        y = labels[start : start + batch_size].to(device, torch.int64, non_blocking=True)
        yield _normalize(x, shift, scale), y


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
