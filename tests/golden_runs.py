"""Four tiny CPU searches whose run files are kept as fixtures (tests/golden/<name>/).

They pin what users see: a later build must write the same `metrics.jsonl`, `genotype.json`
and `result.json` (every field but timings). Regenerate them only for a deliberate change:

    python tests/golden_runs.py          # rewrites tests/golden/*/ from this checkout

and say in the commit which fields changed and why.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden"
FILES = ("metrics.jsonl", "genotype.json", "result.json")

TINY = ["--space", "s3", "--nodes", "2", "--layers", "3", "--channels", "4",
        "--batch-size", "16", "--max-train-images", "64", "--val-batches", "1",
        "--device", "cpu", "--quiet"]

RUNS: dict[str, list[str]] = {
    "s3-second-order-fd": [*TINY, "--epochs", "2", "--order", "2",
                           "--second-order", "finite-difference"],
    "s3-second-order-exact": [*TINY, "--epochs", "2", "--order", "2", "--second-order", "exact"],
    "rs-ws": [*TINY, "--epochs", "2", "--method", "rs-ws", "--rs-samples", "12",
              "--rs-score-batches", "1", "--rs-top", "3", "--rs-choose-every", "1"],
    # window 1, lag 1 and a huge threshold: the rule fires at its first decision, so the run
    # rolls back once (3e-4 -> 3e-3) and then ignores triggers past R_max.
    "darts-ada-rollback": [*TINY, "--epochs", "3", "--order", "1", "--method", "darts-ada",
                           "--es-window", "1", "--es-lag", "1", "--es-threshold", "100"],
}


def run(name: str, out: Path) -> Path:
    """Run one of RUNS into `out` through the command line; return the run directory."""
    from rdarts.cli.app import main

    code = main(["search", *RUNS[name], "--out", str(out)])
    if code != 0:
        raise RuntimeError(f"golden run {name} exited with {code}")
    return out


def read(run_dir: Path) -> dict[str, Any]:
    """The compared content of a run directory: its files, timings removed."""
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return strip_timings({
        "metrics.jsonl": metrics,
        "genotype.json": json.loads((run_dir / "genotype.json").read_text()),
        "result.json": json.loads((run_dir / "result.json").read_text()),
    })


def strip_timings(value: Any) -> Any:
    """Drop every `seconds` / `*_seconds` field, recursively."""
    if isinstance(value, dict):
        return {k: strip_timings(v) for k, v in value.items()
                if not (k == "seconds" or k.endswith("_seconds"))}
    if isinstance(value, list):
        return [strip_timings(v) for v in value]
    return value


# Lanczos stops at a residual tolerance, so its figures move at that level when the float
# reduction order changes (another CPU's kernels); a changed formula moves them far more.
LANCZOS_KEYS = ("lambda_", "hessian_residual")


def differences(expected: Any, found: Any, where: str = "", rel: float = 1e-5) -> list[str]:
    """Where two read() trees differ; floats within `rel` (1e-5, or 5e-3 for Lanczos
    figures), everything else exactly."""
    if isinstance(expected, dict) and isinstance(found, dict):
        out = [f"{where}.{k}: missing" for k in expected if k not in found]
        out += [f"{where}.{k}: unexpected" for k in found if k not in expected]
        for k in expected:
            if k in found:
                loose = str(k).startswith(LANCZOS_KEYS)
                out += differences(expected[k], found[k], f"{where}.{k}",
                                   max(rel, 5e-3) if loose else rel)
        return out
    if isinstance(expected, list) and isinstance(found, list):
        if len(expected) != len(found):
            return [f"{where}: {len(expected)} items expected, {len(found)} found"]
        return [d for i, (e, f) in enumerate(zip(expected, found, strict=True))
                for d in differences(e, f, f"{where}[{i}]", rel)]
    if isinstance(expected, float) or isinstance(found, float):
        ok = (isinstance(found, int | float) and isinstance(expected, int | float)
              and math.isclose(expected, found, rel_tol=rel, abs_tol=1e-9 if rel < 1e-3
                               else 1e-4))
        return [] if ok else [f"{where}: {expected!r} expected, {found!r} found"]
    return [] if expected == found else [f"{where}: {expected!r} expected, {found!r} found"]


def write_all() -> None:
    import tempfile

    import torch

    torch.set_num_threads(1)  # as the tests run (conftest.py)
    with tempfile.TemporaryDirectory() as scratch:
        for name in RUNS:
            run_dir = run(name, Path(scratch) / name)
            target = GOLDEN / name
            target.mkdir(parents=True, exist_ok=True)
            for file in FILES:
                (target / file).write_text((run_dir / file).read_text())
            print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    write_all()
