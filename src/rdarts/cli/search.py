"""`search`, `rdarts` and `select`: running the search methods.

`search` runs one search into a run directory. `rdarts` (R-DARTS, paper Section 7.2) and
`select` (the selection protocol of Table 5) both run several searches, retrain each found
cell briefly and keep the best; they share one parser builder and one handler because they
differ only in how the candidate searches are made.
"""

from __future__ import annotations

import argparse

from rdarts.cli.flags import Commands, _add_config_flags, config_overrides
from rdarts.errors import RdartsError
from rdarts.search.config import SearchConfig, preset_names, train_preset_names


def add_parser(commands: Commands) -> None:
    """`search`, `rdarts` and `select`: the search methods and the selection protocol."""
    search = commands.add_parser(
        "search", help="run a DARTS search into a run directory",
        description="Run a DARTS architecture search. Settings: the paper's defaults, then "
                    "--preset, then --config FILE, then explicit flags.",
    )
    search.add_argument("--out", required=True, help="run directory (created; one per run)")
    search.add_argument("--preset", choices=preset_names(),
                        help="paper: the paper's search settings; tiny: a CPU-sized smoke run "
                             "(image); cpu: about 15 minutes on 2 cores, smoke: tests "
                             "(language)")
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
        selection.add_argument("--preset", choices=preset_names(), help="search preset")
        selection.add_argument("--config", help="YAML file of search settings")
        if name == "rdarts":
            selection.add_argument("--regularizer", choices=("l2", "dp"), default="l2",
                                   help="the regulariser R-DARTS varies (l2)")
            selection.add_argument("--values", type=float, nargs="+",
                                   help="the strengths to try (default: the paper's four)")
        else:
            selection.add_argument("--seeds", type=int, default=4,
                                   help="number of searches, seeds --seed, --seed + 1, ... (4)")
        selection.add_argument("--retrain-preset", choices=train_preset_names(),
                               help="settings of the short retraining (quick for images, cpu "
                                    "for language)")
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


def _search(args: argparse.Namespace) -> int:
    from rdarts.search.config import resolve
    from rdarts.search.task import run_search

    config = resolve(args.preset, args.config, config_overrides(args, SearchConfig))
    outcome = run_search(config, args.out, resume=args.resume, overwrite=args.overwrite,
                         quiet=args.quiet)
    print(f"genotype:\n{outcome.genotype}")
    print(f"run directory: {outcome.run_dir}")
    return 0


def _selection(args: argparse.Namespace) -> int:
    from rdarts.experiments.executors import make_executor
    from rdarts.search.config import resolve, resolve_train
    from rdarts.search.selection import (
        inherited_training,
        rdarts_candidates,
        run_selection,
        seed_candidates,
    )

    base = resolve(args.preset, args.config, config_overrides(args, SearchConfig))
    if args.protocol == "rdarts":
        values = tuple(args.values) if args.values else None
        candidates = rdarts_candidates(base, args.regularizer, values)
        protocol = f"r-darts({args.regularizer})"
    else:
        if args.seeds < 1:
            raise RdartsError("--seeds must be >= 1")
        candidates = seed_candidates(base, args.seeds)
        protocol = f"select({base.method}, {args.seeds} seeds)"
    retrain_overrides = inherited_training(base)
    if args.retrain_epochs is not None:
        retrain_overrides["epochs"] = args.retrain_epochs
    preset = args.retrain_preset or ("quick" if "domain" not in retrain_overrides else "cpu")
    retrain = resolve_train(preset, None, retrain_overrides)
    options = {"retries": args.retries}
    if args.executor == "ray":
        options.update(address=args.address, max_parallel=args.max_parallel)
    log = None if not args.quiet else (lambda message: None)
    with make_executor(args.executor, log=log, **options) as executor:
        result = run_selection(candidates, retrain, args.out, executor=executor,
                               protocol=protocol, quiet=args.quiet)
    name = result["score"]["name"]
    for record in result["candidates"]:
        score = (f"val {name} {record[f'val_{name}']:.4f}" if f"val_{name}" in record
                 else f"failed: {record.get('error')}")
        print(f"{record['name']:>12s}  {score}")
    chosen = next(r for r in result["candidates"] if r["name"] == result["chosen"])
    print(f"chosen: {result['chosen']}\ngenotype:\n{genotype_text(chosen['genotype'])}")
    print(f"selection directory: {args.out}")
    fully = ("--domain language --preset paper" if "domain" in retrain_overrides
             else "--preset paper-c10")
    print(f"train it fully: rdarts train {args.out}/genotype.json {fully} "
          f"--dataset {base.dataset} --out <dir>")
    return 0


def genotype_text(data: dict) -> str:
    """The cell as `rdarts search` prints it, from a genotype's JSON form."""
    from rdarts.core.genotype import genotype_from_dict

    return str(genotype_from_dict(data))
