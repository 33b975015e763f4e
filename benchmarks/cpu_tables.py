"""The CPU-scale S1-S4 study (docs/benchmarks/cpu-reproduction.md) from its sweep directories:
Table 1, the Figure 15 correlation and the regularisation grids, with the paper's CIFAR-10 rows.

Per space and setting (the grid's swept value besides space and seed: none for `table1_cpu`,
the L2 factor, the drop path maximum or the second-order mode for the others): the finished
searches, the one-shot validation error and lambda_max at the end (last epoch / mean of the
last 5), and for the DARTS cell (epoch 50) and the DARTS-ES cell of the same search
(`es_simulate`) the test error and parameters of the trained network (mean +- std over seeds),
each seed's count of parameter-free ops (skip, pooling, noise) among the 8 of its normal cell,
and the epochs DARTS-ES returned. `--correlation` prints Figure 15's points instead: test error
against the mean lambda_max of the search's last 5 epochs (for the DARTS-ES cell, the 5 epochs
up to its return epoch) with Pearson's r, and `--plot PNG` draws them; `--cost` prints the wall time
per search and per training. Unfinished searches or trainings are left out and counted.

    python benchmarks/cpu_tables.py results/cpu/table1
    python benchmarks/cpu_tables.py --correlation --plot docs/benchmarks/cpu-fig15.png \
        results/cpu/table1
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import yaml

from rdarts.domains.image.ops import PARAMETER_FREE_OPS
from rdarts.report.figures import pearson as report_pearson
from rdarts.runs.rundir import RunDir

# Zela et al. Table 1, CIFAR-10: DARTS and DARTS-ES test error (%), mean +- std (median).
PAPER_TABLE1 = {"s1": ("4.66 +- 0.71 (4.57)", "3.05 +- 0.07 (3.01)"),
                "s2": ("4.42 +- 0.40 (4.52)", "3.41 +- 0.14 (3.39)"),
                "s3": ("4.12 +- 0.85 (3.73)", "3.71 +- 1.14 (3.07)"),
                "s4": ("6.95 +- 0.18 (6.86)", "4.17 +- 0.21 (4.24)")}
SETTING_AXES = ("weight_decay", "drop_path", "second_order")
LAST_EPOCHS = 5


def _axis(sweep: Path) -> str | None:
    """The grid's swept setting besides space and seed (its sweep.yaml), if any."""
    grid = yaml.safe_load((sweep / "sweep.yaml").read_text()).get("grid", {})
    found = [axis for axis in SETTING_AXES if axis in grid]
    return found[0] if found else None


def parameter_free(genotype: dict, cell: str = "normal") -> int:
    return sum(op in PARAMETER_FREE_OPS for op, _ in genotype[cell])


def _trained(path: Path) -> dict | None:
    return RunDir(path).finished_result() if path.is_dir() else None


def _window_mean(series: dict[int, float], last: int) -> float | None:
    values = [series[e] for e in sorted(series) if last - LAST_EPOCHS < e <= last]
    return statistics.mean(values) if values else None


def run_record(job: Path, axis: str | None) -> dict | None:
    """One finished search of the study with its trained cells, or None if unfinished."""
    search = RunDir(job / "search")
    result = search.finished_result()
    if result is None:
        return None
    config = search.read_config()
    metrics = search.read_metrics()
    lambdas = {int(r["epoch"]): float(r["lambda_max"]) for r in metrics
               if r.get("lambda_max") is not None}
    epoch_seconds = [float(r["seconds"]) for r in metrics if r.get("seconds") is not None]
    stop = result.get("early_stopping") or {}
    fired = bool(stop.get("triggered"))
    last = max(lambdas) if lambdas else -1
    es_epoch = stop.get("return_epoch") if fired else None
    darts = _trained(job / "eval")
    es = _trained(job / "eval-es") if fired else darts
    cells = {"darts": result["genotype"], "es": stop.get("genotype") or result["genotype"]}
    return {
        "space": config["space"], "seed": config["seed"],
        "setting": config.get(axis) if axis else None,
        "one_shot_val_error": 100 * (1 - result["final"]["val_accuracy"]),
        "lambda_max_last": lambdas.get(last), "lambda_max_end": _window_mean(lambdas, last),
        "lambda_max_es": _window_mean(lambdas, es_epoch) if es_epoch is not None else None,
        "search_seconds": result.get("search_seconds"), "es_epoch": es_epoch,
        "epochs": len(epoch_seconds),
        "median_epoch_seconds": statistics.median(epoch_seconds) if epoch_seconds else None,
        "darts": _scores(darts, cells["darts"]), "es": _scores(es, cells["es"]),
    }


def _scores(trained: dict | None, genotype: dict) -> dict:
    scores = {"parameter_free": parameter_free(genotype)}
    if trained is not None:
        scores.update(test_error=100 * trained["test_error"],
                      parameters=trained["parameters"],
                      train_seconds=trained.get("train_seconds"))
    return scores


def collect(sweeps: list[Path]) -> dict[tuple[str, object], list[dict]]:
    """(space, setting) -> the finished searches' records, over all sweep directories."""
    found: dict[tuple[str, object], list[dict]] = defaultdict(list)
    for sweep in sweeps:
        axis = _axis(sweep)
        for job in sorted(p for p in sweep.iterdir() if (p / "search").is_dir()):
            record = run_record(job, axis)
            if record is not None:
                found[(record["space"], record["setting"])].append(record)
    return dict(found)


def _mean_std(values: list[float], digits: int = 2) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def _per_seed(runs: list[dict], pick) -> str:
    return ", ".join("-" if pick(r) is None else str(pick(r)) for r in runs)


def table(found: dict[tuple[str, object], list[dict]]) -> str:
    lines = ["| space | setting | searches (trained) | one-shot val. error % | lambda_max last / "
             "mean of last 5 | DARTS test error % | DARTS params | DARTS param-free ops "
             "(per seed) | ES epoch (per seed) | DARTS-ES test error % | ES param-free ops "
             "(per seed) | paper C10: DARTS / DARTS-ES |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for space, setting in sorted(found, key=lambda k: (k[0], str(k[1]))):
        runs = sorted(found[(space, setting)], key=lambda r: r["seed"])
        trained = sum("test_error" in r["darts"] for r in runs)
        paper = PAPER_TABLE1.get(space)
        lines.append(" | ".join([
            f"| {space.upper()}", "-" if setting is None else f"{setting}",
            f"{len(runs)} ({trained})",
            _mean_std([r["one_shot_val_error"] for r in runs], 1),
            _mean_std([r["lambda_max_last"] for r in runs], 3) + " / "
            + _mean_std([r["lambda_max_end"] for r in runs], 3),
            _mean_std([r["darts"].get("test_error") for r in runs]),
            _mean_std([r["darts"].get("parameters") for r in runs], 0),
            _per_seed(runs, lambda r: r["darts"]["parameter_free"]),
            _per_seed(runs, lambda r: r["es_epoch"]),
            _mean_std([r["es"].get("test_error") for r in runs]),
            _per_seed(runs, lambda r: r["es"]["parameter_free"]),
            (" / ".join(paper) if paper else "-") + " |"]))
    return "\n".join(lines)


def cost(found: dict[tuple[str, object], list[dict]]) -> str:
    """Wall time per search and per training. A search's total counts the time a sweep spent
    paused (SIGSTOP while timing something else), so its cost is given as the median epoch
    times the epochs, which pauses do not move."""
    lines = ["| space | setting | searches | median s per epoch | search (median x epochs) | "
             "search as logged | training s (DARTS / DARTS-ES) |", "|---|---|---|---|---|---|---|"]
    for space, setting in sorted(found, key=lambda k: (k[0], str(k[1]))):
        runs = sorted(found[(space, setting)], key=lambda r: r["seed"])
        medians = [r["median_epoch_seconds"] for r in runs]
        lines.append(" | ".join([
            f"| {space.upper()}", "-" if setting is None else f"{setting}", str(len(runs)),
            _mean_std(medians, 1),
            _mean_std([m * r["epochs"] for m, r in zip(medians, runs, strict=True)
                       if m is not None], 0),
            _mean_std([r["search_seconds"] for r in runs], 0),
            _mean_std([r["darts"].get("train_seconds") for r in runs], 0) + " / "
            + _mean_std([r["es"].get("train_seconds") for r in runs if r["es_epoch"]], 0)
            + " |"]))
    return "\n".join(lines)


def correlation_points(found: dict[tuple[str, object], list[dict]]) -> list[dict]:
    """Figure 15's points: one per trained cell (DARTS-ES only where it differs)."""
    points = []
    for (space, setting), runs in sorted(found.items(), key=lambda kv: str(kv[0])):
        for run in runs:
            cells = [("darts", run["lambda_max_end"])]
            if run["es_epoch"] is not None:
                cells.append(("es", run["lambda_max_es"]))
            for cell, lam in cells:
                error = run[cell].get("test_error")
                if lam is not None and error is not None:
                    points.append({"space": space, "setting": setting, "seed": run["seed"],
                                   "cell": cell, "lambda_max": lam, "test_error": error})
    return points


def pearson(points: list[dict]) -> float | None:
    """The report's Pearson coefficient (rdarts.report.figures) of Figure 15's points; None
    below 3 points, where it is +-1 by construction."""
    if len(points) < 3:
        return None
    return report_pearson([(p["lambda_max"], p["test_error"]) for p in points])


def correlation_text(points: list[dict]) -> str:
    lines = []
    for label, subset in (("all cells", points),
                          ("DARTS cells", [p for p in points if p["cell"] == "darts"]),
                          *((f"{s.upper()}", [p for p in points if p["space"] == s])
                            for s in sorted({p["space"] for p in points}))):
        r = pearson(subset)
        lines.append(f"{label}: n = {len(subset)}, Pearson r = "
                     f"{'n/a' if r is None else f'{r:.3f}'}")
    return "\n".join(lines)


def plot(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.5, 4.8))
    markers = {"darts": "o", "es": "^"}
    spaces = sorted({p["space"] for p in points})
    for index, space in enumerate(spaces):
        for cell, marker in markers.items():
            mine = [p for p in points if p["space"] == space and p["cell"] == cell]
            if mine:
                axes.scatter([p["lambda_max"] for p in mine], [p["test_error"] for p in mine],
                             marker=marker, color=f"C{index}", s=45,
                             label=f"{space.upper()} {'DARTS' if cell == 'darts' else 'DARTS-ES'}")
    r = pearson(points)
    axes.set_title(f"Test error vs. lambda_max of the last {LAST_EPOCHS} search epochs "
                   f"(Pearson r = {'n/a' if r is None else f'{r:.2f}'}, n = {len(points)})",
                   fontsize="medium")
    axes.set_xlabel(f"lambda_max, mean of the {LAST_EPOCHS} epochs up to the returned cell")
    axes.set_ylabel("test error % (Fashion-MNIST, cpu training)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", type=Path, nargs="+")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.add_argument("--correlation", action="store_true",
                        help="print Figure 15's points and Pearson's r instead of the table")
    parser.add_argument("--plot", type=Path, help="with --correlation: draw them to this PNG")
    parser.add_argument("--cost", action="store_true",
                        help="print the wall time per search and per training instead")
    args = parser.parse_args()
    found = collect(args.sweeps)
    if args.json:
        print(json.dumps({f"{s}/{v}": runs for (s, v), runs in found.items()}, indent=2))
    elif args.correlation:
        points = correlation_points(found)
        for p in points:
            print(f"{p['space']} {p['setting']} seed {p['seed']} {p['cell']}: lambda_max "
                  f"{p['lambda_max']:.3f}, test error {p['test_error']:.2f}%")
        print(correlation_text(points))
        if args.plot:
            plot(points, args.plot)
    elif args.cost:
        print(cost(found))
    else:
        print(table(found))


if __name__ == "__main__":
    main()
