"""Search configuration: one typed dataclass, presets, YAML files and CLI overrides.

Precedence (lowest first): the paper's defaults, `--preset`, `--config FILE`, explicit flags.
The fully resolved configuration is written to the run directory as config.yaml.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rdarts.domains.registry import DomainSettings, domain_names, domain_settings
from rdarts.errors import ConfigError, did_you_mean
from rdarts.search.checks import (
    _check_range,
    _check_train_range,
)
from rdarts.userfiles import read_user_file


@dataclass(frozen=True)
class SearchConfig:
    """Every setting of one search; defaults are the paper's (spec section 3)."""

    domain: str = "image"  # image (S1-S5, DARTS space); the registry lists the others
    method: str = "darts"  # darts | darts-es | darts-ada | rs-ws (spec sections 6, 7, 9)
    space: str = "s3"
    nodes: int | None = None  # None: the space's own node count
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    download: bool = False
    max_train_images: int | None = None  # use only the first k official training images
    train_portion: float = 0.5  # weights train on this part, alpha on the rest
    epochs: int = 50
    layers: int = 8
    channels: int = 16
    batch_size: int = 64
    order: int = 2
    second_order: str = "finite-difference"
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4  # the "L2 factor" of the paper's Section 5.2
    grad_clip: float = 5.0
    virtual_step_clip: bool = False  # clip grad_w in the second-order virtual step too (RNN)
    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3
    drop_path: float = 0.0  # ScheduledDropPath maximum (Section 5.1); ramps linearly
    crop_padding: int = 4
    flip: bool = True
    cutout_length: int = 16
    cutout_prob: float = 0.0  # maximum Cutout probability
    cutout_schedule: str = "linear"
    val_batches: int | None = None  # cap on one-shot validation batches per epoch (None: all)
    hessian_every: int = 1  # lambda_max every K epochs (0: never); spec section 5
    hessian_batches: int = 1  # validation batches the Hessian is averaged over
    hessian_mode: str = "train"  # BN with batch statistics (the paper) or "eval"
    hessian_shift: bool = False  # add the alpha weight decay * I, as the reference code does
    gradient_check_every: int = 0  # compare FD and exact hypergradients every K epochs (0: off)
    save_every: int = 0  # also keep checkpoints/epoch-NNNN.pt every K epochs (0: latest only)
    es_preset: str = "paper"  # DARTS-ES rule: paper or reference (spec section 6)
    es_window: int | None = None  # overrides of the preset's parameters
    es_lag: int | None = None
    es_threshold: float | None = None
    es_burn_in: int | None = None
    es_simulate: bool = False  # record the ES decision but keep searching (DARTS and ES at once)
    ada_regularizer: str = "l2"  # DARTS-ADA adapts l2 (weight_decay), drop_path or augment
    ada_eta: float = 10.0  # factor applied to the regulariser at each rollback
    ada_max: float | None = None  # R_max; default 3e-2 for l2 (the paper), 0.6 for drop_path
    rs_samples: int = 1000  # RS-ws: random architectures scored after supernet training
    rs_score_batches: int = 4  # validation batches for the first scoring round
    rs_top: int = 10  # the best ones re-scored on the whole validation split
    rs_choose_every: int = 0  # RS-ws: also choose every K epochs, for regret curves (0: end only)
    regret_table: str = "auto"  # S5 table for per-epoch test regret: auto, none, or a file
    seed: int = 0
    device: str = "auto"
    # Speed options, off by default (the paper's computation); each equals it within the
    # tolerance its test states (docs/architecture.md, "Speed options").
    channels_last: bool = False  # supernet and batches in channels_last format (images)
    mixed_sum: str = "loop"  # loop | fused | batched: how image cells compute mixed edges
    lean_unroll: bool = False  # second order: foreach virtual step, one BN scratch copy
    amp: bool = False  # bf16 autocast: weight step and finite-difference virtual step
    # The domain's own settings (language: sizes, BPTT, dropouts), all of its fields; given
    # flat like every other setting and gathered here by `resolve` (docs/architecture.md).
    domain_settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    # The paper's search settings (spec section 3): the defaults above.
    "paper": {},
    # CPU-sized: a small supernet on 1,000 images (500 for w, 500 for alpha); about 5 minutes
    # of one core (second order, lambda_max every epoch), so R-DARTS' four searches fit a demo.
    "tiny": {
        "epochs": 6,
        "layers": 5,
        "channels": 8,
        "batch_size": 32,
        "max_train_images": 1000,
    },
    # CPU scale for the paper's S1-S4 study (Table 1, Figure 3): a 5-cell, 8-channel supernet
    # on 1,000 training images (500 for w, 500 for alpha), batch 32, for the paper's 50 epochs,
    # second order, lambda_max every epoch: 20-35 s per epoch on 2 idle cores, so a search
    # fits the study's 30 minutes (3,000 images took 105 s per epoch: measured, then shrunk).
    # 15 architecture steps per epoch against the paper's 390: Adam moves alpha by about
    # arch_lr per step, so at the paper's 3e-4 alpha stayed within 0.3 of its start in 50
    # epochs (softmax weights 0.28-0.40, cells decided by near ties). arch_lr scaled by 390/15
    # gives alpha the paper's movement per epoch (docs/benchmarks/cpu-reproduction.md).
    "cpu": {
        "epochs": 50,
        "layers": 5,
        "channels": 8,
        "batch_size": 32,
        "max_train_images": 1000,
        "arch_lr": 7.8e-3,
    },
}



@dataclass(frozen=True)
class TrainConfig:
    """Training a genotype from scratch; defaults are the paper's CIFAR-10 evaluation (spec 10)."""

    dataset: str = "cifar10"
    data_dir: str | None = None
    download: bool = False
    max_train_images: int | None = None
    eval: str = "test"  # test: full training set, test error; holdout: validation error;
    # both: train on the holdout split, report validation and test error
    holdout_fraction: float = 0.1  # share of the training set held out with --eval holdout
    epochs: int = 600
    layers: int = 20
    channels: int = 36
    batch_size: int = 96
    lr: float = 0.025
    lr_min: float = 0.0
    lr_per_step: bool = False  # anneal every step instead of every epoch (short trainings)
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    auxiliary: bool = True
    auxiliary_weight: float = 0.4
    drop_path: float = 0.2  # ramps linearly from 0 over the epochs
    crop_padding: int = 4
    flip: bool = True
    cutout_length: int = 16
    cutout_prob: float = 1.0
    channels_last: bool = False  # memory format (CPU and CUDA); on in the CPU presets
    amp: bool = False  # bf16 autocast on CUDA; measure before turning on
    seed: int = 0
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "paper-c10": {"dataset": "cifar10"},
    "paper-c100": {"dataset": "cifar100", "channels": 16, "layers": 8},
    "paper-svhn": {"dataset": "svhn", "channels": 16, "layers": 8},
    # CPU-sized: a short retraining for selection runs and smoke tests. The CPU presets train
    # in channels_last: 1.78x the images per second of NCHW with less memory on the 2-core CPU
    # (benchmarks/train_throughput.py, 2026-12-08; docs/benchmarks.md), the same step within
    # fp32 rounding (tests/test_speed_options.py). The paper presets stay NCHW until measured
    # on a GPU.
    "quick": {"dataset": "fashion-mnist", "epochs": 3, "channels": 8, "layers": 5,
              "batch_size": 64, "max_train_images": 2000, "cutout_length": 8,
              "channels_last": True},
    # CPU scale for the S1-S4 study: the found cell trained from scratch briefly on the full
    # Fashion-MNIST training set (pass --data-dir), test error on its test set; the S5 cpu
    # protocol's training (lr annealed every step over 2 epochs, no regularisers).
    "cpu": {"dataset": "fashion-mnist", "eval": "test", "epochs": 2, "layers": 5,
            "channels": 8, "batch_size": 128, "lr": 0.05, "lr_min": 0.0, "lr_per_step": True,
            "auxiliary": False, "drop_path": 0.0, "crop_padding": 2, "cutout_length": 0,
            "cutout_prob": 0.0, "channels_last": True},
}


def _field_types(cls: type) -> dict[str, str]:
    return {f.name: str(f.type) for f in fields(cls)}


def _coerce(types: dict[str, str], name: str, value: Any) -> Any:
    """Check a YAML value against the field's type (ints accepted where floats are expected)."""
    kind = types[name]
    optional = "None" in kind
    if value is None:
        if optional:
            return None
        raise ConfigError(f"option {name!r} must not be empty")
    base = kind.replace(" | None", "")
    if base.startswith("dict"):
        ok = isinstance(value, dict)
    elif base == "bool":
        ok = isinstance(value, bool)
    elif base == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"option {name!r} expects {base}, got {value!r}")
    return value


def normalise_keys(values: dict[str, Any], where: str,
                   cls: type = SearchConfig, own: type | None = None) -> dict[str, Any]:
    """Option names with dashes or underscores, values checked against `cls`'s field types
    (and those of the domain's own settings class `own`)."""
    types = {**_field_types(cls), **(_field_types(own) if own is not None else {})}
    out = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in types:
            known = ", ".join(sorted(types))
            raise ConfigError(f"{where}: unknown option {key!r}{did_you_mean(name, types)}; "
                              f"known options: {known}")
        out[name] = _coerce(types, name, value)
    return out


def load_config_file(path: str | Path, cls: type = SearchConfig,
                     own: type | None = None) -> dict[str, Any]:
    path = Path(path)
    data = read_user_file(path, "config file", "YAML", ConfigError)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of options, got {data!r}")
    return normalise_keys(data, str(path), cls, own)


def _layered(cls: type, presets: dict[str, dict[str, Any]], preset: str | None,
             config_file: str | Path | None, overrides: dict[str, Any] | None,
             own: DomainSettings | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {} if own is None else dict(own.search_defaults)
    own_cls = None if own is None else own.cls
    if preset is not None:
        if preset not in presets:
            where = "" if own is None else f" for the {own.domain} domain"
            raise ConfigError(f"unknown preset {preset!r}{where}"
                              f"{did_you_mean(preset, presets)}; known: {', '.join(presets)}")
        values.update(presets[preset])
    if config_file is not None:
        values.update(load_config_file(config_file, cls, own_cls))
    values.update(normalise_keys(overrides or {}, "command line", cls, own_cls))
    return values


def _domain_of(config_file: str | Path | None, overrides: dict[str, Any] | None) -> str:
    """The domain named by the flags, else by the config file, else the default."""
    given = {str(k).replace("-", "_"): v for k, v in (overrides or {}).items()}
    if given.get("domain") is not None:
        return str(given["domain"])
    if config_file is not None:
        data = read_user_file(Path(config_file), "config file", "YAML", ConfigError)
        if isinstance(data, dict) and data.get("domain") is not None:
            return str(data["domain"])
    return str(SearchConfig.domain)


def _gather_domain_settings(values: dict[str, Any], own: DomainSettings | None
                            ) -> dict[str, Any]:
    """Move the domain's own settings (flat keys) into `domain_settings`, completed with
    their defaults and validated by their class."""
    given = dict(values.pop("domain_settings", None) or {})
    if own is None:
        if given:
            raise ConfigError(f"the {values.get('domain', 'image')} domain has no settings "
                              f"of its own, got {', '.join(given)}")
        return values
    names = [f.name for f in fields(own.cls)]
    given.update({name: values.pop(name) for name in names if name in values})
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigError(f"unknown {own.domain} settings: {', '.join(unknown)}")
    given = normalise_keys(given, f"{own.domain} settings", own.cls)
    return {**values, "domain_settings": dataclasses.asdict(own.cls(**given))}


def setting_value(config: SearchConfig, name: str) -> Any:
    """A search setting by name, whether the core's (weight_decay) or the domain's own
    (augment_scale, in `domain_settings`): what a regulariser names as its setting."""
    if name in config.domain_settings:
        return config.domain_settings[name]
    return getattr(config, name)


def with_setting(config: SearchConfig, name: str, value: Any) -> SearchConfig:
    """`config` with one setting changed, the core's or the domain's own."""
    if name in config.domain_settings:
        return dataclasses.replace(config,
                                   domain_settings={**config.domain_settings, name: value})
    return dataclasses.replace(config, **{name: value})


def preset_names() -> list[str]:
    """Every preset of every domain (`--preset` choices; each domain checks its own)."""
    names = set(PRESETS)
    for name in domain_names():
        own = domain_settings(name)
        names.update(own.presets if own is not None else ())
    return sorted(names)


def train_preset_names() -> list[str]:
    """Every training preset of every domain (`--preset` of `train`, `--retrain-preset`)."""
    names = set(TRAIN_PRESETS)
    for name in domain_names():
        own = domain_settings(name)
        names.update(own.train_presets or () if own is not None else ())
    return sorted(names)


def resolve(preset: str | None = None, config_file: str | Path | None = None,
            overrides: dict[str, Any] | None = None) -> SearchConfig:
    """Search settings: defaults < the domain's defaults < preset < config file < overrides;
    validated. A domain with settings of its own brings its presets."""
    domain = _domain_of(config_file, overrides)
    own = domain_settings(domain) if domain in domain_names() else None
    presets = PRESETS if own is None else own.presets
    values = _layered(SearchConfig, presets, preset, config_file, overrides, own)
    config = SearchConfig(**_gather_domain_settings(values, own))
    _check_range(config)
    return config


def from_dict(data: dict[str, Any]) -> SearchConfig:
    """Rebuild a search configuration from a run directory's config.yaml."""
    values = normalise_keys(data, "config.yaml")
    own = domain_settings(values.get("domain", SearchConfig.domain))
    config = SearchConfig(**_gather_domain_settings(values, own))
    _check_range(config)
    return config


def _own_training(domain: str | None) -> DomainSettings | None:
    """The settings of a domain with a training procedure of its own (else None: images)."""
    own = domain_settings(domain) if domain in domain_names() else None
    return own if own is not None and own.train_cls is not None else None


def resolve_train(preset: str | None = None, config_file: str | Path | None = None,
                  overrides: dict[str, Any] | None = None) -> Any:
    """Training settings: defaults < preset < config file < overrides; validated. A domain
    with its own training (`domain` in the overrides or the file) brings its settings class."""
    own = _own_training(_domain_of(config_file, overrides))
    if own is not None:
        assert own.train_cls is not None and own.train_presets is not None
        return own.train_cls(**_layered(own.train_cls, own.train_presets, preset, config_file,
                                        overrides))
    overrides = {k: v for k, v in (overrides or {}).items() if k != "domain"}
    config = TrainConfig(**_layered(TrainConfig, TRAIN_PRESETS, preset, config_file, overrides))
    _check_train_range(config)
    return config


def train_from_dict(data: dict[str, Any]) -> Any:
    own = _own_training(data.get("domain"))
    if own is not None:
        assert own.train_cls is not None
        return own.train_cls(**normalise_keys(data, "config.yaml", own.train_cls))
    config = TrainConfig(**normalise_keys(data, "config.yaml", TrainConfig))
    _check_train_range(config)
    return config
