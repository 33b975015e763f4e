"""lambda_max by Lanczos versus the dense Hessian of L_val w.r.t. alpha: seconds and agreement.

Prints one JSON object. Settings (issue 3), random 32x32x3 images with 10 classes, the supernet
first trained for a few first-order search iterations so that it is not at its initialisation:
(a) S3, 5 cells, 8 channels, batch 32 (n = 84); (b) S1, 8 cells, 16 channels, batch 64
(n = 56); (c) the DARTS space, 5 cells, 8 channels, batch 32 (n = 224). Both computations use
the same validation batch, BN in training mode (as the paper), through `Search`'s own operator.
The dense Hessian is n Hessian-vector products (batched `chunk` columns at a time).

    python benchmarks/curvature.py [--settings a,b,c] [--chunk 1] [--device cpu]

Also reported: a warm-started Lanczos run (from the cold run's eigenvector) after three more
search iterations, which is what per-epoch tracking costs once the search is under way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

SETTINGS = {
    "a": {"space": "s3", "layers": 5, "channels": 8, "batch_size": 32},
    "b": {"space": "s1", "layers": 8, "channels": 16, "batch_size": 64},
    "c": {"space": "darts", "layers": 5, "channels": 8, "batch_size": 32},
}
WARMUP_ITERATIONS = 5


def _search(setting: str, device_name: str):
    from rdarts.domains.image.datasets import random_dataset
    from rdarts.domains.image.domain import ImageDomain
    from rdarts.runtime import resolve_device
    from rdarts.search.config import resolve
    from rdarts.search.loop import Search

    batch = SETTINGS[setting]["batch_size"]
    count = 2 * batch * (WARMUP_ITERATIONS + 1)
    dataset = random_dataset(count)
    config = resolve(overrides={**SETTINGS[setting], "order": 1, "device": device_name})
    search = Search(config, ImageDomain(dataset=dataset), resolve_device(device_name))
    settings = search.plan()
    for _ in range(WARMUP_ITERATIONS):
        train_batch, val_batch = search.data.train.next(), search.data.val.next()
        search.arch_step(train_batch, val_batch, settings)
        search.weight_step(train_batch, settings)
    return search


def measure(setting: str, chunk: int, device_name: str) -> dict:
    from rdarts.core import curvature
    from rdarts.core.lanczos import lanczos_extremes
    from rdarts.search import probe

    search = _search(setting, device_name)
    batches = search.curvature_batches(1)
    sync = (lambda: torch.cuda.synchronize(search.device)) if search.device.type == "cuda" \
        else (lambda: None)

    sync()
    start = time.perf_counter()
    with probe.hessian_operator(search, batches) as operator:
        lanczos = lanczos_extremes(operator.matvec, operator.n)
        lanczos_products = operator.products
    sync()
    lanczos_seconds = time.perf_counter() - start

    warm = _warm_start_run(search, lanczos.eigenvector, batches, sync)

    start = time.perf_counter()
    with probe.hessian_operator(search, batches) as operator:
        hessian = curvature.dense_hessian(operator, chunk=chunk)
        dense_products = operator.products
    eigenvalues = curvature.spectrum(hessian)
    sync()
    dense_seconds = time.perf_counter() - start
    dense_max = float(eigenvalues[0])
    return {
        "setting": SETTINGS[setting],
        "n": operator.n,
        "lambda_max_lanczos": lanczos.lambda_max,
        "lambda_max_dense": dense_max,
        "relative_difference": abs(lanczos.lambda_max - dense_max) / abs(dense_max),
        "largest_magnitude_eigenvalue": float(curvature.top_by_magnitude(eigenvalues, 1)[0]),
        "lanczos_seconds": round(lanczos_seconds, 3),
        "lanczos_products": lanczos_products,
        "lanczos_residual": lanczos.residual,
        "lanczos_warm_seconds": warm["seconds"],
        "lanczos_warm_products": warm["products"],
        "dense_seconds": round(dense_seconds, 3),
        "dense_products": dense_products,
        "speedup": round(dense_seconds / lanczos_seconds, 2),
        "device": str(search.device),
        "threads": torch.get_num_threads(),
    }


def _warm_start_run(search, eigenvector, batches, sync) -> dict:
    """Three more search iterations, then Lanczos warm-started from `eigenvector`."""
    from rdarts.core.lanczos import lanczos_extremes
    from rdarts.search import probe

    state = {k: v.detach().clone() for k, v in search.supernet.state_dict().items()}
    alpha = [a.detach().clone() for a in search.architecture.parameters_list()]
    settings = search.plan()
    for _ in range(3):
        train_batch, val_batch = search.data.train.next(), search.data.val.next()
        search.arch_step(train_batch, val_batch, settings)
        search.weight_step(train_batch, settings)
    sync()
    start = time.perf_counter()
    with probe.hessian_operator(search, batches) as operator:
        result = lanczos_extremes(operator.matvec, operator.n, init=eigenvector)
    sync()
    seconds = time.perf_counter() - start
    search.supernet.load_state_dict(state)  # the dense comparison uses the cold run's point
    with torch.no_grad():
        for a, saved in zip(search.architecture.parameters_list(), alpha, strict=True):
            a.copy_(saved)
    return {"seconds": round(seconds, 3), "products": result.products}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="a,b,c")
    parser.add_argument("--chunk", type=int, default=1,
                        help="Hessian columns per batched product in the dense computation")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    results = {}
    for setting in args.settings.split(","):
        results[setting] = measure(setting, args.chunk, args.device)
        print(f"{setting}: lanczos {results[setting]['lanczos_seconds']} s, dense "
              f"{results[setting]['dense_seconds']} s", file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
