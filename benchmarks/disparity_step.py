"""Seconds per S6 search iteration (architecture step + weight step), per lambda_max estimate,
and peak memory, for the disparity presets.

Prints one JSON object. Settings: `cpu` and `paper`, the disparity search presets
(AutoDispNet-C at C = 8, 64x128, 4 encoder cells, D = 6, batch 8 / C = 24, 192x384, 6 encoder
cells, D = 40, batch 4), on generated flying shapes at the preset's size (the paper's
FlyingThings3D is not read: only the tensor sizes matter here). Each (setting, variant) runs
in its own process so that its peak memory (max RSS on the CPU, max allocated on CUDA) is its
own. The iteration timed is `Search.arch_step` followed by `Search.weight_step` on the real
streams, the first discarded as warm-up. The variant `lambda_max` times one cold Lanczos
estimate on one validation batch (the per-epoch probe of DARTS-ES), after two first-order
iterations so that the supernet is not at its initialisation.

    python benchmarks/disparity_step.py [--settings cpu,paper]
        [--variants first_order,second_order,lambda_max] [--iterations 3]
"""

from __future__ import annotations

from step_harness import VARIANTS, main, time_search_steps

PAIRS = 16  # generated pairs per split: enough batches for the timed iterations


def _search(setting: str, variant: str, device_name: str):
    from rdarts.domains.disparity.domain import DisparityDomain
    from rdarts.runtime import resolve_device
    from rdarts.search.config import resolve
    from rdarts.search.loop import Search

    order = VARIANTS["first_order" if variant == "lambda_max" else variant]
    config = resolve(setting, None, {"domain": "disparity", "dataset": "shapes",
                                     "data_dir": None, "device": device_name,
                                     "train_pairs": PAIRS, "val_pairs": PAIRS, **order})
    return Search(config, DisparityDomain(), resolve_device(device_name))


def _lambda_max(search) -> dict:
    import resource
    import time

    import torch

    from rdarts.search import probe

    plan = search.plan()
    search.prepare_epoch(plan)
    for _ in range(2):
        train_batch, val_batch = search.data.train.next(), search.data.val.next()
        search.arch_step(train_batch, val_batch, plan)
        search.data.train.carry(search.weight_step(train_batch, plan))
    start = time.perf_counter()
    record = probe.measure(search, batches=1)
    seconds = time.perf_counter() - start
    device = search.device
    peak_mb = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"median_seconds": round(seconds, 3), "hessian_products": record["hessian_products"],
            "seconds_per_product": round(seconds / record["hessian_products"], 4),
            "lambda_max": record["lambda_max"], "peak_memory_mb": round(peak_mb, 1),
            "device": str(device), "threads": torch.get_num_threads()}


def measure(setting: str, variant: str, iterations: int, device_name: str) -> dict:
    """Time `iterations` search iterations after one warm-up (or one lambda_max estimate);
    runs inside a child process."""
    search = _search(setting, variant, device_name)
    settings = search.config.domain_settings
    sizes = {"channels": search.config.channels, "batch_size": search.config.batch_size,
             **{key: settings[key] for key in ("height", "width", "encoder_cells",
                                               "max_displacement")}}
    if variant == "lambda_max":
        return {**_lambda_max(search), **sizes}
    return {**time_search_steps(search, iterations, digits=3), **sizes}


if __name__ == "__main__":
    main(__file__, __doc__.splitlines()[0], measure, "cpu,paper", 3)
