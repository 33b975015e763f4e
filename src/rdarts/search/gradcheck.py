"""How far the paper's finite-difference hypergradient is from the exact one, along a search.

The paper (and DARTS, Eq. 8) approximates the mixed term grad^2_{alpha,w} L_train . v by a
central difference with eps = r / ||v||, r = 0.01. On ReLU supernets the step w +- eps v can
jump over kinks of ReLU and max pooling, so the difference need not be close to the exact
double-backward product (`rdarts.core.hypergradient.second_order_exact`). With
`gradient_check_every K` the search measures, every K epochs, both hypergradients on the same
two probe batches (the first as the training batch of the virtual step, the second as the
validation batch) at the search's current w, alpha, momentum buffers and learning rate, for
r = 0.1, 0.01 (the paper's) and 0.001, and logs their relative difference
||g_fd - g_exact|| / ||g_exact|| and cosine. In float32 a smaller r is not better: at
r = 1e-5 the difference of the two gradients is mostly rounding (a relative difference of
25-42 on a 5-cell S2/S3 supernet, against 1.0-1.3 at r = 0.01 and 0.2-0.4 at r = 0.1).
The measurement leaves the search untouched: every RNG is forked, the objective runs on
scratch BN buffers and nothing is stepped.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch

from rdarts.core import hypergradient
from rdarts.search.probe import probe_batches

if TYPE_CHECKING:
    from rdarts.search.loop import Search

RADII = (0.1, 0.01, 0.001)  # around the paper's r = 0.01


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors]).double()


def hypergradient_agreement(search: Search) -> dict[str, Any]:
    """{"r": RADII, "relative_difference": [...], "cosine": [...], "exact_norm", "seconds"}
    for the search's current state (see the module docstring)."""
    start = time.perf_counter()
    plan = search.plan()
    train_batch, val_batch = probe_batches(search, 2)
    alpha = search.architecture.parameters_list()
    common = search.virtual_step(train_batch, plan)
    devices = [search.device] if search.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=search.device.type):
        exact = _flat(_replayed(search, lambda: hypergradient.second_order_exact(
            search.objective, alpha, train_batch, val_batch, **common)))
        finite = [_flat(_replayed(search, lambda r=r: hypergradient.second_order_finite_difference(
            search.objective, alpha, train_batch, val_batch, r=r, **common))) for r in RADII]
    norm = float(exact.norm())
    return {"r": list(RADII),
            "relative_difference": [float((g - exact).norm()) / max(norm, 1e-30)
                                    for g in finite],
            "cosine": [float(torch.nn.functional.cosine_similarity(g, exact, dim=0))
                       for g in finite],
            "exact_norm": norm, "seconds": round(time.perf_counter() - start, 4)}


def _replayed(search: Search, compute: Any) -> list[torch.Tensor]:
    """One hypergradient with the same random draws as the others (S4's noise, drop path)."""
    devices = [search.device] if search.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=search.device.type):
        torch.manual_seed(search.config.seed * 1_000_003 + search.epoch)
        return [g.detach() for g in compute()]


def check_due(search: Search) -> bool:
    """Every `gradient_check_every` epochs (0: never), and at the last epoch when on."""
    every = search.config.gradient_check_every
    return every > 0 and ((search.epoch + 1) % every == 0
                          or search.epoch + 1 == search.config.epochs)
