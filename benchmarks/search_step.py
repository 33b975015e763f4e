"""Seconds per search iteration (architecture step + weight step) and peak memory.

Prints one JSON object. Settings (issue 2): (a) S3, 8 cells, 16 channels, batch 64 - the
paper's search setting; (b) S3, 5 cells, 8 channels, batch 32; random 32x32x3 images, 10
classes. Each (setting, variant) runs in its own process so that its peak memory (max RSS on
the CPU, max allocated on CUDA) is its own. The iteration timed is `Search.arch_step` followed
by `Search.weight_step` on batches drawn from the real device-resident batch streams.

    python benchmarks/search_step.py [--settings a,b] [--iterations 5] [--device cpu]
"""

from __future__ import annotations

from step_harness import VARIANTS, main, time_search_steps

SETTINGS = {
    "a": {"space": "s3", "layers": 8, "channels": 16, "batch_size": 64},
    "b": {"space": "s3", "layers": 5, "channels": 8, "batch_size": 32},
}


def measure(setting: str, variant: str, iterations: int, device_name: str) -> dict:
    """Time `iterations` search iterations after one warm-up; runs inside a child process."""
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
    return time_search_steps(search, iterations)


if __name__ == "__main__":
    main(__file__, __doc__.splitlines()[0], measure, "a,b", 5,
         header=lambda setting: {"setting": SETTINGS[setting]})
