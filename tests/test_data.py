"""Tests of rdarts.data: every loader against tiny files in the real on-disk formats, and the
batched augmentation and batch stream against per-sample reference computations."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from rdarts.domains.image.datasets import ImageDataset, split_train_val, subset
from rdarts.domains.image.loading import DATASET_NAMES, load_dataset
from rdarts.domains.image.stream import (
    Augmentation,
    BatchStream,
    augment,
    evaluation_batches,
    normalize,
    prepare_batch,
)
from rdarts.errors import DataError

# ---------------------------------------------------------------------------------------------
# Fixture writers in the original formats


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, rng: np.random.Generator, compress: bool) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.array([0, 1, 2, 3, 9, 5], dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([7, 8, 9], dtype=np.uint8),
    }
    for stem, array in arrays.items():
        payload = idx_bytes(array)
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / stem).write_bytes(payload)
    return arrays


def write_cifar(root: Path, hundred: bool, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """CIFAR python pickles: dicts with 'data' (N, 3072) uint8 rows in CHW order and labels."""
    if hundred:
        folder, train_files, test_files = root / "cifar-100-python", ["train"], ["test"]
        label_key, meta_name, num_classes = "fine_labels", "meta", 100
    else:
        folder = root / "cifar-10-batches-py"
        train_files = [f"data_batch_{i}" for i in range(1, 6)]
        test_files = ["test_batch"]
        label_key, meta_name, num_classes = "labels", "batches.meta", 10
    folder.mkdir(parents=True)
    out: dict[str, list] = {"train_x": [], "train_y": [], "test_x": [], "test_y": []}
    for split, files in (("train", train_files), ("test", test_files)):
        for file_name in files:
            data = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
            labels = rng.integers(0, num_classes, 2).tolist()
            entry = {"batch_label": file_name, "data": data, label_key: labels}
            if hundred:
                entry["coarse_labels"] = [0, 0]
            with (folder / file_name).open("wb") as f:
                pickle.dump(entry, f, protocol=2)
            out[f"{split}_x"].append(data)
            out[f"{split}_y"] += labels
    with (folder / meta_name).open("wb") as f:
        names_key = "fine_label_names" if hundred else "label_names"
        pickle.dump({names_key: [str(i) for i in range(num_classes)]}, f, protocol=2)
    return {
        "train_x": np.vstack(out["train_x"]).reshape(-1, 3, 32, 32),
        "train_y": np.array(out["train_y"]),
        "test_x": np.vstack(out["test_x"]).reshape(-1, 3, 32, 32),
        "test_y": np.array(out["test_y"]),
    }


def write_png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


# ---------------------------------------------------------------------------------------------
# Loaders


def test_embedded_fashion_mnist_is_class_balanced() -> None:
    dataset = load_dataset("fashion-mnist")
    assert dataset.train_images.shape == (10000, 1, 28, 28)
    assert dataset.test_images.shape == (2000, 1, 28, 28)
    assert dataset.train_images.dtype == torch.uint8 and dataset.train_images.is_contiguous()
    assert dataset.train_labels.dtype == torch.int64
    assert dataset.num_classes == 10 and dataset.in_channels == 1 and dataset.image_size == 28
    assert dataset.train_labels.bincount().tolist() == [1000] * 10
    assert dataset.test_labels.bincount().tolist() == [200] * 10
    assert dataset.mean == pytest.approx((0.2860,)) and dataset.std == pytest.approx((0.3530,))


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_idx_files_round_trip(tmp_path: Path, compress: bool) -> None:
    arrays = write_idx_set(tmp_path, np.random.default_rng(0), compress)
    dataset = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert dataset.train_images.shape == (6, 1, 28, 28)
    assert np.array_equal(dataset.train_images[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert dataset.train_labels.tolist() == [0, 1, 2, 3, 9, 5]
    assert np.array_equal(dataset.test_images[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    assert dataset.test_labels.tolist() == [7, 8, 9]


def test_fashion_mnist_found_in_torchvision_raw_folder(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "FashionMNIST" / "raw", np.random.default_rng(1), compress=False)
    assert len(load_dataset("fashion-mnist", data_dir=tmp_path).train_images) == 6


def test_fashion_mnist_malformed_or_missing_files(tmp_path: Path) -> None:
    write_idx_set(tmp_path, np.random.default_rng(0), compress=True)
    bad = bytearray(gzip.decompress((tmp_path / "train-labels-idx1-ubyte.gz").read_bytes()))
    bad[3] = 3  # a 1-d label file claiming 3 dimensions
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(bad)))
    with pytest.raises(DataError, match="magic number 0x00000801"):
        load_dataset("fashion-mnist", data_dir=tmp_path)

    truncated = idx_bytes(np.zeros((6, 28, 28), np.uint8))[:-5]
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    write_idx_set(tmp_path / "t", np.random.default_rng(0), compress=False)
    (tmp_path / "t" / "train-images-idx3-ubyte").write_bytes(truncated)
    with pytest.raises(DataError, match="need 4704 bytes"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "t")

    with pytest.raises(DataError, match=r"no Fashion-MNIST IDX files .*does not exist"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "nowhere")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        load_dataset("fashion-mnist", data_dir=tmp_path)  # labels file was removed


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_pickles_round_trip(tmp_path: Path, name: str) -> None:
    expected = write_cifar(tmp_path, hundred=name == "cifar100", rng=np.random.default_rng(0))
    dataset = load_dataset(name, data_dir=tmp_path)
    assert dataset.name == name and dataset.num_classes == (100 if name == "cifar100" else 10)
    assert dataset.train_images.shape == (len(expected["train_y"]), 3, 32, 32)
    assert dataset.train_images.is_contiguous()
    assert np.array_equal(dataset.train_images.numpy(), expected["train_x"])
    assert np.array_equal(dataset.test_images.numpy(), expected["test_x"])
    assert dataset.train_labels.tolist() == expected["train_y"].tolist()
    assert dataset.test_labels.tolist() == expected["test_y"].tolist()
    assert len(dataset.mean) == len(dataset.std) == 3


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_torchvision_path_matches_fallback(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_cifar(tmp_path, hundred=name == "cifar100", rng=np.random.default_rng(0))
    fallback = load_dataset(name, data_dir=tmp_path)
    import torchvision.datasets.cifar

    # Pretend the fixture has the official checksums, so torchvision itself reads it.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    official = load_dataset(name, data_dir=tmp_path)
    assert torch.equal(official.train_images, fallback.train_images)
    assert torch.equal(official.test_labels, fallback.test_labels)


def test_failed_download_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.cifar

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match=r"downloading CIFAR-10 into .* failed: network"):
        load_dataset("cifar10", data_dir=tmp_path, download=True)


def test_fashion_mnist_download_reads_torchvision_raw_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.mnist

    def fake_download(url: str, download_root: str, filename: str, md5: str) -> None:
        write_idx_set(Path(download_root), np.random.default_rng(0), compress=False)

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", fake_download)
    dataset = load_dataset("fashion-mnist", data_dir=tmp_path, download=True)
    assert (tmp_path / "FashionMNIST" / "raw").is_dir()
    assert dataset.train_labels.tolist() == [0, 1, 2, 3, 9, 5]


def test_cifar_fallback_refuses_code_in_pickles(tmp_path: Path) -> None:
    write_cifar(tmp_path, hundred=True, rng=np.random.default_rng(0))

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("pwned",))

    with (tmp_path / "cifar-100-python" / "train").open("wb") as f:
        pickle.dump({"data": Exploit(), "fine_labels": []}, f)
    with pytest.raises(DataError, match=r"refusing to load builtins.print"):
        load_dataset("cifar100", data_dir=tmp_path)


def test_cifar_needs_data_dir_and_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--data-dir is required"):
        load_dataset("cifar10")
    with pytest.raises(DataError, match=r"no CIFAR-10 files in .*--download"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_svhn_mat_files_round_trip(tmp_path: Path) -> None:
    import scipy.io

    rng = np.random.default_rng(0)
    expected = {}
    for split, n in (("train", 4), ("test", 2)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = np.array([[10], [1], [9], [10]][:n], dtype=np.uint8)
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat", {"X": x, "y": y})
        expected[split] = x
    dataset = load_dataset("svhn", data_dir=tmp_path)
    assert dataset.train_images.shape == (4, 3, 32, 32) and dataset.test_images.shape[0] == 2
    assert dataset.train_labels.tolist() == [0, 1, 9, 0]  # label 10 is the digit 0
    # X is (H, W, C, N): pixel (row 3, column 5, channel 2) of sample 1.
    assert dataset.train_images[1, 2, 3, 5] == expected["train"][3, 5, 2, 1]
    assert np.array_equal(dataset.test_images.numpy(), expected["test"].transpose(3, 2, 0, 1))


def test_svhn_torchvision_path_matches_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scipy.io
    import torchvision.datasets.svhn

    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        x = rng.integers(0, 256, (32, 32, 3, 3), dtype=np.uint8)
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat", {"X": x, "y": np.array([[10], [2], [3]])})
    fallback = load_dataset("svhn", data_dir=tmp_path)
    monkeypatch.setattr(torchvision.datasets.svhn, "check_integrity", lambda *a, **k: True)
    official = load_dataset("svhn", data_dir=tmp_path)
    assert torch.equal(official.train_images, fallback.train_images)
    assert torch.equal(official.train_labels, fallback.train_labels)


def test_imagefolder_with_train_and_test(tmp_path: Path) -> None:
    colors = {"cat": (255, 0, 0), "dog": (0, 0, 255)}
    for split, count in (("train", 3), ("test", 1)):
        for name, color in colors.items():
            for i in range(count):
                write_png(tmp_path / split / name / f"{i}.png", color)
    dataset = load_dataset(f"imagefolder:{tmp_path}")
    assert dataset.train_images.shape == (6, 3, 8, 8) and dataset.test_images.shape == (2, 3, 8, 8)
    assert dataset.num_classes == 2
    assert dataset.test_labels.tolist() == [0, 1]
    # Each image keeps its colour and its label: red is class 0 (cat), blue class 1 (dog).
    red = dataset.train_images[:, 0, 0, 0] == 255
    assert torch.equal(red, dataset.train_labels == 0)
    assert dataset.mean == pytest.approx((0.5, 0.0, 0.5))
    assert dataset.std[0] == pytest.approx(0.5)


def test_imagefolder_without_split_and_mixed_sizes(tmp_path: Path) -> None:
    for i in range(10):
        write_png(tmp_path / "a" / f"{i}.png", (10, 20, 30), size=(8, 8))
        write_png(tmp_path / "b" / f"{i}.jpg", (200, 200, 200), size=(12, 6))
    dataset = load_dataset(f"imagefolder:{tmp_path}")
    assert dataset.train_images.shape == (18, 3, 32, 32)  # sizes differ: resized to 32
    assert dataset.test_labels.tolist() == [0, 1]  # 10% of 10 per class
    assert dataset.train_labels.bincount().tolist() == [9, 9]
    assert load_dataset(f"imagefolder:{tmp_path}").train_labels.equal(dataset.train_labels)


def test_imagefolder_empty_and_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="expected one folder per class"):
        load_dataset(f"imagefolder:{tmp_path}")
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset(f"imagefolder:{tmp_path}")
    with pytest.raises(DataError, match=r"unknown dataset 'foo'; known: .*imagefolder:PATH"):
        load_dataset("foo")
    assert "fashion-mnist" in DATASET_NAMES


# ---------------------------------------------------------------------------------------------
# Splits


def small_dataset(n: int = 10) -> ImageDataset:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    labels = torch.arange(n) % 2
    return ImageDataset("toy", images, labels, images[:4], labels[:4], 2, (0.5,), (0.25,))


def test_split_train_val_and_subset() -> None:
    dataset = small_dataset(10)
    (train_x, train_y), (val_x, val_y) = split_train_val(dataset)
    assert train_x[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4]
    assert val_x[:, 0, 0, 0].tolist() == [5, 6, 7, 8, 9]
    assert len(train_y) == len(val_y) == 5
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        split_train_val(dataset, 1.0)
    small = subset(dataset, 3, None)
    assert len(small.train_images) == 3 and len(small.test_images) == 4


# ---------------------------------------------------------------------------------------------
# Augmentation


def test_augment_is_deterministic_and_keeps_shape() -> None:
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    aug = Augmentation(crop_padding=2, flip=True)
    a = augment(images, aug, torch.Generator().manual_seed(3))
    b = augment(images, aug, torch.Generator().manual_seed(3))
    assert a.shape == images.shape and a.dtype == torch.uint8 and torch.equal(a, b)


def test_flip_flips_about_half() -> None:
    images = torch.randint(0, 256, (200, 2, 5, 7), dtype=torch.uint8)
    out = augment(images, Augmentation(crop_padding=0, flip=True), torch.Generator().manual_seed(0))
    same = (out == images).flatten(1).all(1)
    flipped = (out == images.flip(3)).flatten(1).all(1)
    assert bool((same | flipped).all())
    assert 50 < int(flipped.sum()) < 150 and int(same.sum()) > 50


def test_crop_shifts_content_with_zero_padding() -> None:
    p = 2
    images = torch.randint(1, 256, (64, 1, 6, 6), dtype=torch.uint8)  # no zeros inside
    out = augment(
        images, Augmentation(crop_padding=p, flip=False), torch.Generator().manual_seed(1)
    )
    padded = torch.nn.functional.pad(images, (p, p, p, p))
    shifts = set()
    for i in range(len(images)):  # per-sample reference: some window of the padded image
        matches = [
            (dy, dx)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            if torch.equal(out[i], padded[i, :, dy : dy + 6, dx : dx + 6])
        ]
        assert matches, f"sample {i} is not a crop of its padded image"
        shifts.add(matches[0])
    assert len(shifts) > 5


def test_cutout_zeroes_a_square_in_normalised_space() -> None:
    images = torch.full((64, 3, 12, 12), 255, dtype=torch.uint8)
    length = 4
    aug = Augmentation(crop_padding=0, flip=False, cutout_length=length, cutout_prob=1.0)
    x = prepare_batch(images, aug, torch.Generator().manual_seed(0), (0.5,) * 3, (0.5,) * 3)
    assert x.dtype == torch.float32
    hole = x == 0
    assert torch.equal(hole, hole[:, :1].expand_as(hole))  # same hole in every channel
    assert bool((x[~hole] == 1.0).all())
    sizes = []
    for mask in hole[:, 0]:
        rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
        height, width = len(rows), len(cols)
        assert 0 < height <= length and 0 < width <= length
        assert int(mask.sum()) == height * width  # a rectangle, clipped at the border
        sizes.append((height, width))
    assert (length, length) in sizes


def test_cutout_prob_zero_and_no_augmentation_only_normalise() -> None:
    images = torch.randint(0, 256, (8, 3, 6, 6), dtype=torch.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    expected = (images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(
        std
    ).view(1, 3, 1, 1)
    assert torch.allclose(normalize(images, mean, std), expected, atol=1e-5)
    aug = Augmentation(crop_padding=0, flip=False, cutout_length=3, cutout_prob=0.0)
    got = prepare_batch(images, aug, torch.Generator().manual_seed(0), mean, std)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(prepare_batch(images, None, None, mean, std), expected, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Batch stream


def test_batch_stream_covers_each_sample_once_per_pass() -> None:
    dataset = small_dataset(12)
    ids = torch.arange(12)
    stream = BatchStream(dataset.train_images, ids, 4, seed=0, mean=(0.5,), std=(0.25,))
    assert stream.steps_per_pass == 3
    passes = []
    for _ in range(2):
        seen = torch.cat([stream.next()[1] for _ in range(stream.steps_per_pass)])
        assert sorted(seen.tolist()) == list(range(12))
        passes.append(seen.tolist())
    assert passes[0] != passes[1]  # reshuffled
    x, y = BatchStream(dataset.train_images, ids, 4, seed=0, mean=(0.5,), std=(0.25,)).next()
    assert torch.allclose(x[:, 0, 0, 0], (y.float() / 255 - 0.5) / 0.25)  # image i is value i

    tiny = BatchStream(dataset.train_images[:3], ids[:3], 8, seed=0, mean=(0.5,), std=(0.25,))
    assert tiny.steps_per_pass == 1 and len(tiny.next()[1]) == 3


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_batch_stream_resumes_exactly(device: str) -> None:
    images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(20)
    aug = Augmentation(crop_padding=2, cutout_length=3, cutout_prob=0.5)

    def make() -> BatchStream:
        return BatchStream(
            images,
            labels,
            6,
            seed=7,
            mean=(0.5,) * 3,
            std=(0.2,) * 3,
            augmentation=aug,
            device=device,
        )

    stream = make()
    for _ in range(3):
        stream.next()
    state = stream.state_dict()
    expected = [stream.next() for _ in range(5)]  # crosses a pass boundary (3 steps per pass)
    resumed = make()
    resumed.load_state_dict(state)
    for (x, y), (x2, y2) in zip(expected, (resumed.next() for _ in range(5)), strict=True):
        assert x.device.type == device and torch.equal(x, x2) and torch.equal(y, y2)

    other = BatchStream(images, labels, 5, seed=7, mean=(0.5,) * 3, std=(0.2,) * 3)
    with pytest.raises(ValueError, match="batches of 6"):
        other.load_state_dict(state)


def test_evaluation_batches_in_order() -> None:
    dataset = small_dataset(10)
    batches = list(
        evaluation_batches(dataset.train_images, dataset.train_labels, 4, (0.5,), (0.25,), "cpu")
    )
    assert [len(y) for _, y in batches] == [4, 4, 2]
    values = torch.cat([x[:, 0, 0, 0] for x, _ in batches])
    assert torch.allclose(values, (torch.arange(10.0) / 255 - 0.5) / 0.25)
