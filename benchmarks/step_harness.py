"""What the search-step benchmarks share: timing search iterations on the real streams, peak
memory, and running every (setting, variant) in its own process so that its peak is its own.

`benchmarks/search_step.py` (images) and `benchmarks/language_step.py` (recurrent cells)
supply only how to build their search.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

BASE_VARIANTS = {
    "first_order": {"order": 1},
    "second_order": {"order": 2, "second_order": "finite-difference"},
    "second_order_exact": {"order": 2, "second_order": "exact"},
}
# The search's speed options (tests/test_speed_options.py states each one's tolerance);
# "fast": the options within fp32 rounding together, "fast_bf16" adds bf16 autocast;
# "batched": the stacked mixed edges, "fast_batched" with lean_unroll (channels_last does not
# combine with them).
OPTIONS = {
    "channels_last": {"channels_last": True},
    "fused": {"mixed_sum": "fused"},
    "lean": {"lean_unroll": True},
    "bf16": {"amp": True},
    "fast": {"channels_last": True, "mixed_sum": "fused", "lean_unroll": True},
    "fast_bf16": {"channels_last": True, "mixed_sum": "fused", "lean_unroll": True,
                  "amp": True},
    "batched": {"mixed_sum": "batched"},
    "fast_batched": {"mixed_sum": "batched", "lean_unroll": True},
}
SPEED_VARIANTS = {
    **{f"first_order_{name}": ("first_order", OPTIONS[name])
       for name in ("channels_last", "fused", "bf16", "fast", "fast_bf16", "batched")},
    **{f"second_order_{name}": ("second_order", OPTIONS[name]) for name in OPTIONS},
    **{f"second_order_exact_{name}": ("second_order_exact", OPTIONS[name])
       for name in ("channels_last", "fused", "lean", "fast", "batched", "fast_batched")},
}
VARIANTS = {**BASE_VARIANTS,
            **{name: {**BASE_VARIANTS[base], **options}
               for name, (base, options) in SPEED_VARIANTS.items()}}
# What a speed variant is timed against in a tree without the options (benchmarks/
# side_by_side.py): the same order with the default settings.
BASELINE = {name: base for name, (base, _) in SPEED_VARIANTS.items()}


def time_search_steps(search: Any, iterations: int, digits: int = 4) -> dict[str, Any]:
    """Seconds of `iterations` search iterations (arch step + weight step, the train stream's
    state carried) after one warm-up, and the process's peak memory."""
    import torch

    device = search.device
    plan = search.plan()
    search.prepare_epoch(plan)
    seconds = []
    first = 0.0
    for i in range(iterations + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        train_batch, val_batch = search.data.train.next(), search.data.val.next()
        search.arch_step(train_batch, val_batch, plan)
        search.data.train.carry(search.weight_step(train_batch, plan))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i > 0:  # the first iteration warms up allocators and kernels
            seconds.append(time.perf_counter() - start)
        else:
            first = time.perf_counter() - start
    peak_mb = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"median_seconds": round(statistics.median(seconds), digits),
            "seconds": [round(s, digits) for s in seconds],
            "warmup_seconds": round(first, digits), "peak_memory_mb": round(peak_mb, 1),
            "device": str(device), "threads": torch.get_num_threads()}


Measure = Callable[[str, str, int, str], dict]


def main(script: str, description: str, measure: Measure, settings: str, iterations: int,
         header: Callable[[str], dict] | None = None) -> None:
    """The benchmark's command line: as the parent, one child process per (setting, variant)
    and one JSON object on stdout; as a child (`--child`), one measurement."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--settings", default=settings)
    parser.add_argument("--variants", default=",".join(BASE_VARIANTS),
                        help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--iterations", type=int, default=iterations)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=2, metavar=("SETTING", "VARIANT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.iterations, args.device)))
        return
    results: dict = {}
    for setting in args.settings.split(","):
        results[setting] = header(setting) if header is not None else {}
        for variant in args.variants.split(","):
            child = subprocess.run(
                [sys.executable, script, "--child", setting, variant,
                 "--iterations", str(args.iterations), "--device", args.device],
                capture_output=True, text=True, check=True)
            results[setting][variant] = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"{setting} {variant}: {results[setting][variant]['median_seconds']} s",
                  file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))
