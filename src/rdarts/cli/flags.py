"""Settings dataclasses as command-line flags.

`search`, `rdarts`, `select` and `train` expose every field of SearchConfig or TrainConfig as
a flag whose default is None, so that only the flags a user gives override --preset and
--config. The flags are derived from the dataclass fields, not written out by hand, so a new
setting cannot be forgotten on the command line; what the fields cannot say (help texts and
the allowed values of the string and int settings) is kept here as tables.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from rdarts.domains.registry import domain_names, domain_settings
from rdarts.search.config import (
    ADA_REGULARIZERS,
    CUTOUT_SCHEDULES,
    EVAL_MODES,
    HESSIAN_MODES,
    METHODS,
    SECOND_ORDER_METHODS,
    SearchConfig,
)

# The object `add_subparsers` returns (argparse names its class privately).
Commands = argparse._SubParsersAction

HELP = {
    "domain": "the task: image (S1-S5, DARTS space; default) or language (DARTS' recurrent "
              "cells on PTB-format text; its own settings below)",
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
    "dataset": "fashion-mnist (embedded subset), cifar10, cifar100, svhn or imagefolder:PATH; "
               "language: auto (ptb with --data-dir, else kjv), kjv (embedded), ptb",
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
    "virtual_step_clip": "clip the gradient of the second-order virtual step to --grad-clip "
                         "too, as DARTS' recurrent search (the language presets)",
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
}


def _add_config_flags(parser: argparse.ArgumentParser, cls: type = SearchConfig,
                      helps: dict[str, str] = HELP) -> None:
    """Add one flag per field of the settings dataclass `cls`, defaulting to None."""
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
        kwargs: dict = {"dest": field.name, "default": None, "help": helps[field.name]}
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {"int": int, "float": float}.get(kind, str)
            kwargs["metavar"] = field.name.upper()
        if field.name in CHOICES:
            kwargs["choices"] = CHOICES[field.name]
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
