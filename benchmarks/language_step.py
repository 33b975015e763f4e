"""Seconds per language search iteration (architecture step + weight step) and peak memory.

Prints one JSON object. Settings: `cpu` and `paper`, the language presets (H = 64, batch 32 /
H = 300, batch 256; BPTT 35; the paper's dropouts and TAR), on a random corpus with PTB's
10,000-word vocabulary. Each (setting, variant) runs in its own process so that its peak
memory (max RSS on the CPU, max allocated on CUDA) is its own. The iteration timed is
`Search.arch_step` followed by `Search.weight_step` on the real streams (hidden state carried),
with the first iteration discarded as warm-up.

    OMP_NUM_THREADS=1 python benchmarks/language_step.py [--settings cpu,paper]
        [--variants first_order,second_order,second_order_exact] [--iterations 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = {
    "first_order": {"order": 1},
    "second_order": {"order": 2, "second_order": "finite-difference"},
    "second_order_exact": {"order": 2, "second_order": "exact"},
}
VOCABULARY = 10_000


def measure(setting: str, variant: str, iterations: int, device_name: str) -> dict:
    """Time `iterations` search iterations after one warm-up; runs inside a child process."""
    import torch

    from rdarts.domains.language.corpus import Corpus
    from rdarts.domains.language.domain import LanguageDomain
    from rdarts.runtime import resolve_device
    from rdarts.search.config import resolve
    from rdarts.search.loop import Search

    device = resolve_device(device_name)
    config = resolve(setting, None, {"domain": "language", "device": device_name,
                                     "train_tokens": None, "valid_tokens": None,
                                     **VARIANTS[variant]})
    tokens = config.batch_size * 36 * (iterations + 2)
    generator = torch.Generator().manual_seed(0)
    corpus = Corpus("random", tuple(f"w{i}" for i in range(VOCABULARY)),
                    *(torch.randint(VOCABULARY, (tokens,), generator=generator)
                      for _ in range(3)))
    search = Search(config, LanguageDomain(corpus=corpus), device)
    plan = search.plan()
    search.prepare_epoch(plan)
    seconds = []
    for i in range(iterations + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        train_batch, val_batch = search.data.train.next(), search.data.val.next()
        search.arch_step(train_batch, val_batch, plan)
        search.data.train.carry(search.weight_step(train_batch, plan))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i > 0:
            seconds.append(time.perf_counter() - start)
    peak_mb = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"median_seconds": round(statistics.median(seconds), 3),
            "seconds": [round(s, 3) for s in seconds], "peak_memory_mb": round(peak_mb, 1),
            "hidden_size": config.domain_settings["hidden_size"],
            "batch_size": config.batch_size, "device": str(device),
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="cpu,paper")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=2, metavar=("SETTING", "VARIANT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.iterations, args.device)))
        return
    results: dict = {}
    for setting in args.settings.split(","):
        results[setting] = {}
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
