"""Command line: `rdarts search|rdarts|select|sweep|report|bench|train|discretize|hessian|
spaces`.

User mistakes (unknown names, malformed files, missing data, a run directory that holds
another run, a damaged checkpoint, a diverging loss) end with one line on stderr and a
non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import fields

from rdarts import __version__
from rdarts.errors import DivergenceError, RdartsError
from rdarts.search.config import (
    ADA_REGULARIZERS,
    CUTOUT_SCHEDULES,
    EVAL_MODES,
    HESSIAN_MODES,
    METHODS,
    PRESETS,
    SECOND_ORDER_METHODS,
    TRAIN_PRESETS,
    SearchConfig,
    TrainConfig,
)

# The object `add_subparsers` returns (argparse names its class privately).
Commands = argparse._SubParsersAction

EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130

HELP = {
    "method": "darts, darts-es (early stopping on lambda_max), darts-ada (adaptive "
              "regularisation with rollback) or rs-ws (random search with weight sharing)",
    "es_preset": "DARTS-ES rule: paper (smooth over 5 epochs, stop when "
                 "lambda_bar(i-5)/lambda_bar(i) < 0.75) or reference (the authors' code)",
    "es_window": "override: smoothing window in evaluations",
    "es_lag": "override: evaluations between the two compared smoothed values",
    "es_threshold": "override: stop when the earlier/later ratio falls below this",
    "es_burn_in": "override: never return an epoch before this one",
    "es_simulate": "record the early-stopping decision but keep searching",
    "ada_regularizer": "DARTS-ADA adapts l2 (the weight decay, paper) or drop_path",
    "ada_eta": "DARTS-ADA: factor on the regulariser at each rollback (10)",
    "ada_max": "DARTS-ADA: the largest regulariser value (3e-2 for l2, 0.6 for drop_path)",
    "rs_samples": "RS-ws: random architectures scored after supernet training (1000)",
    "rs_score_batches": "RS-ws: validation batches for the first scoring (4)",
    "rs_choose_every": "RS-ws: also choose an architecture every K epochs, so its regret can be "
                       "followed during the search (0: only at the end)",
    "regret_table": "S5 tabular benchmark for the test regret of every epoch's genotype: auto "
                    "(the shipped table, on S5 with its dataset), none, or a table file",
    "rs_top": "RS-ws: best architectures re-scored on the whole validation split (10)",
    "space": "search space: darts, s1, s2, s3, s4, s5, or a YAML file (default s3)",
    "nodes": "intermediate nodes per cell (default: the space's own, 4; S5 has 1)",
    "dataset": "fashion-mnist (embedded subset), cifar10, cifar100, svhn or imagefolder:PATH",
    "data_dir": "folder with the dataset's files (fashion-mnist: the IDX files of the full set)",
    "download": "download the dataset into --data-dir when it is missing (needs internet)",
    "max_train_images": "use only the first K images of the official training set",
    "train_portion": "share of the training set for the weights; alpha gets the rest (0.5)",
    "epochs": "search epochs (paper: 50)",
    "layers": "cells in the search network (paper: 8)",
    "channels": "initial channels C (paper: 16)",
    "batch_size": "minibatch size for weights and alpha (paper: 64)",
    "order": "1: first-order DARTS; 2: second-order (the paper's setting)",
    "second_order": "how the second-order term is computed: finite-difference (paper) or exact "
                    "(double backward)",
    "lr": "initial weight learning rate, cosine-annealed (0.025)",
    "lr_min": "final weight learning rate (0.001)",
    "momentum": "SGD momentum for the weights (0.9)",
    "weight_decay": "L2 factor on the weights (paper default 3e-4; Section 5.2 sweeps it)",
    "grad_clip": "gradient norm clipping for the weights (5)",
    "arch_lr": "Adam learning rate for alpha (3e-4)",
    "arch_beta1": "Adam beta1 for alpha (0.5)",
    "arch_beta2": "Adam beta2 for alpha (0.999)",
    "arch_weight_decay": "weight decay on alpha (1e-3)",
    "drop_path": "maximum ScheduledDropPath probability on mixed-edge outputs, ramped linearly",
    "crop_padding": "random-crop padding in pixels (4; 0 disables)",
    "flip": "random horizontal flips of training images",
    "cutout_length": "Cutout square side in pixels (16)",
    "cutout_prob": "maximum probability of applying Cutout to a training image (0 disables)",
    "cutout_schedule": "linear: ramp the Cutout probability over the search (paper); constant",
    "val_batches": "cap on the validation batches of the per-epoch one-shot evaluation",
    "hessian_every": "compute lambda_max of the validation Hessian w.r.t. alpha every K epochs "
                     "(1; 0 disables)",
    "hessian_batches": "validation batches the Hessian is averaged over (1, as the paper)",
    "hessian_mode": "train: BN uses batch statistics (the paper); eval: running statistics",
    "hessian_shift": "add the alpha weight decay times I to the Hessian, as the reference code",
    "save_every": "also keep checkpoints/epoch-NNNN.pt every K epochs (0: only the latest)",
    "seed": "random seed (0)",
    "device": "auto, cpu, cuda or cuda:N",
}


TRAIN_HELP = {
    **{k: HELP[k] for k in ("dataset", "data_dir", "download", "max_train_images", "lr",
                            "momentum", "grad_clip", "crop_padding", "flip", "cutout_length",
                            "seed", "device")},
    "eval": "test: train on the whole training set, report test error (the paper); holdout: "
            "hold out part of the training set and report its error (for selection); both: "
            "train on the rest, report validation and test error (tabular benchmarks)",
    "holdout_fraction": "share of the training set held out with --eval holdout|both (0.1)",
    "epochs": "training epochs (paper: 600)",
    "lr_per_step": "anneal the cosine lr every step rather than every epoch (for trainings of "
                   "a few epochs)",
    "layers": "cells (paper: 20 on CIFAR-10, 8 on CIFAR-100 and SVHN)",
    "channels": "initial channels (paper: 36 on CIFAR-10, 16 on CIFAR-100 and SVHN)",
    "batch_size": "minibatch size (96)",
    "lr_min": "final learning rate of the cosine schedule (0)",
    "weight_decay": "L2 factor (3e-4)",
    "auxiliary": "auxiliary head after cell 2*layers//3",
    "auxiliary_weight": "weight of the auxiliary loss (0.4)",
    "drop_path": "maximum drop-path probability on non-identity ops, ramped from 0 (0.2)",
    "cutout_prob": "probability of Cutout per image (1)",
    "channels_last": "channels_last memory format on CUDA",
    "amp": "bf16 autocast on CUDA",
}


def _add_config_flags(parser: argparse.ArgumentParser, cls: type = SearchConfig,
                      helps: dict[str, str] = HELP) -> None:
    group = parser.add_argument_group("settings (override --preset and --config)")
    for field in fields(cls):
        flag = "--" + field.name.replace("_", "-")
        kind = str(field.type).replace(" | None", "")
        kwargs: dict = {"dest": field.name, "default": None, "help": helps[field.name]}
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {"int": int, "float": float}.get(kind, str)
            kwargs["metavar"] = field.name.upper()
        if field.name == "second_order":
            kwargs["choices"] = SECOND_ORDER_METHODS
        if field.name == "cutout_schedule":
            kwargs["choices"] = CUTOUT_SCHEDULES
        if field.name == "hessian_mode":
            kwargs["choices"] = HESSIAN_MODES
        if field.name == "eval":
            kwargs["choices"] = EVAL_MODES
        if field.name == "method":
            kwargs["choices"] = METHODS
        if field.name == "es_preset":
            kwargs["choices"] = ("paper", "reference")
        if field.name == "ada_regularizer":
            kwargs["choices"] = ADA_REGULARIZERS
        if field.name == "order":
            kwargs["choices"] = (1, 2)
        group.add_argument(flag, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rdarts",
        description="Robust differentiable architecture search (Zela et al., ICLR 2020).",
    )
    parser.add_argument("--version", action="version", version=f"rdarts {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_search_commands(commands)
    _add_experiment_commands(commands)
    _add_bench_command(commands)
    _add_evaluation_commands(commands)
    _add_spaces_command(commands)
    return parser


def _add_search_commands(commands: Commands) -> None:
    """`search`, `rdarts` and `select`: the search methods and the selection protocol."""
    search = commands.add_parser(
        "search", help="run a DARTS search into a run directory",
        description="Run a DARTS architecture search. Settings: the paper's defaults, then "
                    "--preset, then --config FILE, then explicit flags.",
    )
    search.add_argument("--out", required=True, help="run directory (created; one per run)")
    search.add_argument("--preset", choices=sorted(PRESETS),
                        help="paper: the paper's search settings; tiny: a CPU-sized smoke run")
    search.add_argument("--config", help="YAML file of settings (keys as the flags below)")
    search.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its checkpoint")
    search.add_argument("--overwrite", action="store_true",
                        help="discard the run in --out and start again")
    search.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    _add_config_flags(search)
    search.set_defaults(handler=_search)

    for name, summary, description in (
        ("rdarts", "R-DARTS: K searches with K regularisation strengths, selected by a short "
                   "retraining",
         "R-DARTS (paper Section 7.2): run the search with 4 regularisation strengths (L2: "
         "3e-4, 9e-4, 27e-4, 81e-4; drop path: 0, 0.2, 0.4, 0.6), retrain each found cell "
         "briefly on held-out training data, and keep the best by validation accuracy."),
        ("select", "any method, best of K seeds by a short retraining",
         "The selection protocol of the paper's Table 5: run the search K times with "
         "different seeds, retrain each found cell briefly on held-out training data, and "
         "keep the best by validation accuracy."),
    ):
        selection = commands.add_parser(name, help=summary, description=description)
        selection.add_argument("--out", required=True, help="selection directory")
        selection.add_argument("--preset", choices=sorted(PRESETS), help="search preset")
        selection.add_argument("--config", help="YAML file of search settings")
        if name == "rdarts":
            selection.add_argument("--regularizer", choices=("l2", "dp"), default="l2",
                                   help="the regulariser R-DARTS varies (l2)")
            selection.add_argument("--values", type=float, nargs="+",
                                   help="the strengths to try (default: the paper's four)")
        else:
            selection.add_argument("--seeds", type=int, default=4,
                                   help="number of searches, seeds --seed, --seed + 1, ... (4)")
        selection.add_argument("--retrain-preset", choices=sorted(TRAIN_PRESETS),
                               default="quick", help="settings of the short retraining (quick)")
        selection.add_argument("--retrain-epochs", type=int,
                               help="epochs of the short retraining (DARTS used 100 on "
                                    "CIFAR-10)")
        selection.add_argument("--executor", choices=("local", "ray"), default="local",
                               help="run the jobs one after another here, or as Ray tasks")
        selection.add_argument("--address", help="Ray cluster address (default: a local Ray)")
        selection.add_argument("--max-parallel", type=int, help="Ray: jobs in flight at once")
        selection.add_argument("--retries", type=int, default=0,
                               help="extra attempts for a failed job (0)")
        selection.add_argument("--quiet", action="store_true", help="less output")
        _add_config_flags(selection)
        selection.set_defaults(handler=_selection, protocol=name)


def _add_experiment_commands(commands: Commands) -> None:
    """`sweep` and `report`: experiment grids and what they produced."""
    sweep = commands.add_parser(
        "sweep", help="run an experiment grid as independent jobs (local or Ray)",
        description="Expand a sweep file's grid into jobs (search, evaluation, analyses, or "
                    "selection) and run each as an independent job with its own run "
                    "directory; a rerun skips finished jobs and resumes unfinished ones. "
                    "Shipped sweeps: table1, table2_fig4_drop_path, fig5_l2, table5, tiny.",
    )
    sweep.add_argument("sweep", metavar="SWEEP", help="a sweep YAML file or a shipped name")
    sweep.add_argument("--out", help="sweep directory (default: sweeps/<name>)")
    sweep.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="run the jobs one after another here, or as Ray tasks")
    sweep.add_argument("--address", help="Ray cluster address (default: a local Ray)")
    sweep.add_argument("--max-parallel", type=int, help="Ray: jobs in flight at once")
    sweep.add_argument("--retries", type=int, default=1,
                       help="extra attempts for a failed job (1)")
    sweep.add_argument("--only", help="comma-separated shell patterns of job names to run")
    sweep.add_argument("--dry-run", action="store_true", help="list the jobs, run nothing")
    sweep.add_argument("--verbose", action="store_true", help="show every job's epochs")
    sweep.set_defaults(handler=_sweep)

    report = commands.add_parser(
        "report", help="markdown report, CSV tables and figures from run or sweep directories",
        description="Read every run below the given directories (search, selection and "
                    "training runs, sweeps) and write report.md with CSV tables in the paper's "
                    "layout (mean +- std (median) over seeds) and PNG figures: lambda_max and "
                    "validation error over epochs with the ES point, test error against mean "
                    "lambda_max (Pearson r), spectra, discretisation drop, alpha heat maps and "
                    "the cells.",
    )
    report.add_argument("inputs", metavar="RUN_OR_SWEEP_DIR", nargs="+",
                        help="run directories or folders holding them (searched recursively)")
    report.add_argument("--out", required=True, help="folder for report.md, tables, figures")
    report.set_defaults(handler=_report)


def _add_bench_command(commands: Commands) -> None:
    """`bench s5 build|show|lookup`: the S5 tabular benchmark."""
    bench = commands.add_parser(
        "bench", help="tabular benchmarks: build, show and look up the S5 table",
        description="The S5 tabular benchmark (paper Section 3, Figure 2): all 81 "
                    "architectures of S5 trained, so that a search is scored by its test "
                    "regret.")
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
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
                       help="training protocol (cpu)")
    build.add_argument("--out", help="sweep directory (default: sweeps/s5-PROTOCOL)")
    build.add_argument("--table-out", help="table file (default: OUT/s5-PROTOCOL.json)")
    build.add_argument("--progress", metavar="FILE",
                       help="record of finished trainings (default OUT/progress.json): "
                            "trainings it lists are not run again, in any --out, so keeping "
                            "this small file is enough to continue a build elsewhere")
    build.add_argument("--max-jobs", type=int, metavar="N",
                       help="train at most N of the remaining trainings this time (0: only "
                            "record what OUT has finished into the progress file)")
    build.add_argument("--data-dir", help="dataset folder (cpu: default "
                                          "/usr/share/datasets/fashion-mnist)")
    build.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (cpu)")
    build.add_argument("--seeds", type=int, help="seeds per architecture (protocol's: 2)")
    build.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="one training after another here, or Ray tasks (1 CPU each)")
    build.add_argument("--address", help="Ray cluster address (default: a local Ray)")
    build.add_argument("--max-parallel", type=int, help="Ray: trainings in flight at once")
    build.add_argument("--retries", type=int, default=1, help="extra attempts per training (1)")
    build.add_argument("--verbose", action="store_true", help="show every training's epochs")
    build.set_defaults(handler=_bench_build)
    show = actions.add_parser("show", help="the table's spread and its best architectures",
                              description="Print a table's protocol, spread (best, median, "
                                          "worst) and its architectures ranked by test error.")
    source = show.add_mutually_exclusive_group()
    source.add_argument("--table", help="a table file (default: the shipped cpu table)")
    source.add_argument("--progress", metavar="FILE",
                        help="a build's progress file: the architectures finished so far")
    show.add_argument("--top", type=int, default=10, help="architectures to list (10)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_bench_show)
    lookup = actions.add_parser("lookup", help="a genotype's table entry and test regret",
                                description="Look up an S5 genotype (a genotype file, a run "
                                            "directory or an architecture key such as "
                                            "sep.skip-pool.sep): prints JSON.")
    lookup.add_argument("genotype", metavar="GENOTYPE")
    lookup.add_argument("--table", help="a table file (default: the shipped cpu table)")
    lookup.set_defaults(handler=_bench_lookup)


def _add_evaluation_commands(commands: Commands) -> None:
    """`train`, `discretize` and `hessian`: evaluating and analysing what a search found."""
    train = commands.add_parser(
        "train", help="train a genotype from scratch (final evaluation or selection run)",
        description="Train a genotype from scratch with the paper's evaluation settings (spec "
                    "section 10). GENOTYPE is a genotype JSON file or a search run directory.",
    )
    train.add_argument("genotype", metavar="GENOTYPE",
                       help="genotype.json, a search run directory, or darts_v2")
    train.add_argument("--out", required=True, help="run directory (created; one per run)")
    train.add_argument("--preset", choices=sorted(TRAIN_PRESETS),
                       help="paper-c10 (36 channels, 20 cells), paper-c100, paper-svhn (16, 8); "
                            "quick: a CPU-sized short retraining")
    train.add_argument("--config", help="YAML file of settings (keys as the flags below)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--overwrite", action="store_true", help="discard the run in --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    _add_config_flags(train, TrainConfig, TRAIN_HELP)
    train.set_defaults(handler=_train)

    discretize = commands.add_parser(
        "discretize", help="one-shot accuracy with softmax(alpha) versus the one-hot genotype",
        description="The paper's Section 6 experiment: evaluate the search network on the "
                    "validation split with softmax(alpha) and with alpha replaced by the "
                    "genotype's one-hot selection (search weights kept), and report the drop. "
                    "Prints JSON and writes RUN_DIR/discretization.json.",
    )
    discretize.add_argument("run_dir", metavar="RUN_DIR", help="a search run directory")
    which = discretize.add_mutually_exclusive_group()
    which.add_argument("--epoch", type=int, help="a saved epoch (checkpoints/epoch-NNNN.pt)")
    which.add_argument("--all", action="store_true", help="every saved epoch")
    discretize.add_argument("--device", help="auto, cpu, cuda, cuda:N (default: the run's)")
    discretize.set_defaults(handler=_discretize)

    hessian = commands.add_parser(
        "hessian", help="lambda_max (and the spectrum) of a run's validation Hessian w.r.t. alpha",
        description="Compute the curvature of the validation loss w.r.t. alpha (spec section "
                    "5) from a run's checkpoint: lambda_max and lambda_min by Lanczos, and with "
                    "--spectrum the dense Hessian's eigenvalues. Prints JSON and writes it to "
                    "RUN_DIR/hessian/epoch-NNNN.json.",
    )
    hessian.add_argument("run_dir", metavar="RUN_DIR", help="a search run directory")
    hessian.add_argument("--epoch", type=int,
                         help="use checkpoints/epoch-NNNN.pt (saved with --save-every); "
                              "default: the latest checkpoint")
    hessian.add_argument("--batches", type=int, help="validation batches to average (default: "
                                                     "the run's --hessian-batches)")
    hessian.add_argument("--spectrum", action="store_true",
                         help="also build the dense Hessian and print all its eigenvalues")
    hessian.add_argument("--mode", choices=HESSIAN_MODES, help="BN mode (default: the run's)")
    hessian.add_argument("--shift", action=argparse.BooleanOptionalAction, default=None,
                         help="add the alpha weight decay times I (default: the run's)")
    hessian.add_argument("--device", help="auto, cpu, cuda, cuda:N (default: the run's)")
    hessian.set_defaults(handler=_hessian)


def _add_spaces_command(commands: Commands) -> None:
    """`spaces`: the built-in search spaces."""
    spaces = commands.add_parser("spaces", help="list the built-in search spaces or show one",
                                 description="List the built-in search spaces, or print one "
                                             "(or a YAML space file) edge by edge.")
    spaces.add_argument("name", nargs="?", help="a space name or YAML file to show")
    spaces.set_defaults(handler=_spaces)



def _search(args: argparse.Namespace) -> int:
    from rdarts.runs.driver import run_search
    from rdarts.search.config import resolve

    overrides = {f.name: getattr(args, f.name) for f in fields(SearchConfig)
                 if getattr(args, f.name) is not None}
    config = resolve(args.preset, args.config, overrides)
    outcome = run_search(config, args.out, resume=args.resume, overwrite=args.overwrite,
                         quiet=args.quiet)
    print(f"genotype:\n{outcome.genotype}")
    print(f"run directory: {outcome.run_dir}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from rdarts.experiments.runner import sweep_command

    return sweep_command(args.sweep, out=args.out, executor=args.executor,
                         address=args.address, max_parallel=args.max_parallel,
                         retries=args.retries, dry_run=args.dry_run, only=args.only,
                         quiet=not args.verbose)


def _report(args: argparse.Namespace) -> int:
    from rdarts.report.build import report_command

    return report_command(args.inputs, args.out)


def _bench_build(args: argparse.Namespace) -> int:
    from rdarts.domains.image.s5_build import build_table

    result = build_table(args.protocol, args.out, table_out=args.table_out,
                         progress=args.progress, max_jobs=args.max_jobs,
                         executor=args.executor, address=args.address,
                         max_parallel=args.max_parallel, retries=args.retries,
                         data_dir=args.data_dir, device=args.device, seeds=args.seeds,
                         quiet=not args.verbose)
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
    from rdarts.core.genotype import load_genotype
    from rdarts.domains.image.s5 import ARCHITECTURE_BY_KEY, load_table

    table = load_table(args.table)
    if args.genotype in ARCHITECTURE_BY_KEY:
        genotype = ARCHITECTURE_BY_KEY[args.genotype].genotype
    else:
        genotype = load_genotype(args.genotype)
    entry = table.entry(genotype)
    print(json.dumps({**table.lookup(genotype), "test_error_std": entry.test_error_std,
                      "val_error_std": entry.val_error_std, "parameters": entry.parameters,
                      "seeds": list(entry.seeds), "best": table.best.key}))
    return 0


def _selection(args: argparse.Namespace) -> int:
    from rdarts.experiments.executors import make_executor
    from rdarts.search.config import resolve, resolve_train
    from rdarts.search.selection import rdarts_candidates, run_selection, seed_candidates

    overrides = {f.name: getattr(args, f.name) for f in fields(SearchConfig)
                 if getattr(args, f.name) is not None}
    base = resolve(args.preset, args.config, overrides)
    if args.protocol == "rdarts":
        values = tuple(args.values) if args.values else None
        candidates = rdarts_candidates(base, args.regularizer, values)
        protocol = f"r-darts({args.regularizer})"
    else:
        if args.seeds < 1:
            raise RdartsError("--seeds must be >= 1")
        candidates = seed_candidates(base, args.seeds)
        protocol = f"select({base.method}, {args.seeds} seeds)"
    retrain_overrides = {"dataset": base.dataset, "data_dir": base.data_dir,
                         "download": base.download, "device": base.device, "seed": base.seed}
    if args.retrain_epochs is not None:
        retrain_overrides["epochs"] = args.retrain_epochs
    retrain = resolve_train(args.retrain_preset, None, retrain_overrides)
    options = {"retries": args.retries}
    if args.executor == "ray":
        options.update(address=args.address, max_parallel=args.max_parallel)
    log = None if not args.quiet else (lambda message: None)
    with make_executor(args.executor, log=log, **options) as executor:
        result = run_selection(candidates, retrain, args.out, executor=executor,
                               protocol=protocol, quiet=args.quiet)
    for record in result["candidates"]:
        score = (f"val accuracy {record['val_accuracy']:.4f}" if "val_accuracy" in record
                 else f"failed: {record.get('error')}")
        print(f"{record['name']:>12s}  {score}")
    chosen = next(r for r in result["candidates"] if r["name"] == result["chosen"])
    print(f"chosen: {result['chosen']}\ngenotype:\n{genotype_text(chosen['genotype'])}")
    print(f"selection directory: {args.out}")
    print(f"train it fully: rdarts train {args.out}/genotype.json --preset paper-c10 "
          f"--dataset {base.dataset} --out <dir>")
    return 0


def genotype_text(data: dict) -> str:
    from rdarts.core.genotype import genotype_from_dict

    return str(genotype_from_dict(data))


def _train(args: argparse.Namespace) -> int:
    from rdarts.core.genotype import load_genotype
    from rdarts.search.config import resolve_train
    from rdarts.train.training import run_training

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
                 if getattr(args, f.name) is not None}
    config = resolve_train(args.preset, args.config, overrides)
    genotype = load_genotype(args.genotype)
    outcome = run_training(config, genotype, args.out, resume=args.resume,
                           overwrite=args.overwrite, quiet=args.quiet)
    result = outcome.result
    errors = "  ".join(f"{name} error: {100 * result[f'{name}_error']:.2f}%"
                       for name in ("val", "test") if result.get(f"{name}_error") is not None)
    print(f"{errors}  parameters: {result['parameters'] / 1e6:.3f}M")
    print(f"run directory: {outcome.run_dir}")
    return 0


def _discretize(args: argparse.Namespace) -> int:
    from rdarts.search.analysis import run_discretization

    epochs = None if args.epoch is None else [args.epoch]
    records = run_discretization(args.run_dir, epochs=epochs, all_saved=args.all,
                                 device=args.device)
    print(json.dumps(records if args.all else records[0]))
    return 0


def _hessian(args: argparse.Namespace) -> int:
    from rdarts.search.analysis import run_hessian

    record = run_hessian(args.run_dir, epoch=args.epoch, batches=args.batches,
                         spectrum=args.spectrum, mode=args.mode, shift=args.shift,
                         device=args.device)
    print(json.dumps(record))
    return 0


def _spaces(args: argparse.Namespace) -> int:
    from rdarts.core.space import BUILTIN_SPACES, edge_endpoints, get_space

    if args.name is None:
        for name, space in BUILTIN_SPACES.items():
            ops = sorted({op for edge in space.normal + space.reduce for op in edge})
            print(f"{name:6s} nodes={space.nodes} alphas={space.num_alpha:4d}  {', '.join(ops)}")
        return 0
    space = get_space(args.name)
    print(json.dumps({"name": space.name, "nodes": space.nodes, "alphas": space.num_alpha}))
    for cell_type in ("normal", "reduce"):
        print(f"{cell_type} cell:")
        for edge, ((node, source), ops) in enumerate(
                zip(edge_endpoints(space.nodes), space.edges(cell_type), strict=True)):
            print(f"  edge {edge:2d}  node {node} <- state {source}: {', '.join(ops)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except DivergenceError as error:
        print(f"rdarts: diverged: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    except RdartsError as error:
        print(f"rdarts: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `rdarts ... | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except KeyboardInterrupt:
        print("rdarts: interrupted; the last finished epoch's checkpoint is kept "
              "(continue with --resume)", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
