"""Settings dataclasses as command-line flags.

`search`, `rdarts`, `select` and `train` expose every field of SearchConfig or TrainConfig as
a flag whose default is None, so that only the flags a user gives override --preset and
--config. The flags are derived from the dataclass fields, not written out by hand, so a new
setting cannot be forgotten on the command line; what the fields cannot say (help texts and
the allowed values of the string and int settings) is kept here as tables. The defaults in the
help are read from the dataclasses too, so the help cannot drift from what a run uses.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import Field, fields
from typing import Any

from rdarts.domains.registry import domain_names, domain_settings, get_domain
from rdarts.search.checks import (
    ADA_REGULARIZERS,
    CUTOUT_SCHEDULES,
    EVAL_MODES,
    HESSIAN_MODES,
    METHODS,
    MIXED_SUMS,
    SECOND_ORDER_METHODS,
)
from rdarts.search.config import SearchConfig

# The object `add_subparsers` returns (argparse names its class privately).
Commands = argparse._SubParsersAction

HELP = {
    "domain": "the task: image (S1-S5, DARTS space), language (DARTS' recurrent cells on "
              "PTB-format text) or disparity (S6, AutoDispNet-C on stereo pairs); the latter "
              "two have their own settings below",
    "method": "darts, darts-es (early stopping on lambda_max), darts-ada (adaptive "
              "regularisation with rollback) or rs-ws (random search with weight sharing)",
    "es_preset": "DARTS-ES rule: paper (smooth over 5 epochs, stop when "
                 "lambda_bar(i-5)/lambda_bar(i) < 0.75) or reference (the authors' code)",
    "es_window": "override: smoothing window in evaluations",
    "es_lag": "override: evaluations between the two compared smoothed values",
    "es_threshold": "override: stop when the earlier/later ratio falls below this",
    "es_burn_in": "override: never return an epoch before this one",
    "es_simulate": "record the early-stopping decision but keep searching",
    "ada_regularizer": "DARTS-ADA adapts l2 (the weight decay, paper), drop_path (image) or "
                       "augment (disparity: the augmentation scaling factor)",
    "ada_eta": "DARTS-ADA: factor on the regulariser at each rollback",
    "ada_max": "DARTS-ADA: the largest regulariser value",
    "rs_samples": "RS-ws: random architectures scored after supernet training",
    "rs_score_batches": "RS-ws: validation batches for the first scoring",
    "rs_choose_every": "RS-ws: also choose an architecture every K epochs, so its regret can be "
                       "followed during the search; 0: only at the end",
    "regret_table": "S5 tabular benchmark for the test regret of every epoch's genotype: auto "
                    "(the shipped table, on S5 with its dataset), none, or a table file",
    "rs_top": "RS-ws: best architectures re-scored on the whole validation split",
    "space": "search space: darts, s1, s2, s3, s4, s5 (image), darts-rnn... (language), s6 "
             "(disparity), or a YAML file",
    "nodes": "intermediate nodes per cell",
    "dataset": "fashion-mnist (embedded subset), cifar10, cifar100, svhn or imagefolder:PATH; "
               "language: auto (ptb with --data-dir, else kjv), kjv (embedded), ptb; "
               "disparity: shapes (generated), flyingthings3d, sintel",
    "data_dir": "folder with the dataset's files (fashion-mnist: the IDX files of the full set)",
    "download": "download the dataset into --data-dir when it is missing (needs internet)",
    "max_train_images": "use only the first K images of the official training set",
    "train_portion": "share of the training set for the weights; alpha gets the rest",
    "epochs": "search epochs",
    "layers": "cells in the search network",
    "channels": "initial channels C (disparity: the base width)",
    "batch_size": "minibatch size for weights and alpha",
    "order": "1: first-order DARTS; 2: second-order (the paper's setting)",
    "second_order": "how the second-order term is computed: finite-difference (paper) or exact "
                    "(double backward)",
    "lr": "initial weight learning rate, cosine-annealed",
    "lr_min": "final weight learning rate",
    "momentum": "SGD momentum for the weights",
    "weight_decay": "L2 factor on the weights (Section 5.2 sweeps it)",
    "grad_clip": "gradient norm clipping for the weights",
    "virtual_step_clip": "clip the gradient of the second-order virtual step to --grad-clip "
                         "too, as DARTS' recurrent search (the language presets)",
    "arch_lr": "Adam learning rate for alpha",
    "arch_beta1": "Adam beta1 for alpha",
    "arch_beta2": "Adam beta2 for alpha",
    "arch_weight_decay": "weight decay on alpha",
    "drop_path": "maximum ScheduledDropPath probability on mixed-edge outputs, ramped linearly",
    "crop_padding": "random-crop padding in pixels; 0 disables",
    "flip": "random horizontal flips of training images",
    "cutout_length": "Cutout square side in pixels",
    "cutout_prob": "maximum probability of applying Cutout to a training image; 0 disables",
    "cutout_schedule": "linear: ramp the Cutout probability over the search (paper); constant",
    "val_batches": "cap on the validation batches of the per-epoch one-shot evaluation",
    "hessian_every": "compute lambda_max of the validation Hessian w.r.t. alpha every K epochs "
                     "(0 disables)",
    "hessian_batches": "validation batches the Hessian is averaged over",
    "hessian_mode": "train: BN uses batch statistics (the paper); eval: running statistics",
    "hessian_shift": "add the alpha weight decay times I to the Hessian, as the reference code",
    "gradient_check_every": "every K epochs, log how far the finite-difference hypergradient "
                            "(r = 0.1, 0.01, 0.001) is from the exact one (0 disables)",
    "save_every": "also keep checkpoints/epoch-NNNN.pt every K epochs; 0: only the latest",
    "seed": "random seed",
    "device": "auto, cpu, cuda or cuda:N",
    "channels_last": "images: the search supernet and its batches in channels_last memory "
                     "format, on CPU and CUDA (equal within fp32 rounding)",
    "mixed_sum": "images: loop (a mixed edge sums its weighted ops in Python, DARTS' code) or "
                 "fused (one multiply-add per op) or batched (the edges leaving a state run "
                 "each op as one stacked call); equal within fp32 rounding",
    "lean_unroll": "second order: the virtual step and the +-eps shifts as foreach ops over "
                   "all weights, one scratch copy of the BN buffers per hypergradient "
                   "(bitwise equal)",
    "amp": "bf16 autocast for the weight step and the finite-difference virtual step; the "
           "+-eps passes, the validation step and lambda_max stay fp32",
}


TRAIN_HELP = {
    **{k: HELP[k] for k in ("dataset", "data_dir", "download", "max_train_images", "lr",
                            "momentum", "grad_clip", "crop_padding", "flip", "cutout_length",
                            "seed", "device")},
    "eval": "test: train on the whole training set, report test error (the paper); holdout: "
            "hold out part of the training set and report its error (for selection); both: "
            "train on the rest, report validation and test error (tabular benchmarks)",
    "holdout_fraction": "share of the training set held out with --eval holdout|both",
    "epochs": "training epochs",
    "lr_per_step": "anneal the cosine lr every step rather than every epoch (for trainings of "
                   "a few epochs)",
    "layers": "cells (paper: 20 on CIFAR-10, 8 on CIFAR-100 and SVHN)",
    "channels": "initial channels (paper: 36 on CIFAR-10, 16 on CIFAR-100 and SVHN)",
    "batch_size": "minibatch size",
    "lr_min": "final learning rate of the cosine schedule",
    "weight_decay": "L2 factor",
    "auxiliary": "auxiliary head after cell 2*layers//3",
    "auxiliary_weight": "weight of the auxiliary loss",
    "drop_path": "maximum drop-path probability on non-identity ops, ramped from 0",
    "cutout_prob": "probability of Cutout per image",
    "channels_last": "channels_last memory format (CPU and CUDA)",
    "amp": "bf16 autocast on CUDA",
}


# The allowed values of the settings that have a fixed set of them, for SearchConfig and
# TrainConfig alike (a field name means the same setting in both).
CHOICES: dict[str, Sequence[Any]] = {
    "second_order": SECOND_ORDER_METHODS,
    "cutout_schedule": CUTOUT_SCHEDULES,
    "hessian_mode": HESSIAN_MODES,
    "eval": EVAL_MODES,
    "method": METHODS,
    "domain": domain_names(),
    "es_preset": ("paper", "reference"),
    "ada_regularizer": ADA_REGULARIZERS,
    "order": (1, 2),
    "mixed_sum": MIXED_SUMS,
}


# What a setting whose dataclass default is None stands for, for the help's "(default: ...)".
NONE_DEFAULTS = {
    "nodes": "the space's own, 4; S5 has 1",
    "data_dir": "none; fashion-mnist then uses its embedded subset, other datasets need one",
    "max_train_images": "all",
    "val_batches": "all",
    "es_window": "the --es-preset's",
    "es_lag": "the --es-preset's",
    "es_threshold": "the --es-preset's",
    "es_burn_in": "the --es-preset's",
}


def _none_text(name: str) -> str:
    if name == "ada_max":  # the regularisers' R_max, as the default domain declares them
        regularizers = get_domain().regularizers
        return "R_max: " + ", ".join(f"{key} {r.r_max:g}" for key, r in regularizers.items())
    return NONE_DEFAULTS.get(name, "none")


def default_text(field: Field) -> str:
    """A settings field's default as its flag's help says it: "0.0003", "on", "all" ..."""
    value = field.default
    if value is None:
        return _none_text(field.name)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _add_config_flags(parser: argparse.ArgumentParser, cls: type = SearchConfig,
                      helps: dict[str, str] = HELP) -> None:
    """Add one flag per field of the settings dataclass `cls`, defaulting to None; the help
    says the dataclass default, a setting with fixed values lists them as its metavar."""
    group = parser.add_argument_group("settings (override --preset and --config)")
    _add_flags(group, [f for f in fields(cls) if f.name != "domain_settings"], helps)
    if cls is SearchConfig:
        for name in domain_names():
            own = domain_settings(name)
            if own is not None:
                _add_flags(parser.add_argument_group(f"{name} settings (--domain {name})"),
                           list(fields(own.cls)), {f.name: f.metadata["help"]
                                                   for f in fields(own.cls)})


def _add_flags(group: Any, settings: list, helps: dict[str, str]) -> None:
    for field in settings:
        flag = "--" + field.name.replace("_", "-")
        kind = str(field.type).replace(" | None", "")
        kwargs: dict = {"dest": field.name, "default": None,
                        "help": f"{helps[field.name]} (default: {default_text(field)})"}
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {"int": int, "float": float}.get(kind, str)
        if field.name in CHOICES:
            kwargs["choices"] = CHOICES[field.name]
        elif kind != "bool":
            kwargs["metavar"] = field.name.upper()
        group.add_argument(flag, **kwargs)


def config_overrides(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings of `cls` (and of the domains' own settings) the user gave as flags (those
    added by `_add_config_flags`)."""
    names = [f.name for f in fields(cls)]
    if cls is SearchConfig:
        names += [f.name for domain in domain_names()
                  if (own := domain_settings(domain)) is not None for f in fields(own.cls)]
    return {name: getattr(args, name) for name in names
            if getattr(args, name, None) is not None}


# ---- flags several commands share, so that they read and default the same everywhere -------

# Every command that runs jobs through an executor retries a failed job once: a transient
# fault (a lost Ray worker, a full disk freed meanwhile) then costs nothing, and a job that
# fails for good (a diverging search resumes from its checkpoint) costs one more attempt.
DEFAULT_RETRIES = 1


def add_executor_flags(parser: argparse.ArgumentParser) -> None:
    """--executor, --address, --max-parallel and --retries, as every multi-job command has."""
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="run the jobs one after another here, or as Ray tasks")
    parser.add_argument("--address", help="Ray cluster address (default: a local Ray)")
    parser.add_argument("--max-parallel", type=int, help="Ray: jobs in flight at once")
    parser.add_argument("--retries", type=int, default=DEFAULT_RETRIES,
                        help="extra attempts for a failed job")


def add_output_flags(parser: argparse.ArgumentParser, many_jobs: bool) -> None:
    """--quiet (and --verbose on commands of many jobs): one run shows its epochs unless
    --quiet; many jobs show one line per job, --verbose adds every job's epochs, --quiet
    leaves only the result."""
    if not many_jobs:
        parser.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
        return
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true",
                       help="only the result: no line per job, no epoch lines")
    group.add_argument("--verbose", action="store_true",
                       help="also every job's epoch lines (default: one line per job)")


def add_out_and_print_config(parser: argparse.ArgumentParser, out_help: str) -> None:
    """--out, needed unless --print-config (the usage line still shows it as needed)."""
    out = parser.add_argument("--out", help=f"{out_help}; needed unless --print-config")
    out.usage_required = True  # type: ignore[attr-defined]  # read by app.short_usage
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved settings as YAML (a valid --config file) and "
                             "exit")


def require_out(args: argparse.Namespace) -> None:
    """--out is required unless --print-config (argparse's own message and exit status)."""
    if args.out is None:
        args.command_parser.error("the following arguments are required: --out")


def print_config(settings: dict[str, Any]) -> int:
    import yaml

    print(yaml.safe_dump(settings, sort_keys=False), end="")
    return 0
