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

from step_harness import VARIANTS, main, time_search_steps

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
    result = time_search_steps(search, iterations, digits=3)
    return {**result, "hidden_size": config.domain_settings["hidden_size"],
            "batch_size": config.batch_size}


if __name__ == "__main__":
    main(__file__, __doc__.splitlines()[0], measure, "cpu,paper", 3)
