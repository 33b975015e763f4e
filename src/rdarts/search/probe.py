"""The curvature probe: lambda_max of the validation Hessian w.r.t. alpha during a search.

Paper Section 4 (spec section 5): H = nabla^2_alpha L_val(w, alpha) at the current weights
(held fixed) on random validation batches, network in training mode (batch-statistics BN) by
default. Lanczos on Hessian-vector products gives lambda_max and lambda_min within a stated
error, warm-started from the previous epoch's top eigenvector; the dense Hessian's spectrum
only when asked (Figures 13/14). The probe draws its batches from a generator seeded by
(seed, epoch) and forks the global RNG, so a run with and without it follows the same path.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rdarts.core import curvature
from rdarts.core.alpha import alpha_entry_names
from rdarts.core.lanczos import lanczos_extremes

if TYPE_CHECKING:
    from rdarts.domains.base import Batch
    from rdarts.search.loop import Search


def probe_batches(search: Search, count: int, epoch: int | None = None) -> list[Batch]:
    """`count` random validation batches from a private generator seeded by (seed, epoch)
    (`epoch` defaults to the current one)."""
    epoch = search.epoch if epoch is None else epoch
    generator = torch.Generator().manual_seed(search.config.seed * 1_000_003 + epoch)
    return search.data.probe(count, generator)


def hessian_operator(search: Search, batches: list[Batch],
                     shift: bool | None = None) -> curvature.HessianOperator:
    """H = mean over batches of nabla^2_alpha L_val(w, alpha) (+ alpha weight decay * I).

    w is held fixed; every closure runs on scratch copies of the BN buffers, so the running
    statistics of the search are untouched (the network's mode is set by callers).
    """
    params = {name: p.detach() for name, p in search.supernet.named_parameters()}
    objective = search.objective

    def closure(batch: Batch) -> curvature.LossFn:
        return lambda alpha: objective(params, list(alpha), batch)

    shift = search.config.hessian_shift if shift is None else shift
    return curvature.HessianOperator([closure(b) for b in batches],
                                     search.architecture.parameters_list(),
                                     search.config.arch_weight_decay if shift else 0.0)


def measure(search: Search, batches: int | None = None, with_spectrum: bool = False,
            mode: str | None = None, shift: bool | None = None) -> dict[str, Any]:
    """lambda_max, lambda_min and what they cost; per-batch spread when averaging m > 1
    batches; the alpha entries that dominate the top eigenvector; optionally the dense
    Hessian's whole spectrum. `mode` and `shift` override the configuration's. Leaves the
    search state and every RNG as they were (but the warm start)."""
    config = search.config
    count = config.hessian_batches if batches is None else batches
    devices = [search.device] if search.device.type == "cuda" else []
    was_training = search.supernet.training
    search.supernet.train((mode or config.hessian_mode) == "train")
    try:
        with torch.random.fork_rng(devices=devices, device_type=search.device.type):
            record = _record(search, probe_batches(search, count), with_spectrum, shift)
    finally:
        search.supernet.train(was_training)
    return record


def _record(search: Search, batches: list[Batch], with_spectrum: bool,
            shift: bool | None) -> dict[str, Any]:
    start = time.perf_counter()
    with hessian_operator(search, batches, shift) as operator:
        result = lanczos_extremes(operator.matvec, operator.n,
                                            init=search.top_eigenvector)
        products = operator.products
        hessian = curvature.dense_hessian(operator) if with_spectrum else None
    search.top_eigenvector = result.eigenvector.detach().cpu()
    record: dict[str, Any] = {
        "lambda_max": result.lambda_max,
        "lambda_min": result.lambda_min,
        "hessian_products": products,
        "hessian_seconds": round(time.perf_counter() - start, 4),
        "hessian_residual": result.residual,
        "lambda_max_error_estimate": result.error_estimate,
        "hessian_batches": len(batches),
        "lambda_max_dominant": [
            [name, round(value, 4)] for name, value in curvature.dominant_entries(
                result.eigenvector, alpha_entry_names(search.space), k=5)
        ],
    }
    if len(batches) > 1:
        per_batch = []
        for batch in batches:
            with hessian_operator(search, [batch], shift) as operator:
                per_batch.append(
                    lanczos_extremes(operator.matvec, operator.n).lambda_max)
        record["lambda_max_per_batch"] = per_batch
        record["lambda_max_std"] = float(np.std(per_batch))
    if hessian is not None:
        eigenvalues = curvature.spectrum(hessian)
        record["spectrum"] = eigenvalues.tolist()
        record["top30_by_magnitude"] = curvature.top_by_magnitude(eigenvalues, 30).tolist()
        record["lambda_max_dense"] = float(eigenvalues[0])
    return record
