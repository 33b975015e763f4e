"""This checkout against a git revision, side by side: search-step seconds and peak memory.

A speed ratio is only worth something when both sides ran on the same machine in the same
conditions, so this script times this checkout and REV (a worktree of it, b4614d5 by default)
alternately, each (setting, variant) in its own process through each tree's own
`benchmarks/search_step.py --child`, on the same random data. Before every timed process it
waits for an idle machine, and it measures the CPU time other processes took while it ran
(the foreign share, from /proc/stat minus the child's own CPU time); a run above
`--max-foreign` (5%) is discarded and repeated. Prints one JSON object: per setting and
variant, the median over rounds of each side, the ratio REV / this (> 1: this checkout is
faster), the peak memory of each and every run's foreign share.

    python benchmarks/side_by_side.py [--against b4614d5] [--settings a,b] [--rounds 3]

A speed variant (`second_order_channels_last`, ... in step_harness.SPEED_VARIANTS) runs in
this checkout and its baseline (`second_order`) in REV, so the ratio is what the option and
the code since REV gain together; `--against HEAD` gives the option's own gain.

The paper's own code was measured against b4614d5 on 2026-12-01 (docs/benchmarks.md); with
the default REV the output also gives `paper_code_ratio_estimate` = ratio x (paper's code /
b4614d5 from that table): an estimate through that table, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from step_harness import BASELINE

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REV = "b4614d5"
# Seconds of the paper's code / rdarts at b4614d5, measured together (docs/benchmarks.md).
PAPER_OVER_B4614D5 = {("a", "second_order"): 5.79 / 4.36, ("a", "first_order"): 1.80 / 1.66,
                      ("b", "second_order"): 1.00 / 0.86, ("b", "first_order"): 0.40 / 0.34}


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot (/proc/stat's cpu line)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def wait_for_idle(limit_s: float, max_busy: float) -> float:
    """Wait (at most `limit_s`) until the machine is busy less than `max_busy` of its CPU over
    a 2-second window; return the last window's busy share."""
    deadline = time.monotonic() + limit_s
    while True:
        busy0, total0 = busy_jiffies()
        time.sleep(2.0)
        busy1, total1 = busy_jiffies()
        share = (busy1 - busy0) / max(1, total1 - total0)
        if share < max_busy or time.monotonic() > deadline:
            return share


def worktree(rev: str) -> Path:
    """A detached worktree of `rev` next to the system's temporary files (made once)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True,
                         capture_output=True, text=True).stdout.strip()
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"rdarts-against-{sha}"
    if not (path / "benchmarks" / "search_step.py").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), sha],
                       check=True, capture_output=True)
    return path


def timed_child(tree: Path, setting: str, variant: str, iterations: int,
                threads: int) -> dict:
    """One measurement in its own process, with the foreign CPU share while it ran."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, str(tree / "benchmarks" / "search_step.py"), "--child", setting,
               variant, "--iterations", str(iterations), "--device", "cpu"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0 = busy_jiffies()[0]
    start = time.monotonic()
    child = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True,
                           check=True)
    wall = time.monotonic() - start
    busy1 = busy_jiffies()[0]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ticks = os.sysconf("SC_CLK_TCK")
    cpus = os.cpu_count() or 1
    foreign = max(0.0, (busy1 - busy0) / ticks - own) / (wall * cpus)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["foreign_cpu_share"] = round(foreign, 4)
    return result


def measure(tree: Path, setting: str, variant: str, args: argparse.Namespace) -> dict:
    """A measurement with a foreign share under the limit, retried up to `--attempts`."""
    discarded = []
    for _ in range(args.attempts):
        wait_for_idle(args.idle_wait, args.max_foreign)
        result = timed_child(tree, setting, variant, args.iterations, args.threads)
        if result["foreign_cpu_share"] <= args.max_foreign:
            return {**result, "discarded_foreign_shares": discarded}
        discarded.append(result["foreign_cpu_share"])
    return {**result, "discarded_foreign_shares": discarded, "over_limit": True}


def compare(args: argparse.Namespace) -> dict:
    trees = {"this": ROOT, "against": worktree(args.against)}
    report: dict = {"against": args.against, "threads": args.threads, "rounds": args.rounds,
                    "iterations": args.iterations, "max_foreign": args.max_foreign,
                    "results": {}}
    for setting in args.settings.split(","):
        for variant in args.variants.split(","):
            runs: dict[str, list[dict]] = {"this": [], "against": []}
            for round_index in range(args.rounds):  # alternate, starting side by round
                order = ("this", "against") if round_index % 2 == 0 else ("against", "this")
                for side in order:
                    timed = variant if side == "this" else BASELINE.get(variant, variant)
                    runs[side].append(measure(trees[side], setting, timed, args))
            report["results"][f"{setting}/{variant}"] = summarise(runs, setting, variant, args)
            print(f"{setting} {variant}: {report['results'][f'{setting}/{variant}']['ratio']}x",
                  file=sys.stderr, flush=True)
    return report


def summarise(runs: dict[str, list[dict]], setting: str, variant: str,
              args: argparse.Namespace) -> dict:
    seconds = {side: statistics.median(r["median_seconds"] for r in rs)
               for side, rs in runs.items()}
    ratio = seconds["against"] / seconds["this"]
    summary = {"seconds": {k: round(v, 4) for k, v in seconds.items()},
               "ratio": round(ratio, 3),
               "peak_memory_mb": {side: max(r["peak_memory_mb"] for r in rs)
                                  for side, rs in runs.items()},
               "foreign_cpu_share": {side: [r["foreign_cpu_share"] for r in rs]
                                     for side, rs in runs.items()},
               "over_limit_runs": sum(bool(r.get("over_limit")) for rs in runs.values()
                                      for r in rs)}
    paper = PAPER_OVER_B4614D5.get((setting, BASELINE.get(variant, variant)))
    if paper is not None and args.against == DEFAULT_REV:
        summary["paper_code_ratio_estimate"] = round(ratio * paper, 3)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=DEFAULT_REV, help="git revision to compare with")
    parser.add_argument("--settings", default="a,b")
    parser.add_argument("--variants", default="second_order,first_order")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-foreign", type=float, default=0.05)
    parser.add_argument("--idle-wait", type=float, default=600.0,
                        help="seconds to wait for an idle machine before each run")
    parser.add_argument("--attempts", type=int, default=3)
    print(json.dumps(compare(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
