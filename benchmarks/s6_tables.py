"""The CPU-scale Tables 3 and 4 (paper Section 5) from S6 sweep directories, with the paper's
rows beside them.

Per setting of the swept regulariser (the augmentation scale F of `table3_cpu`, the L2 factor
of `table4_cpu`): the finished searches, the one-shot validation EPE at the end of the search,
lambda_max of the last epoch, and for the DARTS cell and the DARTS-ES cell of the same search
(`es_simulate`) the test EPE, the shifted-test EPE and the parameters of the trained network
(mean +- std over seeds), the epochs DARTS-ES stopped at, and each cell's count of
parameter-free ops (skip_connect, max_pool_3x3) over its three cells. Unfinished searches or
trainings are left out and counted. Prints Markdown (or JSON); `--genotypes` prints the
found cells instead (DARTS and DARTS-ES, per setting and seed; nodes separated by " / ").

    python benchmarks/s6_tables.py results/s6/table3_cpu results/s6/table4_cpu
    python benchmarks/s6_tables.py --genotypes results/s6/table3_cpu
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import yaml

from rdarts.domains.registry import domain_genotype
from rdarts.runs.rundir import RunDir

# Zela et al. Tables 3 and 4: (one-shot val. EPE, FlyingThings3D test EPE, Sintel EPE, params M).
PAPER = {
    "augment_scale": {0.0: (4.49, 3.83, 5.69, 9.65), 0.1: (3.53, 3.75, 5.97, 9.65),
                      0.5: (3.28, 3.37, 5.22, 9.43), 1.0: (4.61, 3.12, 5.47, 12.46),
                      1.5: (5.23, 2.60, 4.15, 12.57), 2.0: (7.45, 2.33, 3.76, 12.25)},
    "weight_decay": {3e-4: (3.95, 3.25, 6.13, 11.00), 9e-4: (5.97, 2.30, 4.12, 13.92),
                     27e-4: (4.25, 2.72, 4.83, 10.29), 81e-4: (4.61, 2.34, 3.85, 12.16)},
}
PARAMETER_FREE = {"skip_connect", "max_pool_3x3"}
SHORT_OPS = {"sep_conv_3x3": "sep", "max_pool_3x3": "max", "skip_connect": "skip"}


def _axis(sweep: Path) -> str:
    """The regulariser the sweep's grid varies (its sweep.yaml, as `rdarts sweep` wrote it)."""
    grid = yaml.safe_load((sweep / "sweep.yaml").read_text()).get("grid", {})
    for axis in ("augment_scale", "weight_decay"):
        if axis in grid:
            return axis
    raise SystemExit(f"{sweep}: its grid varies neither augment_scale nor weight_decay")


def _value(config: dict, axis: str) -> float:
    if axis == "weight_decay":
        return float(config["weight_decay"])
    return float(config.get("domain_settings", {}).get("augment_scale", 1.0))


def _parameter_free(genotype: dict) -> int:
    return sum(op in PARAMETER_FREE for cell in ("normal", "reduce", "upsample")
               for op, _ in genotype[cell])


def _trained(path: Path) -> dict | None:
    return RunDir(path).finished_result() if path.is_dir() else None


def _run(job: Path, axis: str) -> tuple[float, dict] | None:
    search = RunDir(job / "search")
    result = search.finished_result()
    if result is None:
        return None
    config = search.read_config()
    metrics = search.read_metrics()
    stop = result.get("early_stopping") or {}
    darts = _trained(job / "eval")
    es = _trained(job / "eval-es") if stop.get("triggered") else darts
    cells = {"darts": result["genotype"], "es": stop.get("genotype", result["genotype"])}
    return _value(config, axis), {
        "seed": config["seed"], "one_shot_val_epe": result["final"]["val_epe"],
        "lambda_max": [r["lambda_max"] for r in metrics if r.get("lambda_max") is not None],
        "search_seconds": result.get("search_seconds"),
        "es_epoch": stop.get("return_epoch") if stop.get("triggered") else None,
        "darts": None if darts is None else _scores(darts, cells["darts"]),
        "es": None if es is None else _scores(es, cells["es"]),
        "genotypes": cells,
    }


def _scores(trained: dict, genotype: dict) -> dict:
    return {"test_epe": trained["test_epe"], "test_shift_epe": trained.get("test_shift_epe"),
            "parameters_m": trained["parameters"] / 1e6,
            "parameter_free": _parameter_free(genotype),
            "train_seconds": trained.get("train_seconds")}


def rows(sweeps: list[Path]) -> dict[str, dict[float, list[dict]]]:
    found: dict[str, dict[float, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for sweep in sweeps:
        axis = _axis(sweep)
        for job in sorted(p for p in sweep.iterdir() if (p / "search").is_dir()):
            run = _run(job, axis)
            if run is not None:
                value, record = run
                found[axis][value].append(record)
    return {axis: dict(values) for axis, values in found.items()}


def _mean_std(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def _column(runs: list[dict], cell: str, key: str, digits: int = 2) -> str:
    return _mean_std([r[cell][key] for r in runs if r[cell] is not None], digits)


def table(axis: str, found: dict[float, list[dict]]) -> str:
    name = {"augment_scale": "F", "weight_decay": "L2"}[axis]
    lines = [f"| {name} | searches (trained) | one-shot val EPE | lambda_max last / mean of "
             "last 3 | "
             "DARTS test EPE | DARTS shifted EPE | DARTS params (M) | DARTS param-free ops | "
             "ES epoch | ES test EPE | ES shifted EPE | ES param-free ops | "
             "paper: one-shot / FT test / Sintel / params |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for value in sorted(found):
        runs = sorted(found[value], key=lambda r: r["seed"])
        trained = sum(r["darts"] is not None for r in runs)
        paper = PAPER[axis].get(value)
        epochs = ", ".join("-" if r["es_epoch"] is None else str(r["es_epoch"]) for r in runs)
        lines.append(" | ".join([
            f"| {value:g}", f"{len(runs)} ({trained})",
            _mean_std([r["one_shot_val_epe"] for r in runs]),
            _mean_std([r["lambda_max"][-1] for r in runs if r["lambda_max"]], 3) + " / " +
            _mean_std([statistics.mean(r["lambda_max"][-3:]) for r in runs if r["lambda_max"]],
                      3),
            _column(runs, "darts", "test_epe"), _column(runs, "darts", "test_shift_epe"),
            _column(runs, "darts", "parameters_m", 3),
            _column(runs, "darts", "parameter_free", 1), epochs,
            _column(runs, "es", "test_epe"), _column(runs, "es", "test_shift_epe"),
            _column(runs, "es", "parameter_free", 1),
            " / ".join(f"{x:g}" for x in paper) + " |" if paper else "- |"]))
    return "\n".join(lines)


def cell_lines(genotype: dict) -> list[str]:
    """The three cells of an S6 genotype, one line each, ops shortened and nodes separated by
    " / " (the upsampling cell's first node has four inputs, its others two)."""
    lines = []
    for line in str(domain_genotype(genotype, "disparity")).splitlines():
        for op, short in SHORT_OPS.items():
            line = line.replace(op, short)
        lines.append(line.replace(" | ", " / "))
    return lines


def genotypes(axis: str, found: dict[float, list[dict]]) -> str:
    """The found cells of every finished search as a fenced text block: for each setting and
    seed the DARTS cell (the search's end) and the DARTS-ES cell, with their test EPE."""
    name = {"augment_scale": "F", "weight_decay": "L2"}[axis]
    lines = ["```"]
    for value in sorted(found):
        for run in sorted(found[value], key=lambda r: r["seed"]):
            cells = [("DARTS", "darts", "end")]
            if run["es_epoch"] is not None:
                cells.append(("DARTS-ES", "es", f"epoch {run['es_epoch']}"))
            for label, key, when in cells:
                scores = run[key]
                test = "untrained" if scores is None else f"test EPE {scores['test_epe']:.2f}"
                lines.append(f"{name} = {value:g}, seed {run['seed']}, {label} ({when}, {test})")
                lines += ["    " + line for line in cell_lines(run["genotypes"][key])]
    return "\n".join([*lines, "```"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", type=Path, nargs="+")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--genotypes", action="store_true",
                        help="print the found cells of every search instead of the table")
    args = parser.parse_args()
    found = rows(args.sweeps)
    if args.json:
        print(json.dumps(found, indent=2))
        return
    show = genotypes if args.genotypes else table
    for axis in ("augment_scale", "weight_decay"):
        if axis in found:
            print(show(axis, found[axis]) + "\n")


if __name__ == "__main__":
    main()
