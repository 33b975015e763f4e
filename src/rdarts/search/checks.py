"""The ranges every setting must lie in, checked where settings are resolved (search and
training alike), so that a mistake is one line before any data loads, not a traceback later.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import TYPE_CHECKING

from rdarts.domains.registry import domain_names
from rdarts.errors import ConfigError

if TYPE_CHECKING:
    from rdarts.search.config import SearchConfig, TrainConfig

SECOND_ORDER_METHODS = ("finite-difference", "exact")
CUTOUT_SCHEDULES = ("linear", "constant")
HESSIAN_MODES = ("train", "eval")
METHODS = ("darts", "darts-es", "darts-ada", "rs-ws")
ADA_REGULARIZERS = ("l2", "drop_path", "augment")  # each domain says which of them it has
EVAL_MODES = ("test", "holdout", "both")
MIXED_SUMS = ("loop", "fused", "batched")


MAX_SEED = 2**32 - 1  # numpy's legacy seeding, which the data pipelines use, takes [0, 2**32)


def _in_unit(value: float) -> bool:
    return 0.0 <= value < 1.0


def _optimiser_checks(config: SearchConfig | TrainConfig) -> list[tuple[bool, str]]:
    """The weight optimiser, augmentation and seed settings both configs share."""
    return [
        (config.lr > 0, f"lr must be > 0, got {config.lr}"),
        (config.lr_min >= 0, f"lr_min must be >= 0, got {config.lr_min}"),
        (config.lr_min <= config.lr,
         f"lr_min must not exceed lr (the cosine schedule anneals from lr down to lr_min), "
         f"got lr_min {config.lr_min} > lr {config.lr}"),
        (_in_unit(config.momentum), f"momentum must be in [0, 1), got {config.momentum}"),
        (config.weight_decay >= 0, f"weight_decay must be >= 0, got {config.weight_decay}"),
        (config.grad_clip > 0, f"grad_clip must be > 0, got {config.grad_clip}"),
        (config.crop_padding >= 0, f"crop_padding must be >= 0, got {config.crop_padding}"),
        (config.cutout_length >= 0, f"cutout_length must be >= 0, got {config.cutout_length}"),
        (0 <= config.seed <= MAX_SEED, f"seed must be in [0, 2**32 - 1], got {config.seed}"),
    ]


def _check_finite(config: SearchConfig | TrainConfig) -> None:
    """No setting may be NaN or infinite (YAML reads .nan and .inf as floats)."""
    for setting in fields(config):
        value = getattr(config, setting.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{setting.name} must be a finite number, got {value}")


def _raise_first(checks: list[tuple[bool, str]]) -> None:
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def _check_stopping(config: SearchConfig) -> None:
    """The DARTS-ES preset and overrides, by the stopping rule's own checks."""
    from rdarts.search.stopping import rule_from_options

    rule_from_options(config.es_preset, window=config.es_window, lag=config.es_lag,
                      threshold=config.es_threshold, burn_in=config.es_burn_in)


def _check_range(config: SearchConfig) -> None:
    _check_finite(config)
    checks = [
        (config.epochs >= 1, "epochs must be >= 1"),
        (config.layers >= 3, "layers must be >= 3 (two reduction cells and a normal one)"),
        (config.channels >= 2 and config.channels % 2 == 0, "channels must be even and >= 2"),
        (config.batch_size >= 1, "batch_size must be >= 1"),
        (config.order in (1, 2), "order must be 1 or 2"),
        (config.second_order in SECOND_ORDER_METHODS,
         f"second_order must be one of {', '.join(SECOND_ORDER_METHODS)}"),
        (0.0 < config.train_portion < 1.0, "train_portion must be in (0, 1)"),
        (0.0 <= config.drop_path < 1.0, "drop_path must be in [0, 1)"),
        (0.0 <= config.cutout_prob <= 1.0, "cutout_prob must be in [0, 1]"),
        (config.cutout_schedule in CUTOUT_SCHEDULES,
         f"cutout_schedule must be one of {', '.join(CUTOUT_SCHEDULES)}"),
        (config.nodes is None or config.nodes >= 1, "nodes must be >= 1"),
        (config.hessian_every >= 0, "hessian_every must be >= 0"),
        (config.gradient_check_every >= 0, "gradient_check_every must be >= 0"),
        (config.hessian_batches >= 1, "hessian_batches must be >= 1"),
        (config.hessian_mode in HESSIAN_MODES,
         f"hessian_mode must be one of {', '.join(HESSIAN_MODES)}"),
        (config.save_every >= 0, "save_every must be >= 0"),
        (config.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
        (config.domain in domain_names(),
         f"domain must be one of {', '.join(domain_names())}, got {config.domain!r}"),
        (config.ada_regularizer in ADA_REGULARIZERS,
         f"ada_regularizer must be one of {', '.join(ADA_REGULARIZERS)}"),
        (config.ada_eta > 1, "ada_eta must be > 1"),
        (config.rs_samples >= 1 and config.rs_score_batches >= 1 and config.rs_top >= 1,
         "rs_samples, rs_score_batches and rs_top must be >= 1"),
        (config.rs_choose_every >= 0, "rs_choose_every must be >= 0"),
        (config.max_train_images is None or config.max_train_images >= 2,
         "max_train_images must be >= 2"),
        *_optimiser_checks(config),
        (config.arch_lr > 0, f"arch_lr must be > 0, got {config.arch_lr}"),
        (_in_unit(config.arch_beta1), f"arch_beta1 must be in [0, 1), got {config.arch_beta1}"),
        (_in_unit(config.arch_beta2), f"arch_beta2 must be in [0, 1), got {config.arch_beta2}"),
        (config.arch_weight_decay >= 0,
         f"arch_weight_decay must be >= 0, got {config.arch_weight_decay}"),
        (config.val_batches is None or config.val_batches >= 1,
         f"val_batches must be >= 1 (leave it unset for all), got {config.val_batches}"),
        (config.ada_max is None or config.ada_max > 0,
         f"ada_max must be > 0, got {config.ada_max}"),
        (config.device in ("auto", "cpu") or config.device.startswith("cuda"),
         f"device must be auto, cpu or cuda[:N], got {config.device!r}"),
        (config.mixed_sum in MIXED_SUMS,
         f"mixed_sum must be one of {', '.join(MIXED_SUMS)}, got {config.mixed_sum!r}"),
        (config.mixed_sum != "batched" or config.method != "rs-ws",
         "mixed_sum batched stacks the mixed edges; RS-ws trains single paths, which have "
         "nothing to stack: use mixed_sum loop or fused"),
        (config.mixed_sum != "batched" or not config.channels_last,
         "mixed_sum batched computes its 1x1 convs as matmuls over NCHW tensors; it does not "
         "combine with channels_last"),
    ]
    _raise_first(checks)
    _check_stopping(config)


def _check_train_range(config: TrainConfig) -> None:
    _check_finite(config)
    checks = [
        (config.epochs >= 1, "epochs must be >= 1"),
        (config.layers >= 3, "layers must be >= 3"),
        (config.channels >= 2 and config.channels % 2 == 0, "channels must be even and >= 2"),
        (config.batch_size >= 1, "batch_size must be >= 1"),
        (config.eval in EVAL_MODES, f"eval must be one of {', '.join(EVAL_MODES)}"),
        (0.0 < config.holdout_fraction < 1.0, "holdout_fraction must be in (0, 1)"),
        (0.0 <= config.drop_path < 1.0, "drop_path must be in [0, 1)"),
        (0.0 <= config.cutout_prob <= 1.0, "cutout_prob must be in [0, 1]"),
        (config.auxiliary_weight >= 0, "auxiliary_weight must be >= 0"),
        (config.max_train_images is None or config.max_train_images >= 2,
         "max_train_images must be >= 2"),
        *_optimiser_checks(config),
        (config.device in ("auto", "cpu") or config.device.startswith("cuda"),
         f"device must be auto, cpu or cuda[:N], got {config.device!r}"),
    ]
    _raise_first(checks)
