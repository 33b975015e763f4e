"""Stereo augmentation on batches, with the paper's augmentation scaling factor (spec section 6).

Every parameter follows LMB's sampler (flownet2 `rng.cpp`): a distribution (uniform: mean
+- spread; gaussian: mean, sd spread; bernoulli: probability), a mean, a spread, and whether
the draw is exponentiated. The S6 experiments (paper Table 3) scale the augmentation by a
factor F; as recommended in spec section 6 the effective spread is F * spread (or
sqrt(F) * spread with `scale="variance"`) and the means stay. Two presets:

- `cpu`: identity-centred (every mean is the identity), so F = 0 is no augmentation;
- `paper`: DispNetCorr1D's parameters (zoom e^0.2, noise 0.03, ...), where F = 0 still
  augments. LMB's `sat_pow`, `sat_add`, `ladd_*` and `col_rotate` are left out, and the
  right view's extra changes use no discount schedule (F is the knob here).

Stereo rules: one spatial draw for both views and the ground truth; a horizontal scale s_x
multiplies disparity by s_x, vertical scale and common translation leave it; spatial draws
are redrawn (up to 50 times, as LMB's augmentation layer) until the output window lies inside
the input, else the identity is used. A horizontal flip mirrors both views, swaps them and
takes the right view's disparity (skipped when the batch has none). Chromatic changes are
drawn once for both views, then the right view gets its own small colour, gamma, brightness
and contrast changes (colour multiply -> keep the pixel mean -> gamma -> + brightness ->
contrast about 0.5 -> clamp) and each view its own Gaussian noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rdarts.domains.disparity.stereo import StereoSet

__all__ = ["PRESETS", "Param", "augment"]

_TRIES = 50


@dataclass(frozen=True)
class Param:
    """One randomised parameter: `distribution` uniform | gaussian | bernoulli."""

    distribution: str
    mean: float
    spread: float
    exp: bool = False


def _preset(identity: bool) -> dict[str, Param]:
    """DispNetCorr1D's table (spec section 6), or the same spreads around the identity."""

    def p(distribution: str, mean: float, spread: float, exp: bool = False) -> Param:
        return Param(distribution, 0.0 if identity else mean, spread, exp)

    return {
        "flip": Param("bernoulli", 0.0, 0.25 if identity else 0.0),  # DispNet does not flip
        "translate_x": p("uniform", 0.0, 0.4),
        "translate_y": p("uniform", 0.0, 0.4),
        "zoom": p("uniform", 0.2, 0.4, exp=True),
        "squeeze": p("uniform", 0.0, 0.3, exp=True),
        "col_pow": p("gaussian", 0.0, 0.4, exp=True),
        "col_mult": p("gaussian", 0.0, 0.2, exp=True),
        "col_add": p("gaussian", 0.0, 0.02),
        "lum_pow": p("uniform", -0.2, 0.4, exp=True),
        "lum_mult": p("uniform", 0.0, 0.4, exp=True),
        "lum_add": p("uniform", 0.0, 0.03),
        "sat_mult": p("uniform", -0.3, 0.5, exp=True),
        "noise": p("uniform", 0.03, 0.03),
        "right_colour": p("gaussian", 0.0, 0.01, exp=True),
        "right_gamma": p("gaussian", 0.0, 0.01, exp=True),
        "right_brightness": p("gaussian", 0.0, 0.01),
        "right_contrast": p("gaussian", 0.0, 0.01, exp=True),
    }


PRESETS: dict[str, dict[str, Param]] = {"cpu": _preset(identity=True),
                                        "paper": _preset(identity=False)}


class _Sampler:
    """Draws from one preset at one factor, on the generator's device."""

    def __init__(self, preset: dict[str, Param], factor: float, scale: str,
                 generator: torch.Generator) -> None:
        self.preset, self.generator = preset, generator
        self.multiplier = factor if scale == "spread" else factor**0.5

    def __call__(self, name: str, *shape: int) -> torch.Tensor:
        param, g = self.preset[name], self.generator
        spread = self.multiplier * param.spread
        if param.distribution == "bernoulli":
            probability = min(max(param.mean + spread, 0.0), 1.0)
            return torch.rand(shape, generator=g, device=g.device) < probability
        if param.distribution == "uniform":
            unit = 2 * torch.rand(shape, generator=g, device=g.device) - 1
        else:
            unit = torch.randn(shape, generator=g, device=g.device)
        value = param.mean + spread * unit
        return value.exp() if param.exp else value


def _flip(batch: StereoSet, flip: torch.Tensor) -> StereoSet:
    """Mirror and swap the views of the flagged pairs; the right disparity becomes the left."""
    if batch.disparity_right is None or not bool(flip.any()):
        return batch
    mask = flip.to(batch.left.device)[:, None, None, None]

    def pick(if_flipped: torch.Tensor, otherwise: torch.Tensor) -> torch.Tensor:
        return torch.where(mask, if_flipped.flip(-1), otherwise)

    return StereoSet(pick(batch.right, batch.left), pick(batch.left, batch.right),
                     pick(batch.disparity_right, batch.disparity),
                     pick(batch.disparity, batch.disparity_right), noc=None)


def _spatial_draw(sample: _Sampler, n: int) -> tuple[torch.Tensor, ...]:
    """(s_x, s_y, t_x, t_y) per pair: the first of 50 draws whose window fits in the input."""
    zoom, squeeze = sample("zoom", n, _TRIES), sample("squeeze", n, _TRIES)
    tx, ty = sample("translate_x", n, _TRIES), sample("translate_y", n, _TRIES)
    sx, sy = zoom * squeeze, zoom / squeeze
    # the output window spans 1/s of the input around the shifted centre
    fits = (tx.abs() <= (1 - 1 / sx) / 2) & (ty.abs() <= (1 - 1 / sy) / 2)
    first = torch.argmax(fits.int(), dim=1, keepdim=True)
    ok = fits.gather(1, first)[:, 0]
    identity = torch.tensor([1.0, 1.0, 0.0, 0.0], device=sx.device)
    chosen = torch.stack([v.gather(1, first)[:, 0] for v in (sx, sy, tx, ty)], 1)
    chosen = torch.where(ok[:, None], chosen, identity)
    return tuple(chosen.unbind(1))


def _resample(batch: StereoSet, sx, sy, tx, ty) -> StereoSet:
    """Apply one affine window per pair to views (bilinear) and disparities (nearest, x s_x)."""
    device = batch.left.device
    sx, sy, tx, ty = (v.to(device) for v in (sx, sy, tx, ty))
    theta = torch.zeros(len(batch), 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 2] = 1 / sx, 2 * tx
    theta[:, 1, 1], theta[:, 1, 2] = 1 / sy, 2 * ty
    grid = F.affine_grid(theta, list(batch.left.shape), align_corners=False)

    def view(t: torch.Tensor) -> torch.Tensor:
        return F.grid_sample(t, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def disparity(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        out = F.grid_sample(t, grid, mode="nearest", padding_mode="border", align_corners=False)
        return out * sx[:, None, None, None]

    return StereoSet(view(batch.left), view(batch.right), disparity(batch.disparity),
                     disparity(batch.disparity_right), noc=None)


def _shared_colour(images: torch.Tensor, sample: _Sampler) -> tuple[torch.Tensor, ...]:
    """The chromatic draw both views share, as per-pair/per-channel tensors."""
    n = images.shape[0]
    return (sample("col_pow", n, 3, 1, 1), sample("col_mult", n, 3, 1, 1),
            sample("col_add", n, 3, 1, 1), sample("lum_pow", n, 1, 1, 1),
            sample("lum_mult", n, 1, 1, 1), sample("lum_add", n, 1, 1, 1),
            sample("sat_mult", n, 1, 1, 1))


def _apply_shared(image: torch.Tensor, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
    col_pow, col_mult, col_add, lum_pow, lum_mult, lum_add, sat_mult = params
    image = (image.clamp(0, 1) ** col_pow * col_mult + col_add).clamp(0, 1)
    image = (image ** lum_pow * lum_mult + lum_add).clamp(0, 1)
    gray = image.mean(1, keepdim=True)
    return (gray + sat_mult * (image - gray)).clamp(0, 1)


def _apply_right(image: torch.Tensor, sample: _Sampler) -> torch.Tensor:
    """The right view's own small change: the rectified pair's photometric mismatch."""
    n = image.shape[0]
    colour, gamma = sample("right_colour", n, 3, 1, 1), sample("right_gamma", n, 1, 1, 1)
    brightness = sample("right_brightness", n, 1, 1, 1)
    contrast = sample("right_contrast", n, 1, 1, 1)
    params = [p.to(image.device) for p in (colour, gamma, brightness, contrast)]
    colour, gamma, brightness, contrast = params
    before = image.mean(1, keepdim=True)
    coloured = image * colour
    after = coloured.mean(1, keepdim=True)
    image = coloured * torch.where(after > 0, before / after.clamp(min=1e-12), 1.0)
    image = image.clamp(0, 1) ** gamma + brightness
    return ((image - 0.5) * contrast + 0.5).clamp(0, 1)


def _noise(image: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(image.shape, generator=generator, device=generator.device)
    return (image + sigma * noise.to(image.device)).clamp(0, 1)


def augment(batch: StereoSet, factor: float, generator: torch.Generator,
            preset: str = "cpu", scale: str = "spread") -> StereoSet:
    """A randomly augmented copy of `batch` on its device (spec section 6).

    `factor` is the paper's augmentation scaling factor F (Table 3: 0 ... 2); draws come from
    `generator` (on any device), so a seeded generator gives the same batch. `noc` survives
    only when the draw left the geometry unchanged (e.g. F = 0 with the cpu preset); otherwise
    it is None: it is an evaluation mask, and a flipped pair's would be the right view's.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; known: {', '.join(PRESETS)}")
    if scale not in ("spread", "variance") or factor < 0:
        raise ValueError(f"need factor >= 0 and scale 'spread' or 'variance'; got {factor}, "
                         f"{scale!r}")
    sample = _Sampler(PRESETS[preset], factor, scale, generator)
    n, device = len(batch), batch.left.device
    flip = sample("flip", n)
    if batch.disparity_right is None:
        flip = torch.zeros_like(flip)
    sx, sy, tx, ty = _spatial_draw(sample, n)
    unchanged = bool(((sx == 1) & (sy == 1) & (tx == 0) & (ty == 0) & ~flip).all())
    out = _resample(_flip(batch, flip), sx, sy, tx, ty)

    shared = tuple(p.to(device) for p in _shared_colour(batch.left, sample))
    left, right = _apply_shared(out.left, shared), _apply_shared(out.right, shared)
    right = _apply_right(right, sample)
    sigma = sample("noise", n, 1, 1, 1).abs().to(device)
    left, right = _noise(left, sigma, generator), _noise(right, sigma, generator)
    return StereoSet(left, right, out.disparity, out.disparity_right,
                     batch.noc if unchanged else None)
