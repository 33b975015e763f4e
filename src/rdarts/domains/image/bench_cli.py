"""`rdarts bench s5 build|show|lookup`: the image domain's S5 tabular benchmark.

The S5 table (paper Section 3, Figure 2) holds all 81 architectures of S5 trained, so that a
search is scored by its test regret; these commands build it (resumably, in slices), print
its spread and ranking (also of a build still in progress) and look up one genotype.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_benchmark_commands(benchmarks: Any) -> None:
    """`bench s5 build|show|lookup` under the `bench` command's subparsers."""
    from rdarts.cli.flags import add_executor_flags, add_output_flags

    s5 = benchmarks.add_parser("s5", help="the S5 table",
                               description="Build, show or look up the S5 table.")
    actions = s5.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build", help="train all 81 architectures (resumable) and write the table",
        description="Train every S5 architecture with each seed of a protocol as a "
                    "`kind: train` sweep (rerun the same command to continue an interrupted "
                    "build; --progress and --max-jobs build it in slices, across machines), "
                    "then write the table. Protocols: cpu (full Fashion-MNIST, "
                    "about 3 hours on 2 CPU cores with --executor ray) and paper (CIFAR-10 "
                    "with the paper's evaluation settings, for GPU clusters).")
    build.add_argument("--protocol", choices=("cpu", "paper"), default="cpu",
                       help="training protocol")
    build.add_argument("--out", help="sweep directory (default: sweeps/s5-PROTOCOL)")
    build.add_argument("--table-out", help="table file (default: OUT/s5-PROTOCOL.json)")
    build.add_argument("--progress", metavar="FILE",
                       help="record of finished trainings (default: OUT/progress.json): "
                            "trainings it lists are not run again, in any --out, so keeping "
                            "this small file is enough to continue a build elsewhere")
    build.add_argument("--max-jobs", type=int, metavar="N",
                       help="train at most N of the remaining trainings this time (0: only "
                            "record what OUT has finished into the progress file)")
    build.add_argument("--data-dir", help="dataset folder (default with --protocol cpu: "
                                          "/usr/share/datasets/fashion-mnist)")
    build.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    build.add_argument("--seeds", type=int,
                       help="seeds per architecture (default: the protocol's, 2)")
    add_executor_flags(build)  # a job is one training (1 CPU each on Ray)
    add_output_flags(build, many_jobs=True)
    build.set_defaults(handler=_bench_build)
    show = actions.add_parser("show", help="the table's spread and its best architectures",
                              description="Print a table's protocol, spread (best, median, "
                                          "worst) and its architectures ranked by test error.")
    source = show.add_mutually_exclusive_group()
    source.add_argument("--table", help="a table file (default: the shipped cpu table)")
    source.add_argument("--progress", metavar="FILE",
                        help="a build's progress file: the architectures finished so far")
    show.add_argument("--top", type=int, default=10, help="architectures to list")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_bench_show)
    lookup = actions.add_parser("lookup", help="a genotype's table entry and test regret",
                                description="Look up an S5 genotype (a genotype file, a run "
                                            "directory or an architecture key such as "
                                            "sep.skip-pool.sep): prints JSON, errors and "
                                            "test_regret as fractions, test_regret_points in "
                                            "percentage points (the report's unit).")
    lookup.add_argument("genotype", metavar="GENOTYPE")
    lookup.add_argument("--table", help="a table file (default: the shipped cpu table)")
    lookup.set_defaults(handler=_bench_lookup)


def _bench_build(args: argparse.Namespace) -> int:
    from rdarts.domains.image.s5_build import build_table

    result = build_table(args.protocol, args.out, table_out=args.table_out,
                         progress=args.progress, max_jobs=args.max_jobs,
                         executor=args.executor, address=args.address,
                         max_parallel=args.max_parallel, retries=args.retries,
                         data_dir=args.data_dir, device=args.device, seeds=args.seeds,
                         quiet=not args.verbose,
                         log=(lambda line: None) if args.quiet else None)
    print(f"{result['done']} of {result['total']} trainings finished "
          f"(recorded in {result['progress']})")
    if result["table"] is None:
        print("rdarts: the table is not complete yet; rerun the same command to continue",
              file=sys.stderr)
        return 1
    print(f"table: {result['table']}")
    return 0


def _bench_show(args: argparse.Namespace) -> int:
    from rdarts.domains.image.s5 import load_table, spread

    if args.progress is not None:
        return _bench_show_progress(args)
    table = load_table(args.table)
    if args.json:
        print(json.dumps({"table": table.source, "protocol": table.protocol,
                          **_ranking(table.entries)}))
        return 0
    print(f"{table.name}: {table.protocol.get('description', '')}")
    print(f"rdarts {table.data.get('rdarts_version')}, built {table.data.get('built')}")
    _print_entries(table.entries, spread(table.entries), args.top)
    return 0


def _bench_show_progress(args: argparse.Namespace) -> int:
    from rdarts.domains.image.s5 import ARCHITECTURES, spread
    from rdarts.domains.image.s5_build import BuildProgress, partial_entries

    progress = BuildProgress.read(args.progress)
    entries = partial_entries(progress)
    counts = {"trainings": len(progress.runs), "architectures_complete": len(entries),
              "architectures": ARCHITECTURES, "seeds": list(progress.seeds())}
    if args.json:
        print(json.dumps({"progress": str(progress.path), "protocol": progress.protocol,
                          **counts, **(_ranking(entries) if entries else {})}))
        return 0
    print(f"s5-{progress.protocol} build in progress: {len(entries)} of {ARCHITECTURES} "
          f"architectures finished with every seed {counts['seeds']} "
          f"({len(progress.runs)} trainings recorded)")
    if entries:
        _print_entries(entries, spread(entries), args.top)
    return 0


def _ranking(entries: list) -> dict:
    from rdarts.domains.image.s5 import spread

    ranked = sorted(entries, key=lambda e: (e.test_error, e.index))
    return {**spread(entries), "ranked": [e.key for e in ranked]}


def _print_entries(entries: list, summary: dict, top: int) -> None:
    for name in ("best", "median", "worst"):
        row = summary[name]
        print(f"{name:6s} {row['architecture']:18s} test error {100 * row['test_error']:.2f}% "
              f"+- {100 * row['test_error_std']:.2f}  val error {100 * row['val_error']:.2f}%")
    spearman = summary["test_val_spearman"]
    print(f"mean std over seeds: {100 * summary['mean_seed_std']:.2f} points; Spearman "
          f"(test, val error): {'-' if spearman is None else f'{spearman:.3f}'}")
    print(f"{'rank':>4}  {'architecture':18s} {'test err %':>10} {'std':>5} {'val err %':>9} "
          f"{'params':>7}")
    ranked = sorted(entries, key=lambda e: (e.test_error, e.index))
    for rank, entry in enumerate(ranked[:top], start=1):
        print(f"{rank:>4}  {entry.key:18s} {100 * entry.test_error:>10.2f} "
              f"{100 * entry.test_error_std:>5.2f} {100 * entry.val_error:>9.2f} "
              f"{entry.parameters:>7d}")


def _bench_lookup(args: argparse.Namespace) -> int:
    from rdarts.domains.image.s5 import load_table, s5_genotype

    table = load_table(args.table)
    genotype = s5_genotype(args.genotype)
    entry = table.entry(genotype)
    found = table.lookup(genotype)
    print(json.dumps({**found, "test_regret_points": 100 * found["test_regret"],
                      "test_error_std": entry.test_error_std,
                      "val_error_std": entry.val_error_std, "parameters": entry.parameters,
                      "seeds": list(entry.seeds), "best": table.best.key}))
    return 0
