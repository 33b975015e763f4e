"""Training throughput of the evaluation network: images per second and peak memory.

Prints one JSON object. Setting (issue 4): the DARTS paper's published cell (DARTS V2), 16
channels, 8 cells, batch 96, auxiliary head and Cutout (16 px), drop path 0.2, on random
32x32x3 images with 10 classes. The timed step is `Training.step` plus the batch preparation
(device-resident uint8 slice, crop, flip, normalise, Cutout), after two warm-up steps.

    python benchmarks/train_throughput.py [--steps 10] [--device cpu] [--amp] [--channels-last]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch

from rdarts.core.genotype import genotype_from_dict
from rdarts.domains.image.datasets import random_dataset
from rdarts.domains.image.genotypes import KNOWN_GENOTYPES
from rdarts.domains.image.training import Training
from rdarts.runtime import resolve_device
from rdarts.search.config import resolve_train

WARMUP_STEPS = 2


def measure(steps: int, device_name: str, amp: bool, channels_last: bool) -> dict:
    device = resolve_device(device_name)
    batch = 96
    count = batch * (steps + WARMUP_STEPS + 1)
    dataset = random_dataset(count)
    config = resolve_train("paper-c10", overrides={
        "channels": 16, "layers": 8, "batch_size": batch, "device": device_name, "amp": amp,
        "channels_last": channels_last})
    training = Training(config, genotype_from_dict(KNOWN_GENOTYPES["darts_v2"]), dataset, device)
    training.network.train()
    seconds = []
    for i in range(steps + WARMUP_STEPS):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        images_batch, labels_batch = training.train_stream.next()
        training.step(images_batch, labels_batch, drop_path_prob=0.2)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= WARMUP_STEPS:
            seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    peak_mb = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"images_per_second": round(batch / median, 1),
            "median_step_seconds": round(median, 4), "steps": steps,
            "parameters": training.parameters, "peak_memory_mb": round(peak_mb, 1),
            "device": str(device), "threads": torch.get_num_threads(), "amp": amp,
            "channels_last": channels_last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--channels-last", action="store_true",
                        help="channels_last memory format (CPU and CUDA)")
    args = parser.parse_args()
    print(json.dumps(measure(args.steps, args.device, args.amp, args.channels_last), indent=2))


if __name__ == "__main__":
    main()
