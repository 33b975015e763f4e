"""File formats of the stereo releases: PFM (FlyingThings3D), Sintel's disparity PNGs, PNG views.

PFM (spec section 5): an ASCII header of three whitespace-terminated lines, `PF` (3 channels)
or `Pf` (1 channel), `width height`, and a scale whose sign is the byte order (negative =
little-endian), then float32 rows stored bottom-to-top. Sintel stores disparity in an 8-bit
RGB PNG as d = 4 R + G / 2^6 + B / 2^14. A file that does not follow its format raises
`DataError` with one line naming the file and what was wrong, never a NumPy reshape error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rdarts.errors import DataError

__all__ = [
    "decode_sintel_disparity",
    "encode_sintel_disparity",
    "read_mask_png",
    "read_pfm",
    "read_rgb_png",
    "read_sintel_disparity",
    "write_mask_png",
    "write_pfm",
    "write_rgb_png",
]

_MAX_HEADER = 256  # bytes; real headers are about 20


def _header_fields(data: bytes, path: Path) -> tuple[list[bytes], int]:
    """The three header tokens and the offset of the first data byte (the byte after the
    scale's terminating whitespace)."""
    fields, position = [], 0
    for _ in range(3):
        end = data.find(b"\n", position, _MAX_HEADER)
        if end < 0:
            raise DataError(f"{path}: not a PFM file (header lines missing or too long)")
        fields.append(data[position:end].strip())
        position = end + 1
    return fields, position


def read_pfm(path: str | Path) -> np.ndarray:
    """A PFM image, top row first: (H, W) float32 for `Pf`, (H, W, 3) for `PF`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from error
    (magic, size, scale_text), offset = _header_fields(data, path)
    if magic not in (b"PF", b"Pf"):
        raise DataError(f"{path}: not a PFM file (expected 'PF' or 'Pf', found {magic[:8]!r})")
    try:
        width, height = (int(token) for token in size.split())
        scale = float(scale_text)
    except ValueError as error:
        raise DataError(f"{path}: malformed PFM header {size!r} {scale_text!r}") from error
    if width <= 0 or height <= 0 or scale == 0:
        raise DataError(f"{path}: malformed PFM header (size {width}x{height}, scale {scale})")
    channels = 3 if magic == b"PF" else 1
    expected = 4 * width * height * channels
    if len(data) - offset != expected:
        raise DataError(
            f"{path}: a {width}x{height} {magic.decode()} PFM holds {expected} data bytes; "
            f"found {len(data) - offset}"
        )
    dtype = np.dtype("<f4" if scale < 0 else ">f4")
    array = np.frombuffer(data, dtype=dtype, offset=offset).reshape(height, width, channels)
    array = array[::-1].astype(np.float32)  # stored bottom-to-top; native byte order out
    return array[..., 0] if channels == 1 else array


def write_pfm(path: str | Path, array: np.ndarray, little_endian: bool = True) -> None:
    """Write an (H, W) or (H, W, 3) array as PFM (`Pf` / `PF`, scale -1 or 1, rows bottom-up)."""
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 2:
        magic, array = b"Pf", array[..., None]
    elif array.ndim == 3 and array.shape[2] == 3:
        magic = b"PF"
    else:
        raise ValueError(f"PFM holds (H, W) or (H, W, 3) arrays; got shape {array.shape}")
    height, width = array.shape[:2]
    header = magic + f"\n{width} {height}\n{-1.0 if little_endian else 1.0}\n".encode()
    body = array[::-1].astype("<f4" if little_endian else ">f4").tobytes()
    Path(path).write_bytes(header + body)


def decode_sintel_disparity(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 disparity from Sintel's (H, W, 3) uint8 encoding: 4 R + G/2^6 + B/2^14."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise DataError(f"Sintel disparity must be 8-bit RGB; found {rgb.dtype} {rgb.shape}")
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    return r * 4 + g / 2**6 + b / 2**14


def encode_sintel_disparity(disparity: np.ndarray) -> np.ndarray:
    """The inverse of `decode_sintel_disparity` (to 1/2^14 px) for d in [0, 1024): tests build
    fake Sintel trees with it."""
    fixed = np.round(np.asarray(disparity, dtype=np.float64) * 2**14).astype(np.int64)
    if fixed.min() < 0 or fixed.max() >= 2**24:
        raise ValueError("Sintel's encoding holds disparities in [0, 1024)")
    return np.stack([fixed >> 16, (fixed >> 8) & 255, fixed & 255], -1).astype(np.uint8)


def _open_image(path: Path):
    from PIL import Image, UnidentifiedImageError  # imported lazily: only real data needs it

    try:
        image = Image.open(path)
        image.load()
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"cannot read image {path}: {error}") from error
    return image


def read_sintel_disparity(path: str | Path) -> np.ndarray:
    """(H, W) float32 disparity from a Sintel `disparities/<scene>/frame_*.png`."""
    image = _open_image(Path(path))
    if image.mode != "RGB":
        raise DataError(f"{path}: Sintel disparity must be an RGB PNG; found mode {image.mode}")
    return decode_sintel_disparity(np.asarray(image))


def read_rgb_png(path: str | Path) -> np.ndarray:
    """(3, H, W) float32 in [0, 1] (gray and palette images converted to RGB)."""
    image = _open_image(Path(path)).convert("RGB")
    return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255


def read_mask_png(path: str | Path) -> np.ndarray:
    """(H, W) bool: True where the 8-bit mask is non-zero (occlusion, out-of-frame masks)."""
    image = _open_image(Path(path))
    return np.asarray(image.convert("L")) > 0


def write_rgb_png(path: str | Path, image: np.ndarray) -> None:
    """Write a (3, H, W) float image in [0, 1] as an 8-bit RGB PNG (rounded)."""
    from PIL import Image

    pixels = np.round(np.clip(np.asarray(image).transpose(1, 2, 0), 0, 1) * 255)
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(path)


def write_mask_png(path: str | Path, mask: np.ndarray) -> None:
    """Write an (H, W) bool mask as an 8-bit PNG, 255 where True."""
    from PIL import Image

    Image.fromarray(np.asarray(mask).astype(np.uint8) * 255, "L").save(path)
