"""Minibatches from device-resident uint8 images, with augmentation computed per batch.

The search loop asks for a minibatch every step, so the data path is built for that loop rather
than for `torch.utils.data`: the images are moved to the device once, and each batch is an index
into those tensors followed by crop, flip, normalisation and Cutout computed for the whole batch
at once. No worker processes, no per-sample Python, no iterator rebuilt per step.

Augmentation follows the reference DARTS pipeline: random crop with 4 pixels of zero padding and
a horizontal flip on the raw image, then normalisation, then Cutout on the normalised tensor
(so a Cutout hole is 0 after normalisation, i.e. the mean colour, as in the reference code).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "Augmentation",
    "BatchStream",
    "augment",
    "evaluation_batches",
    "normalize",
    "prepare_batch",
]

Stats = Sequence[float] | torch.Tensor


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
