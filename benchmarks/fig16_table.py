"""The Figure 16 table of a language L2 sweep directory (`rdarts sweep fig16_cpu|fig16_ptb`).

Per L2 factor: the found genotypes, the test perplexity of their trainings (median, min, max
over the finished seeds), the search model's final one-shot validation perplexity (mean and
median over seeds) and lambda_max over the search (first, max, last; the paper shows none for
PTB). Unfinished searches or trainings are left out and counted. Prints Markdown.

    python benchmarks/fig16_table.py sweeps/fig16_cpu
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from rdarts.runs.rundir import RunDir


def _cell(genotype: dict) -> str:
    return " ".join(f"{op[:2]}{src}" for op, src in genotype["recurrent"])


def rows(sweep: Path) -> dict[float, list[dict]]:
    found: dict[float, list[dict]] = defaultdict(list)
    for job in sorted(p for p in sweep.iterdir() if (p / "search").is_dir()):
        search = RunDir(job / "search")
        result = search.finished_result()
        if result is None:
            continue
        config = search.read_config()
        metrics = search.read_metrics()
        trained = RunDir(job / "eval").finished_result() if (job / "eval").is_dir() else None
        found[float(config["weight_decay"])].append({
            "seed": config["seed"], "genotype": result["genotype"],
            "val_perplexity": result["final"].get("val_perplexity"),
            "lambda_max": [r["lambda_max"] for r in metrics if "lambda_max" in r],
            "test_perplexity": None if trained is None else trained.get("test_perplexity"),
        })
    return found


def table(found: dict[float, list[dict]]) -> str:
    lines = ["| L2 | seeds | test ppl median (min-max) | one-shot val ppl mean / median | "
             "lambda_max first / max / last (mean) | genotypes |", "|---|---|---|---|---|---|"]
    for factor in sorted(found):
        runs = found[factor]
        tests = [r["test_perplexity"] for r in runs if r["test_perplexity"] is not None]
        vals = [r["val_perplexity"] for r in runs if r["val_perplexity"] is not None]
        curves = [r["lambda_max"] for r in runs if r["lambda_max"]]
        test = (f"{statistics.median(tests):.1f} ({min(tests):.1f}-{max(tests):.1f})"
                if tests else "-")
        val = f"{statistics.mean(vals):.1f} / {statistics.median(vals):.1f}" if vals else "-"
        lam = ("-" if not curves else " / ".join(
            f"{statistics.mean(pick(c) for c in curves):.4f}" for pick in (
                lambda c: c[0], max, lambda c: c[-1])))
        cells = "; ".join(f"s{r['seed']}: {_cell(r['genotype'])}" for r in runs)
        lines.append(f"| {factor:g} | {len(runs)} ({len(tests)} trained) | {test} | {val} | "
                     f"{lam} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    found = rows(args.sweep)
    print(json.dumps(found, indent=2) if args.json else table(found))


if __name__ == "__main__":
    main()
