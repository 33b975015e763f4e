"""Seconds per search iteration (architecture step + weight step) and peak memory.

Prints one JSON object. Settings (issue 2): (a) S3, 8 cells, 16 channels, batch 64 - the
paper's search setting; (b) S3, 5 cells, 8 channels, batch 32; random 32x32x3 images, 10
classes. Each (setting, variant) runs in its own process so that its peak memory (max RSS on
the CPU, max allocated on CUDA) is its own. The iteration timed is `Search.arch_step` followed
by `Search.weight_step` on batches drawn from the real device-resident batch streams.

    python benchmarks/search_step.py [--settings a,b] [--iterations 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

SETTINGS = {
    "a": {"space": "s3", "layers": 8, "channels": 16, "batch_size": 64},
    "b": {"space": "s3", "layers": 5, "channels": 8, "batch_size": 32},
}
VARIANTS = {
    "first_order": {"order": 1},
    "second_order": {"order": 2, "second_order": "finite-difference"},
    "second_order_exact": {"order": 2, "second_order": "exact"},
}


def measure(setting: str, variant: str, iterations: int, device_name: str) -> dict:
    """Time `iterations` search iterations after one warm-up; runs inside a child process."""
    import torch

    from rdarts.domains.image.datasets import random_dataset
    from rdarts.domains.image.domain import ImageDomain
    from rdarts.runtime import resolve_device
    from rdarts.search.config import resolve
    from rdarts.search.loop import Search

    device = resolve_device(device_name)
    batch = SETTINGS[setting]["batch_size"]
    count = 2 * batch * (iterations + 2)
    dataset = random_dataset(count)
    config = resolve(overrides={**SETTINGS[setting], **VARIANTS[variant], "epochs": 50,
                                "device": device_name})
    search = Search(config, ImageDomain(dataset=dataset), device)
    settings = search.plan()
    seconds = []
    for i in range(iterations + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        train_batch, val_batch = search.data.train.next(), search.data.val.next()
        search.arch_step(train_batch, val_batch, settings)
        search.weight_step(train_batch, settings)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i > 0:  # the first iteration warms up allocators and kernels
            seconds.append(time.perf_counter() - start)
    peak_mb = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"median_seconds": round(statistics.median(seconds), 4),
            "seconds": [round(s, 4) for s in seconds], "peak_memory_mb": round(peak_mb, 1),
            "device": str(device), "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="a,b")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=2, metavar=("SETTING", "VARIANT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.iterations, args.device)))
        return
    results: dict = {}
    for setting in args.settings.split(","):
        results[setting] = {"setting": SETTINGS[setting]}
        for variant in args.variants.split(","):
            child = subprocess.run(
                [sys.executable, __file__, "--child", setting, variant,
                 "--iterations", str(args.iterations), "--device", args.device],
                capture_output=True, text=True, check=True)
            results[setting][variant] = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"{setting} {variant}: {results[setting][variant]['median_seconds']} s",
                  file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
