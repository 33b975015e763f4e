"""Build the Fashion-MNIST subset embedded in rdarts (src/rdarts/domains/image/embedded/).

The package ships a small, class-balanced slice of Fashion-MNIST so that `rdarts search
--dataset fashion-mnist` and the test suite run without network access. This script makes the
slice reproducible from the full set (the four original IDX .gz files):

    python scripts/make_fashion_mnist_subset.py --source /usr/share/datasets/fashion-mnist

Selection: for each class c = 0..9 in turn, a NumPy PCG64 generator seeded with 0 draws
`--train-per-class` (1000) training and then `--test-per-class` (200) test indices without
replacement from that class's indices. The chosen indices are sorted, so the subset keeps the
original file order (which interleaves the classes; the DARTS search split takes the first half
of the training set without shuffling, so order matters). Files are written in the original IDX
format, gzip level 9 with a zero timestamp so that re-running gives identical bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import struct
from pathlib import Path

import numpy as np

NUM_CLASSES = 10
SEED = 0
DEFAULT_OUT = (Path(__file__).resolve().parents[1] / "src" / "rdarts" / "domains" / "image"
               / "embedded" / "fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """Read a uint8 IDX file (.gz or plain); standalone so the script needs only NumPy."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not a uint8 IDX file (header {raw[:4].hex()})")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format: magic 0x0000 08 <ndim>, big-endian dims, data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_gz(path: Path, payload: bytes) -> None:
    """Write deterministic gzip (level 9, mtime 0, no stored file name)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as f:
        f.write(payload)
    path.write_bytes(buffer.getvalue())


def balanced_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Draw `per_class` indices of every class without replacement, returned in file order."""
    chosen = []
    for c in range(NUM_CLASSES):
        pool = np.flatnonzero(labels == c)
        if len(pool) < per_class:
            raise ValueError(f"class {c} has {len(pool)} samples; {per_class} requested")
        chosen.append(rng.choice(pool, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def find(source: Path, stem: str) -> Path:
    for candidate in (source / f"{stem}.gz", source / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{source}: expected {stem}.gz or {stem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    args = parser.parse_args()

    rng = np.random.default_rng(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, per_class in (("train", args.train_per_class), ("test", args.test_per_class)):
        images_stem, labels_stem = FILES[split]
        images = read_idx(find(args.source, images_stem))
        labels = read_idx(find(args.source, labels_stem))
        keep = balanced_indices(labels, per_class, rng)
        write_gz(args.out / f"{images_stem}.gz", idx_bytes(images[keep]))
        write_gz(args.out / f"{labels_stem}.gz", idx_bytes(labels[keep]))
        print(f"{split}: {len(keep)} images ({per_class} per class) -> {args.out}")


if __name__ == "__main__":
    main()
