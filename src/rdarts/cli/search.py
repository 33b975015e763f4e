"""`search`, `r-darts` and `select`: running the search methods.

`search` runs one search into a run directory. `r-darts` (R-DARTS, paper Section 7.2; also
spelled `rdarts rdarts`) and `select` (the selection protocol of Table 5) both run several
searches, retrain each found cell briefly and keep the best; they share one parser builder and
one handler because they differ only in how the candidate searches are made.
"""

from __future__ import annotations

import argparse

from rdarts.cli.flags import (
    Commands,
    _add_config_flags,
    add_executor_flags,
    add_out_and_print_config,
    add_output_flags,
    config_overrides,
    print_config,
    require_out,
)
from rdarts.errors import RdartsError
from rdarts.search.config import SearchConfig, preset_names, train_preset_names

# R-DARTS's regularisers, named as DARTS-ADA's; `dp` (the first spelling) is still accepted.
REGULARIZER_CHOICES = ("l2", "drop_path", "dp", "augment")


def add_parser(commands: Commands) -> None:
    """`search`, `r-darts` and `select`: the search methods and the selection protocol."""
    search = commands.add_parser(
        "search", help="run a DARTS search into a run directory",
        description="Run a DARTS architecture search. Settings: the paper's defaults, then "
                    "--preset, then --config FILE, then explicit flags. The defaults are the "
                    "paper's scale (hours on a CPU); --preset tiny is CPU-sized.",
    )
    add_out_and_print_config(search, "run directory (created; one per run)")
    search.add_argument("--preset", choices=preset_names(),
                        help="paper: the paper's search settings; tiny: a CPU-sized smoke run; "
                             "cpu: the CPU-scale study (image: S1-S4 at 5 cells; language: "
                             "about 15 minutes on 2 cores; disparity: S6 on flying shapes); "
                             "smoke: tests (language, disparity)")
    search.add_argument("--config", help="YAML file of settings (keys as the flags below)")
    search.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its checkpoint")
    search.add_argument("--overwrite", action="store_true",
                        help="discard the run in --out and start again")
    add_output_flags(search, many_jobs=False)
    _add_config_flags(search)
    search.set_defaults(handler=_search)

    for name, aliases, summary, description in (
        ("r-darts", ["rdarts"], "R-DARTS: K searches with K regularisation strengths, selected "
                                "by a short retraining",
         "R-DARTS (paper Section 7.2): run the search with 4 regularisation strengths (l2: "
         "3e-4, 9e-4, 27e-4, 81e-4; drop_path: 0, 0.2, 0.4, 0.6), retrain each found cell "
         "briefly on held-out training data, and keep the best by validation score "
         "(accuracy; perplexity for language). `rdarts rdarts` is the same command."),
        ("select", [], "any method, best of K seeds by a short retraining",
         "The selection protocol of the paper's Table 5: run the search K times with "
         "different seeds, retrain each found cell briefly on held-out training data, and "
         "keep the best by validation score (accuracy; perplexity for language)."),
    ):
        selection = commands.add_parser(name, aliases=aliases, help=summary,
                                        description=description)
        selection.add_argument("--out", required=True, help="selection directory")
        selection.add_argument("--preset", choices=preset_names(), help="search preset")
        selection.add_argument("--config", help="YAML file of search settings")
        if name == "r-darts":
            selection.add_argument("--regularizer", choices=REGULARIZER_CHOICES, default="l2",
                                   metavar="{l2,drop_path,augment}",
                                   help="the regulariser R-DARTS varies, named as in "
                                        "--ada-regularizer (dp: drop_path; augment: the "
                                        "disparity domain's augmentation scaling factor)")
            selection.add_argument("--values", type=float, nargs="+",
                                   help="the strengths to try, each once (default: the "
                                        "paper's four)")
        else:
            selection.add_argument("--num-seeds", "--seeds", dest="seeds", type=int, default=4,
                                   metavar="K",
                                   help="number of searches, with seeds --seed, --seed + 1, "
                                        "... (--seeds: the former spelling)")
        selection.add_argument("--retrain-preset", choices=train_preset_names(),
                               help="settings of the short retraining (default: quick for "
                                    "images, cpu for language)")
        selection.add_argument("--retrain-epochs", type=int,
                               help="epochs of the short retraining (DARTS used 100 on "
                                    "CIFAR-10)")
        add_executor_flags(selection)
        add_output_flags(selection, many_jobs=True)
        _add_config_flags(selection)
        selection.set_defaults(handler=_selection, protocol=name)


def _search(args: argparse.Namespace) -> int:
    from rdarts.runs.rundir import RunDir
    from rdarts.search.config import resolve
    from rdarts.search.task import run_search

    config = resolve(args.preset, args.config, config_overrides(args, SearchConfig))
    if args.print_config:
        return print_config(config.to_dict())
    require_out(args)
    RunDir(args.out).check(config.to_dict(), resume=args.resume, overwrite=args.overwrite)
    outcome = run_search(config, args.out, resume=args.resume, overwrite=args.overwrite,
                         quiet=args.quiet)
    print(f"genotype:\n{outcome.genotype}")
    print(f"run directory: {outcome.run_dir}")
    return 0


def _given_settings(args: argparse.Namespace) -> set[str]:
    """The search settings the user fixed: flags and the --config file's keys."""
    from rdarts.search.config import load_config_file

    given = set(config_overrides(args, SearchConfig))
    return given | set(load_config_file(args.config)) if args.config else given


def _candidates(args: argparse.Namespace, base: SearchConfig) -> tuple[list, str]:
    from rdarts.search.selection import (
        check_rdarts_values,
        rdarts_candidates,
        rdarts_label,
        seed_candidates,
    )

    if args.protocol == "r-darts":
        values = tuple(args.values) if args.values else None
        check_rdarts_values(args.regularizer, values, _given_settings(args))
        return (rdarts_candidates(base, args.regularizer, values),
                rdarts_label(args.regularizer))
    if args.seeds < 1:
        raise RdartsError("--num-seeds must be >= 1")
    return seed_candidates(base, args.seeds), f"select({base.method}, {args.seeds} seeds)"


def _selection(args: argparse.Namespace) -> int:
    from rdarts.experiments.executors import make_executor
    from rdarts.runs.atomic import check_out
    from rdarts.search.config import resolve, resolve_train
    from rdarts.search.selection import inherited_training, run_selection

    base = resolve(args.preset, args.config, config_overrides(args, SearchConfig))
    candidates, protocol = _candidates(args, base)
    check_out(args.out)
    retrain_overrides = inherited_training(base)
    if args.retrain_epochs is not None:
        retrain_overrides["epochs"] = args.retrain_epochs
    preset = args.retrain_preset or ("quick" if "domain" not in retrain_overrides else "cpu")
    retrain = resolve_train(preset, None, retrain_overrides)
    options = {"retries": args.retries}
    if args.executor == "ray":
        options.update(address=args.address, max_parallel=args.max_parallel)
    log = (lambda message: None) if args.quiet else None
    with make_executor(args.executor, log=log, **options) as executor:
        result = run_selection(candidates, retrain, args.out, executor=executor,
                               protocol=protocol, quiet=not args.verbose)
    name = result["score"]["name"]
    for record in result["candidates"]:
        score = (f"val {name} {record[f'val_{name}']:.4f}" if f"val_{name}" in record
                 else f"failed: {record.get('error')}")
        print(f"{record['name']:>12s}  {score}")
    chosen = next(r for r in result["candidates"] if r["name"] == result["chosen"])
    domain = retrain_overrides.get("domain")
    print(f"chosen: {result['chosen']}\ngenotype:\n{genotype_text(chosen['genotype'], domain)}")
    print(f"selection directory: {args.out}")
    # The paper presets of language and disparity name their dataset (PTB, FlyingThings3D).
    fully = (f"--domain {domain} --preset paper" if domain
             else f"--preset paper-c10 --dataset {base.dataset}")
    print(f"train it fully: rdarts train {args.out}/genotype.json {fully} --out <dir>")
    return 0


def genotype_text(data: dict, domain: str | None = None) -> str:
    """The cell as `rdarts search` prints it, from a genotype's JSON form (cells grouped by
    the domain's layouts)."""
    from rdarts.domains.registry import domain_genotype

    return str(domain_genotype(data, domain))
