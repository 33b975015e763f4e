"""Textures for the flying-shapes scenes (spec section 7), as numpy arrays in [0, 1].

Every texture is an (3, H, Wg) image in the left view's coordinates, drawn from a
`numpy.random.Generator` so that a scene is a function of its seed. Stereo matching needs
texture that is locally distinctive but smooth enough for bilinear sub-pixel sampling to be
faithful, so the procedural families keep periods of 4 px or more and the Fashion-MNIST crops
are upsampled (1.5-3.5x). Families:

- in-domain (train, val, test): Fashion-MNIST crops, oriented sinusoids, value noise, a small
  "repetitive" share (checkers, stripes: the ambiguous case of stereo) and 5 % low-texture;
- shifted (test-shift): Fashion-MNIST crops of the other pool, concentric rings and ridged
  noise, families the network never saw (the Sintel stand-in's "held-out textures").

The Fashion-MNIST pools are disjoint (spec section 9.12): train/val draw from the embedded
subset's training part, test/test-shift from its test part.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

__all__ = ["FAMILIES", "fashion_mnist_pool", "random_texture", "resize"]

Rng = np.random.Generator


@lru_cache(maxsize=2)
def fashion_mnist_pool(part: str) -> np.ndarray:
    """(N, 28, 28) uint8 images of the embedded Fashion-MNIST subset: `part` "train" or "test"."""
    from rdarts.domains.image.formats import load_fashion_mnist  # the image domain's reader

    dataset = load_fashion_mnist(None, download=False)
    images = dataset.train_images if part == "train" else dataset.test_images
    return images[:, 0].numpy()


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2-D array (pixel centres aligned, edge values held)."""

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        source = ((np.arange(n_out) + 0.5) * n_in / n_out - 0.5).clip(0, n_in - 1)
        lower = np.minimum(np.floor(source).astype(np.int64), max(n_in - 2, 0))
        upper = np.minimum(lower + 1, n_in - 1)
        return lower, upper, (source - lower).astype(np.float32)

    r0, r1, fr = axis(image.shape[0], height)
    c0, c1, fc = axis(image.shape[1], width)
    rows = image[r0] * (1 - fr)[:, None] + image[r1] * fr[:, None]
    return rows[:, c0] * (1 - fc) + rows[:, c1] * fc


def _normalise(gray: np.ndarray) -> np.ndarray:
    low, high = gray.min(), gray.max()
    return (gray - low) / (high - low) if high > low else np.zeros_like(gray)


def _colourise(gray: np.ndarray, rng: Rng) -> np.ndarray:
    """Map a gray field in [0, 1] between two random colours at least 0.3 apart in luminance."""
    first = rng.uniform(0, 1, 3)
    second = rng.uniform(0, 1, 3)
    if abs(first.mean() - second.mean()) < 0.3:
        second = (first + np.sign(0.5 - first.mean()) * 0.4).clip(0, 1)
    colours = first[:, None, None] + gray[None] * (second - first)[:, None, None]
    return colours.astype(np.float32)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:height, 0:width]
    return y.astype(np.float32), x.astype(np.float32)


def value_noise(
    rng: Rng, height: int, width: int, cells: tuple[int, ...] = (16, 8, 4)
) -> np.ndarray:
    """Octaves of bilinearly interpolated random grids (cell sizes in pixels), in [0, 1]."""
    total = np.zeros((height, width), np.float32)
    for weight, cell in enumerate(cells, start=1):
        coarse = rng.uniform(0, 1, (height // cell + 2, width // cell + 2)).astype(np.float32)
        total += resize(coarse, height, width) / weight
    return _normalise(total)


def _sinusoids(rng: Rng, height: int, width: int) -> np.ndarray:
    y, x = _grid(height, width)
    total = np.zeros((height, width), np.float32)
    for _ in range(3):
        angle, period, phase = rng.uniform(0, np.pi), rng.uniform(4, 24), rng.uniform(0, 2 * np.pi)
        total += np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period + phase)
    return _normalise(total)


def _repetitive(rng: Rng, height: int, width: int) -> np.ndarray:
    """Checkers or stripes (period 6-16 px), edges softened so that sampling stays faithful."""
    y, x = _grid(height, width)
    period = rng.uniform(6, 16)
    wave_x = np.sin(2 * np.pi * x / period + rng.uniform(0, 2 * np.pi))
    wave = wave_x if rng.uniform() < 0.5 else wave_x * np.sin(2 * np.pi * y / period)
    return 0.5 + 0.5 * np.tanh(3 * wave)


def _flat(rng: Rng, height: int, width: int) -> np.ndarray:
    """Almost uniform: the low-texture case, where matching must come from the context."""
    return 0.5 + 0.03 * (value_noise(rng, height, width, (8,)) - 0.5)


def _rings(rng: Rng, height: int, width: int) -> np.ndarray:
    y, x = _grid(height, width)
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    radius = np.hypot(x - cx, y - cy)
    return 0.5 + 0.5 * np.sin(2 * np.pi * radius / rng.uniform(5, 14) + rng.uniform(0, 6.3))


def _ridged(rng: Rng, height: int, width: int) -> np.ndarray:
    return _normalise(1 - np.abs(2 * value_noise(rng, height, width, (12, 6)) - 1))


def _fashion_mnist(pool: np.ndarray) -> Callable[[Rng, int, int], np.ndarray]:
    def texture(rng: Rng, height: int, width: int) -> np.ndarray:
        image = pool[rng.integers(len(pool))].astype(np.float32) / 255
        size = int(28 * rng.uniform(1.5, 3.5))
        tile = resize(image, size, size)
        reps = (height // size + 2, width // size + 2)
        flips = np.concatenate([tile, tile[:, ::-1]], 1)
        tiled = np.tile(np.concatenate([flips, flips[::-1]], 0), reps)
        top, left = rng.integers(size), rng.integers(size)
        crop = tiled[top : top + height, left : left + width]
        # Fashion-MNIST's black background would leave flat patches: add faint detail.
        return _normalise(crop + 0.25 * value_noise(rng, height, width, (8, 4)))

    return texture


# family name -> (weight, in-domain?); the Fashion-MNIST family takes the split's pool
FAMILIES: dict[str, tuple[float, bool]] = {
    "fashion-mnist": (0.35, True),
    "sinusoids": (0.2, True),
    "value-noise": (0.25, True),
    "repetitive": (0.15, True),
    "flat": (0.05, True),
    "rings": (0.3, False),
    "ridged": (0.35, False),
}
_PROCEDURAL = {
    "sinusoids": _sinusoids,
    "value-noise": value_noise,
    "repetitive": _repetitive,
    "flat": _flat,
    "rings": _rings,
    "ridged": _ridged,
}


def random_texture(
    rng: Rng, pool: np.ndarray, shifted: bool, height: int, width: int
) -> np.ndarray:
    """(3, height, width) float32 texture of a random family of the split's kind."""
    names = [name for name, (_, domain) in FAMILIES.items()
             if domain != shifted or name == "fashion-mnist"]
    weights = np.array([FAMILIES[name][0] for name in names])
    name = names[rng.choice(len(names), p=weights / weights.sum())]
    make = _fashion_mnist(pool) if name == "fashion-mnist" else _PROCEDURAL[name]
    return _colourise(make(rng, height, width).astype(np.float32), rng)
