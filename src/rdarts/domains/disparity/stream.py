"""Batches of stereo pairs from device-resident tensors, augmented on the device.

A batch is `Batch(inputs=(left, right), targets=disparity, size=B)`: views (B, 3, H, W) in
[0, 1] and the left ground truth (B, 1, H, W) in input pixels, NaN where unknown. As for
images, the pairs are moved to the device once and each batch is an index into them; the
weights' training batches are augmented for the whole batch at once with the epoch's scaling
factor F (paper Table 3; with the identity-centred cpu preset F = 0 leaves them unchanged,
with DispNet's it does not), alpha's and every evaluation batch never. Shuffling and
augmentation draw from two generators on the device, so the sample order is the same whatever
F, and `state_dict()` holds both with the permutation and the position: a resumed stream
yields exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from rdarts.domains.base import Batch
from rdarts.domains.disparity.stereo import StereoSet

Augment = Callable[[StereoSet, float, torch.Generator], StereoSet]


def stereo_batch(pairs: StereoSet) -> Batch:
    return Batch((pairs.left, pairs.right), pairs.disparity, len(pairs))


class StereoStream:
    """An endless stream of shuffled (optionally augmented) batches: a `Stream`.

    Each pass starts with a fresh permutation and drops the last incomplete batch, so a pass
    is N // batch_size steps (one batch of all N pairs when N < batch_size)."""

    def __init__(self, pairs: StereoSet, batch_size: int, seed: int,
                 augment: Augment | None = None, factor: float = 0.0,
                 identity_at_zero: bool = True) -> None:
        self.pairs = pairs
        self.device = pairs.left.device
        self.batch_size = min(batch_size, len(pairs))
        self.steps_per_epoch = len(pairs) // self.batch_size
        self.augment = augment
        self.factor = factor  # the augmentation scaling factor in force (the epoch's plan)
        self.identity_at_zero = identity_at_zero  # F = 0 leaves batches as they are: skip
        self.shuffle = torch.Generator(device=self.device).manual_seed(seed)
        self.augmentation = torch.Generator(device=self.device).manual_seed(seed + 1)
        self.permutation: torch.Tensor | None = None
        self.position = self.steps_per_epoch  # shuffle on the first call

    def next(self) -> Batch:
        if self.permutation is None or self.position >= self.steps_per_epoch:
            self.permutation = torch.randperm(len(self.pairs), generator=self.shuffle,
                                              device=self.device)
            self.position = 0
        start = self.position * self.batch_size
        self.position += 1
        pairs = self.pairs.subset(self.permutation[start:start + self.batch_size])
        if self.augment is not None and (self.factor > 0 or not self.identity_at_zero):
            pairs = self.augment(pairs, self.factor, self.augmentation)
        return stereo_batch(pairs)

    def carry(self, outputs: Any) -> None:
        """Stereo batches are independent: nothing carries over."""

    def state_dict(self) -> dict[str, Any]:
        return {"pairs": len(self.pairs), "batch_size": self.batch_size,
                "shuffle": self.shuffle.get_state(),
                "augmentation": self.augmentation.get_state(),
                "permutation": None if self.permutation is None else self.permutation.cpu(),
                "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["pairs"], state["batch_size"]) != (len(self.pairs), self.batch_size):
            raise ValueError(f"the saved stream has {state['pairs']} pairs in batches of "
                             f"{state['batch_size']}; this one has {len(self.pairs)} in "
                             f"batches of {self.batch_size}")
        self.shuffle.set_state(state["shuffle"])
        self.augmentation.set_state(state["augmentation"])
        permutation = state["permutation"]
        self.permutation = None if permutation is None else permutation.to(self.device)
        self.position = int(state["position"])


class InOrder:
    """A split's batches in order, no augmentation (a `Pass`); nothing carries over."""

    def __init__(self, pairs: StereoSet, batch_size: int) -> None:
        self.pairs, self.batch_size = pairs, batch_size

    def __iter__(self) -> Iterator[Batch]:
        for start in range(0, len(self.pairs), self.batch_size):
            yield stereo_batch(self.pairs.subset(slice(start, start + self.batch_size)))

    def carry(self, outputs: Any) -> None:
        """Stereo batches are independent."""


def random_batches(pairs: StereoSet, batch_size: int, count: int,
                   generator: torch.Generator) -> list[Batch]:
    """`count` batches of random pairs (curvature probes, RS-ws scoring), from `generator`.

    They run the network without the stop-gradient on the previous prediction: the same
    loss values, and its true alpha-Hessian (see `network`)."""
    size = min(batch_size, len(pairs))
    batches = []
    for _ in range(count):
        chosen = pairs.subset(torch.randperm(len(pairs), generator=generator)[:size])
        batches.append(Batch((chosen.left, chosen.right), chosen.disparity, size,
                             options={"stop_gradient": False}))
    return batches
