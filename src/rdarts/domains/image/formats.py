"""Readers of the published releases: Fashion-MNIST IDX files, CIFAR pickles, SVHN .mat files.

Each loader finds the files under a data folder (or the Fashion-MNIST subset embedded in the
package), lets torchvision download them when asked, and turns them into an `ImageDataset`.
torchvision reads a file only when its MD5 is the official one; for any other copy (re-packed
files, the small fixtures of the tests) the same layout is read here instead, CIFAR through an
unpickler restricted to NumPy arrays so that an unknown pickle cannot run code.
"""

from __future__ import annotations

import codecs
import gzip
import math
import pickle
import struct
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rdarts.domains.image.datasets import ImageDataset
from rdarts.errors import DataError

__all__ = [
    "CIFAR10_SPEC",
    "CIFAR100_SPEC",
    "CifarSpec",
    "load_cifar",
    "load_fashion_mnist",
    "load_svhn",
]


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


def load_fashion_mnist(root: Path | None, download: bool) -> ImageDataset:
    """Fashion-MNIST: the embedded subset when `root` is None, else the IDX files in `root`."""
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
class CifarSpec:
    """Where one CIFAR release keeps its files and labels, and its pixel statistics."""

    name: str
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


CIFAR10_SPEC = CifarSpec(
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
CIFAR100_SPEC = CifarSpec(
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


def _read_cifar_folder(folder: Path, spec: CifarSpec, train: bool) -> tuple[np.ndarray, list]:
    """Fallback reader of the same pickle files, returning torchvision's (N, H, W, C) layout."""
    arrays, labels = [], []
    for file_name in spec.train_files if train else spec.test_files:
        data, batch_labels = _read_cifar_pickle(folder / file_name, spec.label_key)
        arrays.append(data)
        labels.extend(batch_labels)
    data = np.vstack(arrays).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return data, labels


def load_cifar(spec: CifarSpec, root: Path | None, download: bool) -> ImageDataset:
    """CIFAR-10 or CIFAR-100 (by `spec`) from the python pickles under `root`."""
    from torchvision.datasets import CIFAR10, CIFAR100  # imported lazily: slow to import

    root = _require_data_dir(root, spec.title)
    folder = root / spec.folder
    needed = spec.train_files + spec.test_files
    missing = [f for f in needed if not (folder / f).is_file()]
    dataset_class = CIFAR10 if spec is CIFAR10_SPEC else CIFAR100
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


def load_svhn(root: Path | None, download: bool) -> ImageDataset:
    """SVHN from train_32x32.mat and test_32x32.mat in `root` (the extra split is unused)."""
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
