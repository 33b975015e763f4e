"""Flying shapes: a deterministic, exact stereo dataset for CPU-scale S6 (spec section 7).

A scene is a textured background plane and 2-6 textured planar layers, each with a mask and a
disparity plane d_k(u, y) = a_k + b_k (u - W/2) + c_k (y - H/2) in left coordinates u (the
spec's d = a + b u + c y with a taken at the image centre). The left pixel x shows the
covering layer of largest disparity (z-buffer); the right pixel x_R samples each layer at
u = (x_R + a_k - b_k W/2 + c_k (y - H/2)) / (1 - b_k), the exact inverse of x_R = u - d_k(u),
with linear interpolation along the row (rows are rectified, so y is shared), and z-buffers
the same way. Ground truth is therefore exact: `disparity` is the visible plane's value,
`disparity_right` the right view's, and `noc` is False where another layer covers x - d
closer to the camera (occluded) or x - d < 0 (out of frame).

Each sample's generator is PCG64 seeded from (seed, split, index), so sample i is the same
whatever `count` is. Splits: train and val (the search halves) and test share one
distribution (test draws Fashion-MNIST textures from the other pool); test-shift, the
Sintel stand-in, uses held-out texture families, another shape family (stars, rings,
superellipses), disparities up to 40 px at W = 128, blur and lower contrast.

Speed (measured, one core, OMP_NUM_THREADS=1, on a 2-core machine under load): 300 samples
at 64x128 in 2.6-3.4 s (about 10 ms a sample), test-shift with its blur 3.3-3.9 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rdarts.domains.disparity.stereo import StereoSet
from rdarts.domains.disparity.textures import fashion_mnist_pool, random_texture
from rdarts.errors import DataError

__all__ = ["SPLITS", "flying_shapes", "render_layers"]

SPLITS = ("train", "val", "test", "test-shift")
_SPLIT_CODES = {name: code for code, name in enumerate(SPLITS)}
_IN_DOMAIN_SHAPES = ("ellipse", "rectangle", "polygon", "silhouette")
_SHIFTED_SHAPES = ("star", "ring", "superellipse", "silhouette")


@dataclass(frozen=True)
class _Scene:
    """What one split fixes: image size, disparity ranges (px), shape family, pool."""

    height: int
    width: int
    layer_disparity: tuple[float, float]
    background_disparity: tuple[float, float]
    shifted: bool
    pool: np.ndarray

    @property
    def margin(self) -> int:
        """Columns of texture beyond each side of the image that the right view can reach."""
        return int(np.ceil(self.layer_disparity[1] + 0.06 * self.width)) + 2


# masks: signed distance (px, negative inside) -> soft coverage, 0.5 on the boundary ------------


def _soft(distance: np.ndarray) -> np.ndarray:
    return np.clip(0.5 - distance, 0, 1).astype(np.float32)


def _star_polygon_distance(u: np.ndarray, v: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Radial distance to a star-shaped polygon with vertices at equal angles and `radii`.

    The ray from the centre at angle phi meets edge (P_i, P_i+1) at r = (P_i x P_i+1) /
    (dir x (P_i+1 - P_i)): exact polygon edges, vectorised.
    """
    n = len(radii)
    angles = np.arange(n) * 2 * np.pi / n
    phi = np.mod(np.arctan2(v, u), 2 * np.pi)
    i = np.minimum((phi / (2 * np.pi / n)).astype(np.int64), n - 1)
    j = (i + 1) % n
    pix, piy = radii[i] * np.cos(angles[i]), radii[i] * np.sin(angles[i])
    pjx, pjy = radii[j] * np.cos(angles[j]), radii[j] * np.sin(angles[j])
    ex, ey = pjx - pix, pjy - piy
    boundary = (pix * pjy - piy * pjx) / (np.cos(phi) * ey - np.sin(phi) * ex)
    return np.hypot(u, v) - boundary


def _mask(rng: np.random.Generator, kind: str, scene: _Scene, u: np.ndarray, y: np.ndarray):
    """Soft (H, Wg) coverage of one layer's mask on the texture grid (left coordinates)."""
    h, w = scene.height, scene.width
    radius = rng.uniform(0.1, 0.5) * h
    cx, cy, theta = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, np.pi)
    du, dv = u - cx, y - cy
    pu = du * np.cos(theta) + dv * np.sin(theta)
    pv = -du * np.sin(theta) + dv * np.cos(theta)
    aspect = rng.uniform(0.5, 1.0)
    if kind == "ellipse":
        rho = np.hypot(pu / radius, pv / (radius * aspect))
        return _soft((rho - 1) * radius * aspect)
    if kind == "rectangle":
        return _soft(np.maximum(np.abs(pu) - radius, np.abs(pv) - radius * aspect))
    if kind == "polygon":
        radii = radius * rng.uniform(0.5, 1.0, rng.integers(3, 8))
        return _soft(_star_polygon_distance(pu, pv, radii))
    if kind == "star":
        points = rng.integers(4, 8)
        radii = radius * np.tile([1.0, rng.uniform(0.3, 0.6)], points)
        return _soft(_star_polygon_distance(pu, pv, radii))
    if kind == "ring":
        return _soft(np.abs(np.hypot(pu, pv) - radius) - radius * rng.uniform(0.2, 0.45))
    if kind == "superellipse":
        p = rng.choice([0.7, 3.0, 5.0])
        a, b = radius, radius * aspect
        level = (np.abs(pu / a) ** p + np.abs(pv / b) ** p) ** (1 / p)
        return _soft((level - 1) * b)
    # silhouette: a Fashion-MNIST item, binarised, scaled into a box of side 2 * radius
    item = scene.pool[rng.integers(len(scene.pool))] > 12
    rows = np.clip(pv / (2 * radius) * 28 + 13.5, 0, 27)
    cols = np.clip(pu / (2 * radius) * 28 + 13.5, 0, 27)
    return _bilinear(item.astype(np.float32), rows, cols)


def _bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    r0 = np.minimum(np.floor(rows).astype(np.int64), image.shape[0] - 2)
    c0 = np.minimum(np.floor(cols).astype(np.int64), image.shape[1] - 2)
    fr, fc = rows - r0, cols - c0
    top = image[r0, c0] * (1 - fc) + image[r0, c0 + 1] * fc
    bottom = image[r0 + 1, c0] * (1 - fc) + image[r0 + 1, c0 + 1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)


# planes -----------------------------------------------------------------------------------


def _plane(rng: np.random.Generator, low: float, high: float, slope: float, scene: _Scene):
    """(a, b, c): fronto-parallel with p = 0.5, else slanted; kept inside [low / 2, high]."""
    a = rng.uniform(low, high)
    if rng.uniform() < 0.5:
        return a, 0.0, 0.0
    b, c = rng.uniform(-slope, slope, 2)
    spread = abs(b) * scene.width / 2 + abs(c) * scene.height / 2
    room = min(a - low / 2, high - a)
    shrink = min(1.0, room / spread) if spread > 0 else 1.0
    return a, b * shrink, c * shrink


# rendering --------------------------------------------------------------------------------


def _sample_rows(grid: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Linear interpolation of (L, ..., H, Wg) grids at fractional columns (L, H, W)."""
    top = grid.shape[-1] - 2
    lower = np.clip(np.floor(columns), 0, top).astype(np.int64)
    frac = np.clip(columns - lower, 0, 1).astype(np.float32)
    extra = grid.ndim - columns.ndim
    index = lower.reshape(lower.shape[:1] + (1,) * extra + lower.shape[1:])
    frac = frac.reshape(index.shape)
    return (np.take_along_axis(grid, index, -1) * (1 - frac)
            + np.take_along_axis(grid, index + 1, -1) * frac)


def _sample_visible(texture: np.ndarray, layer: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(3, H, W): each pixel's own layer texture (L, 3, H, Wg), interpolated at `columns`."""
    lower = np.clip(np.floor(columns), 0, texture.shape[-1] - 2).astype(np.int64)
    frac = np.clip(columns - lower, 0, 1).astype(np.float32)[..., None]
    rows = np.arange(texture.shape[2])[:, None]
    value = texture[layer, :, rows, lower] * (1 - frac) + texture[layer, :, rows, lower + 1] * frac
    return np.moveaxis(value, -1, 0)


def _layer_columns(planes: np.ndarray, x: np.ndarray, height: int, width: int) -> np.ndarray:
    """u_k(x, y) for right-view positions x (H, W): the layer point that lands on x."""
    a, b, c = (planes[:, i, None, None] for i in range(3))
    y = np.arange(height, dtype=np.float64)[:, None] - height / 2
    return (x[None] + a - b * width / 2 + c * y) / (1 - b)


def _zbuffer(covered: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """Index of the covering layer with the largest disparity (the background covers all)."""
    return np.argmax(np.where(covered, disparity, -np.inf), axis=0)


def _take(stack: np.ndarray, layer: np.ndarray) -> np.ndarray:
    extra = stack.ndim - layer.ndim - 1
    return np.take_along_axis(stack, layer.reshape((1,) + (1,) * extra + layer.shape), 0)[0]


def _draw_layers(rng: np.random.Generator, scene: _Scene):
    """Random textures (L, 3, H, Wg), soft masks (L, H, Wg) and planes (L, 3) of one scene,
    background first."""
    h, grid_width = scene.height, scene.width + 2 * scene.margin
    u = np.arange(grid_width, dtype=np.float32)[None, :] - scene.margin
    y = np.arange(h, dtype=np.float32)[:, None]
    shapes = _SHIFTED_SHAPES if scene.shifted else _IN_DOMAIN_SHAPES
    layers = int(rng.integers(2, 7))
    masks = [np.ones((h, grid_width), np.float32)]
    planes = [_plane(rng, *scene.background_disparity, 0.01, scene)]
    textures = [random_texture(rng, scene.pool, scene.shifted, h, grid_width)]
    for _ in range(layers):
        kind = shapes[rng.integers(len(shapes))]
        masks.append(_mask(rng, kind, scene, u, y))
        planes.append(_plane(rng, *scene.layer_disparity, 0.05, scene))
        textures.append(random_texture(rng, scene.pool, scene.shifted, h, grid_width))
    return np.stack(textures), np.stack(masks), np.array(planes, dtype=np.float64)


def render_layers(
    texture: np.ndarray, mask: np.ndarray, plane: np.ndarray, margin: int
) -> dict[str, np.ndarray]:
    """Render planar layers into an exact stereo pair.

    texture (L, 3, H, W + 2 margin) and mask (L, H, W + 2 margin; covered where >= 0.5) live
    on the left view's grid u = -margin .. W + margin - 1; plane (L, 3) holds (a, b, c) of
    d = a + b (u - W/2) + c (y - H/2). Layer 0 should cover everything (the background).
    Returns left, right (3, H, W), disparity, disparity_right (H, W) and noc (H, W) bool.
    """
    h, w = mask.shape[1], mask.shape[2] - 2 * margin
    x = np.broadcast_to(np.arange(w, dtype=np.float64), (h, w))
    y = np.arange(h, dtype=np.float64)[:, None]
    a, b, c = (plane[:, i, None, None] for i in range(3))

    # left view: layer k at pixel x is its grid column x itself
    d_left = a + b * (x - w / 2) + c * (y - h / 2)  # (L, H, W)
    visible = _zbuffer(mask[:, :, margin : margin + w] >= 0.5, d_left)
    left = _take(texture[..., margin : margin + w], visible)
    disparity = _take(d_left, visible)

    # right view: each layer sampled at the exact preimage of the pixel
    columns = _layer_columns(plane, x, h, w)
    covered = _sample_rows(mask, columns + margin) >= 0.5
    visible_right = _zbuffer(covered, columns - x)
    disparity_right = _take(columns - x, visible_right)
    right = _sample_visible(texture, visible_right, _take(columns, visible_right) + margin)

    # occlusion: does a closer layer cover the left pixel's match x - d in the right view?
    target = x - disparity
    columns = _layer_columns(plane, target, h, w)
    covered = _sample_rows(mask, columns + margin) >= 0.5
    other = np.arange(len(plane))[:, None, None] != visible[None]
    occluded = (covered & other & (columns - target > disparity + 1e-6)).any(0)
    return {"left": left, "right": right, "disparity": disparity,
            "disparity_right": disparity_right, "noc": ~occluded & (target >= 0)}


def _shift_photometry(rng: np.random.Generator, views: list[np.ndarray]) -> list[np.ndarray]:
    """test-shift: one Gaussian blur and one contrast reduction for both views (disparity is
    unchanged: the same horizontal filter on both views keeps correspondences)."""
    sigma = rng.uniform(0.5, 1.2)
    taps = np.arange(-3, 4)
    kernel = np.exp(-(taps**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    contrast = rng.uniform(0.4, 0.7)
    out = []
    for view in views:
        padded = np.pad(view, ((0, 0), (3, 3), (3, 3)), mode="reflect")
        taps_weights = list(zip(taps + 3, kernel, strict=True))
        rows = sum(k * padded[:, t : t + view.shape[1]] for t, k in taps_weights)
        blurred = sum(k * rows[:, :, t : t + view.shape[2]] for t, k in taps_weights)
        mean = blurred.mean(axis=(1, 2), keepdims=True)
        out.append(mean + contrast * (blurred - mean))
    return out


def _scene(split: str, height: int, width: int, max_disparity: float | None) -> _Scene:
    scale = width / 128  # the spec's ranges are stated at W = 128
    shifted = split == "test-shift"
    high = max_disparity if max_disparity is not None else (40 if shifted else 28) * scale
    if high <= 2 * scale:
        raise DataError(f"max_disparity must exceed {2 * scale:g} px; got {high:g}")
    pool = fashion_mnist_pool("test" if split.startswith("test") else "train")
    return _Scene(height, width, (2 * scale, high), (0.5 * scale, 4 * scale), shifted, pool)


def _sample(seed: int, split: str, index: int, scene: _Scene) -> dict[str, np.ndarray]:
    rng = np.random.Generator(np.random.PCG64([seed, _SPLIT_CODES[split], index]))
    sample = render_layers(*_draw_layers(rng, scene), scene.margin)
    views = [sample["left"], sample["right"]]
    if scene.shifted:
        views = _shift_photometry(rng, views)
    for name, view in zip(("left", "right"), views, strict=True):
        # 8-bit like real images: the PNG writer and readers then round-trip exactly
        sample[name] = np.round(np.clip(view, 0, 1) * 255) / 255
    return sample


def flying_shapes(
    split: str,
    count: int,
    seed: int = 0,
    height: int = 64,
    width: int = 128,
    max_disparity: float | None = None,
    start: int = 0,
) -> StereoSet:
    """Samples start .. start + count - 1 of a flying-shapes split as a CPU StereoSet.

    `max_disparity` (px) caps the layer disparities; by default 28 px (40 for test-shift)
    at width 128, scaled with the width. Sample i depends only on (seed, split, i) and the
    image size, never on `count`.
    """
    if split not in SPLITS:
        raise DataError(f"unknown flying-shapes split {split!r}; known splits: {', '.join(SPLITS)}")
    if count < 1 or start < 0 or seed < 0:
        raise DataError(f"need count >= 1, start >= 0, seed >= 0; got {count}, {start}, {seed}")
    if height < 8 or width < 16:
        raise DataError(f"flying shapes need at least 8x16 pixels; got {height}x{width}")
    scene = _scene(split, height, width, max_disparity)
    samples = [_sample(seed, split, index, scene) for index in range(start, start + count)]

    def stack(name: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.from_numpy(np.stack([s[name] for s in samples])).to(dtype)

    return StereoSet(
        left=stack("left", torch.float32),
        right=stack("right", torch.float32),
        disparity=stack("disparity", torch.float32)[:, None],
        disparity_right=stack("disparity_right", torch.float32)[:, None],
        noc=stack("noc", torch.bool),
    )
