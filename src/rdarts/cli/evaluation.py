"""`train`, `discretize` and `hessian`: evaluating and analysing what a search found.

`train` trains a genotype from scratch (the final evaluation, or a selection run);
`discretize` and `hessian` are the paper's analyses of a search run's checkpoint (Section 6
and the curvature of the validation loss w.r.t. alpha).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from rdarts.cli.flags import (
    TRAIN_HELP,
    Commands,
    _add_config_flags,
    _add_flags,
    add_out_and_print_config,
    add_output_flags,
    print_config,
    require_out,
)
from rdarts.domains.registry import domain_names, domain_settings
from rdarts.errors import ConfigError, GenotypeError
from rdarts.search.checks import HESSIAN_MODES
from rdarts.search.config import TrainConfig, train_preset_names


def _own_trainings() -> dict[str, type]:
    """The training settings classes of the domains that bring their own (language)."""
    owns = {name: domain_settings(name) for name in domain_names()}
    return {name: own.train_cls for name, own in owns.items()
            if own is not None and own.train_cls is not None}


def add_parser(commands: Commands) -> None:
    """`train`, `discretize` and `hessian`: evaluating and analysing what a search found."""
    train = commands.add_parser(
        "train", help="train a genotype from scratch (final evaluation or selection run)",
        description="Train a genotype from scratch with the paper's evaluation settings "
                    "(600 epochs on CIFAR-10: GPU-sized; --preset quick is CPU-sized). "
                    "GENOTYPE is a genotype JSON file or a search run directory.",
    )
    train.add_argument("genotype", metavar="GENOTYPE",
                       help="genotype.json, a search run directory, or darts_v2")
    add_out_and_print_config(train, "run directory (created; one per run)")
    train.add_argument("--preset", choices=train_preset_names(),
                       help="paper-c10 (36 channels, 20 cells), paper-c100, paper-svhn (16, 8); "
                            "quick: a CPU-sized short retraining (image); paper, cpu, smoke "
                            "(language, disparity)")
    train.add_argument("--domain", choices=domain_names(), default="image",
                       help="the genotype's domain: image, language or disparity (default: "
                            "image)")
    train.add_argument("--config", help="YAML file of settings (keys as the flags below)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--overwrite", action="store_true", help="discard the run in --out")
    add_output_flags(train, many_jobs=False)
    _add_config_flags(train, TrainConfig, TRAIN_HELP)
    shared = {f.name for f in fields(TrainConfig)} | {"domain"}
    for name, cls in _own_trainings().items():  # their settings beyond the image ones
        own = [f for f in fields(cls) if f.name not in shared]
        _add_flags(train.add_argument_group(f"{name} training settings (--domain {name})"),
                   own, {f.name: f.metadata["help"] for f in own})
        shared |= {f.name for f in own}
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
        description="Compute the curvature of the validation loss w.r.t. alpha (paper "
                    "Section 4) from a run's checkpoint: lambda_max and lambda_min by "
                    "Lanczos, and with --spectrum the dense Hessian's eigenvalues. Prints JSON "
                    "and writes it to RUN_DIR/hessian/epoch-NNNN.json.",
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


def _train(args: argparse.Namespace) -> int:
    from rdarts.core.genotype import load_genotype
    from rdarts.domains.registry import get_domain
    from rdarts.runs.rundir import RunDir
    from rdarts.search.config import resolve_train
    from rdarts.train.run import run_training

    config = resolve_train(args.preset, args.config, _train_overrides(args))
    if args.print_config:
        return print_config(config.to_dict())
    require_out(args)
    RunDir(args.out).check(None, resume=args.resume, overwrite=args.overwrite)
    domain = get_domain(args.domain)
    genotype = load_genotype(args.genotype, domain.known_genotypes, domain.layouts)
    try:
        domain.check_genotype(genotype)
    except GenotypeError as error:
        raise GenotypeError(f"genotype {args.genotype}: {error}") from None
    outcome = run_training(config, genotype, args.out, resume=args.resume,
                           overwrite=args.overwrite, quiet=args.quiet, domain=args.domain)
    result = outcome.result
    errors = "  ".join(f"{name} error: {100 * result[f'{name}_error']:.2f}%"
                       for name in ("val", "test") if result.get(f"{name}_error") is not None)
    errors += "  ".join(f"{name} perplexity: {result[f'{name}_perplexity']:.2f}"
                        for name in ("val", "test")
                        if result.get(f"{name}_perplexity") is not None)
    errors += "  ".join(f"{key[:-4].replace('_', '-')} EPE: {value:.3f}"
                        for key, value in result.items()
                        if key.endswith("_epe") and value is not None)
    print(f"{errors}  parameters: {result['parameters'] / 1e6:.3f}M")
    print(f"run directory: {outcome.run_dir}")
    return 0


def _train_overrides(args: argparse.Namespace) -> dict:
    """The training settings given as flags, for the class of `--domain`; a flag of another
    domain's training is refused."""
    cls = _own_trainings().get(args.domain, TrainConfig)
    every = {f.name for f in fields(TrainConfig)}
    for other in _own_trainings().values():
        every |= {f.name for f in fields(other)}
    mine = {f.name for f in fields(cls)}
    given = {name: getattr(args, name) for name in sorted(every - {"domain"})
             if getattr(args, name, None) is not None}
    foreign = sorted(set(given) - mine)
    if foreign:
        raise ConfigError(f"--{foreign[0].replace('_', '-')} is not a training setting of the "
                          f"{args.domain} domain")
    return {**given, **({"domain": args.domain} if "domain" in mine else {})}


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
