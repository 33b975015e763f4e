"""The disparity domain's own settings, its search defaults and presets (Zela et al. Section 5,
Appendix D; AutoDispNet-C).

`DisparitySettings` holds what only a stereo network has (input size, encoder depth, stem
width, the correlation's displacement, the augmentation scaling factor, how many pairs to
read); its fields are flags of `rdarts search --domain disparity`, keys of presets and YAML
files, and a run stores them under `domain_settings`. The base width C is `--channels`, the
weights' L2 factor `--weight-decay`, the data `--dataset` and `--data-dir`, as on images.
This module imports no torch, so building the command line stays cheap.

Where the paper and AutoDispNet are silent (search width, batch, schedule, loss weights), the
choices are: the final network's topology at search time; C = 24 at paper scale; batch 4 of
384x192 crops at half resolution; the cosine schedule of DARTS; netdef's loss weights per level.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from rdarts.errors import ConfigError

DATASETS = ("shapes", "flyingthings3d", "sintel")
AUGMENT_PRESETS = ("cpu", "paper")
EVAL_MODES = ("test", "holdout")


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


def _network_checks(settings: Any) -> list[tuple[bool, str]]:
    """The checks the search and the training settings share."""
    multiple = 2 ** (3 + settings.encoder_cells // 2)
    return [
        (settings.encoder_cells >= 2 and settings.encoder_cells % 2 == 0,
         f"encoder_cells must be even and >= 2, got {settings.encoder_cells}"),
        (settings.height % multiple == 0 and settings.width % multiple == 0,
         f"height and width must be multiples of {multiple} (2^deepest level) for "
         f"{settings.encoder_cells} encoder cells, got {settings.height}x{settings.width}"),
        (settings.stem_multiplier > 0, "stem_multiplier must be > 0"),
        (settings.max_displacement >= 0, "max_displacement must be >= 0"),
        (settings.augment_scale >= 0, "augment_scale must be >= 0"),
        (settings.augment_preset in AUGMENT_PRESETS,
         f"augment_preset must be one of {', '.join(AUGMENT_PRESETS)}"),
        (settings.train_pairs >= 1 and settings.val_pairs >= 1,
         "train_pairs and val_pairs must be >= 1"),
        (settings.data_seed >= 0, "data_seed must be >= 0"),
    ]


def _raise_first(checks: list[tuple[bool, str]]) -> None:
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


@dataclass(frozen=True)
class DisparitySettings:
    """An AutoDispNet-C search's own settings; defaults are the CPU scale's."""

    height: int = _setting(64, "input height in pixels (training crops; a multiple of "
                               "2^(3 + encoder_cells / 2))")
    width: int = _setting(128, "input width in pixels")
    encoder_cells: int = _setting(4, "encoder cells after the correlation, normal and "
                                     "reduction alternating (AutoDispNet-C: 6); the decoder has "
                                     "encoder_cells / 2 + 1 upsampling cells")
    stem_multiplier: float = _setting(2.0, "stem widths m C and 2 m C (AutoDispNet-C: 64/42)")
    max_displacement: int = _setting(6, "correlation displacement D at 1/8 resolution, "
                                        "offsets -D..D (AutoDispNet-C: 40)")
    one_sided: bool = _setting(False, "correlate only the offsets -D..0 a positive left "
                                      "disparity can reach (D + 1 channels)")
    augment_scale: float = _setting(1.0, "augmentation scaling factor F of the weights' "
                                         "training batches (paper Table 3: 0 .. 2; 0: none)")
    augment_preset: str = _setting("cpu", "cpu: identity-centred augmentation (F = 0 is "
                                          "none); paper: DispNet's parameters")
    train_pairs: int = _setting(256, "stereo pairs the weights train on (the search's "
                                     "first half)")
    val_pairs: int = _setting(256, "stereo pairs alpha and the one-shot validation use "
                                   "(the second half)")
    data_seed: int = _setting(0, "seed of the generated flying-shapes scenes (the same data "
                                 "for every search seed)")

    def __post_init__(self) -> None:
        _raise_first(_network_checks(self))


SETTING_NAMES = tuple(f.name for f in fields(DisparitySettings))

# The search of Zela et al. on S6 (Appendix D; spec choices where they are silent): SGD for
# the weights, Adam for alpha, no warm start, first order as AutoDispNet.
SEARCH_DEFAULTS: dict[str, Any] = {
    "space": "s6", "dataset": "shapes", "epochs": 20, "channels": 8, "batch_size": 8,
    "order": 1, "lr": 0.025, "lr_min": 1e-3, "momentum": 0.9, "weight_decay": 3e-4,
    "grad_clip": 5.0, "arch_lr": 3e-4, "arch_beta1": 0.5, "arch_beta2": 0.999,
    "arch_weight_decay": 1e-3,
}

PRESETS: dict[str, dict[str, Any]] = {
    # Paper scale: FlyingThings3D at half resolution (384x192 crops), C = 24, the final
    # network's depth, batch 4, about 300k iterations (110 epochs of the 10.9k-pair half).
    "paper": {"dataset": "flyingthings3d", "channels": 24, "height": 192, "width": 384,
              "encoder_cells": 6, "stem_multiplier": 64 / 42, "max_displacement": 40,
              "batch_size": 4, "epochs": 110, "augment_preset": "paper",
              "train_pairs": 10_909, "val_pairs": 10_909},
    # CPU scale, the defaults: flying shapes at 64x128, C = 8, 1 feature + 4 encoder + 3
    # upsampling cells, D = 6 (+-48 px), batch 8, 256 + 256 pairs: 32 steps an epoch, 20
    # epochs (640 iterations), first order (--order 2 works too). Measured on 2 idle cores
    # (docs/benchmarks/s6.md): 0.57 s an iteration, 5.6 s a lambda_max, about 9 minutes.
    "cpu": {},
    # For tests: seconds.
    "smoke": {"channels": 4, "height": 32, "width": 64, "encoder_cells": 2,
              "max_displacement": 2, "batch_size": 2, "epochs": 2, "train_pairs": 4,
              "val_pairs": 4},
}


@dataclass(frozen=True)
class DisparityTrainConfig:
    """Training a disparity genotype from scratch: Adam with cosine decay of the learning
    rate to 0 (Zela et al.: 1e-4 for 300k iterations at full resolution), the multi-scale L1
    loss, EPE on the test split and on the shifted one (Sintel in the paper). Names shared
    with the image `TrainConfig` (epochs, lr, channels, ...) are the same flags."""

    domain: str = _setting("disparity", "the task (disparity)")
    dataset: str = _setting("shapes", "shapes (generated flying shapes), flyingthings3d or "
                                      "sintel (--data-dir)")
    data_dir: str | None = _setting(None, "folder with the dataset's files")
    shift_data_dir: str | None = _setting(None, "Sintel's folder, for the shifted test of a "
                                                "flyingthings3d training (shapes generate "
                                                "theirs)")
    eval: str = _setting("test", "test: report test and shifted-test EPE; holdout: the "
                                 "validation EPE only (selection runs)")
    epochs: int = _setting(55, "training epochs (55 x 21,818 pairs / 4: about 300k iterations)")
    batch_size: int = _setting(4, "minibatch size")
    lr: float = _setting(1e-4, "Adam learning rate, cosine-annealed every step")
    lr_min: float = _setting(0.0, "final learning rate")
    weight_decay: float = _setting(4e-4, "L2 factor (DispNet's 4e-4)")
    grad_clip: float = _setting(5.0, "gradient norm clipping")
    channels: int = _setting(42, "base width C (AutoDispNet-C: 42)")
    stem_multiplier: float = _setting(64 / 42, "stem widths m C and 2 m C")
    encoder_cells: int = _setting(6, "encoder cells after the correlation")
    max_displacement: int = _setting(40, "correlation displacement D at 1/8 resolution")
    one_sided: bool = _setting(False, "one-sided correlation (D + 1 channels)")
    height: int = _setting(384, "training crop height")
    width: int = _setting(768, "training crop width")
    augment_scale: float = _setting(1.0, "augmentation scaling factor of the training "
                                         "batches (1: the unscaled augmentation)")
    augment_preset: str = _setting("paper", "cpu (identity-centred) or paper (DispNet's)")
    train_pairs: int = _setting(21_818, "training pairs")
    val_pairs: int = _setting(500, "held-out pairs of eval holdout")
    test_pairs: int = _setting(4_248, "pairs of each test split")
    data_seed: int = _setting(0, "seed of the generated flying-shapes scenes")
    seed: int = _setting(0, "random seed")
    device: str = _setting("auto", "auto, cpu, cuda or cuda:N")

    def __post_init__(self) -> None:
        _raise_first([
            *_network_checks(self),
            (self.domain == "disparity", "a disparity training has domain 'disparity'"),
            (self.dataset in DATASETS, f"dataset must be one of {', '.join(DATASETS)}"),
            (self.eval in EVAL_MODES, f"eval must be one of {', '.join(EVAL_MODES)}"),
            (self.epochs >= 1 and self.batch_size >= 1, "epochs and batch_size must be >= 1"),
            (self.lr > 0 and 0 <= self.lr_min <= self.lr, "need 0 <= lr_min <= lr and lr > 0"),
            (self.weight_decay >= 0 and self.grad_clip > 0,
             "weight_decay must be >= 0 and grad_clip > 0"),
            (self.channels >= 2 and self.channels % 2 == 0, "channels must be even and >= 2"),
            (self.test_pairs >= 1, "test_pairs must be >= 1"),
        ])

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


TRAIN_CONFIG = DisparityTrainConfig
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # Zela et al.: Adam 1e-4 cosine to 0 for 300k iterations at full resolution (960x540,
    # resized to 960x576 for the network; 768x384 crops in training).
    "paper": {"dataset": "flyingthings3d"},
    # CPU scale: the search's sizes, flying shapes, Adam 1e-3, 1,000 iterations (0.14 s
    # each on 2 idle cores: about 4 minutes with the data and the two test splits).
    "cpu": {"dataset": "shapes", "channels": 8, "stem_multiplier": 2.0, "encoder_cells": 4,
            "max_displacement": 6, "height": 64, "width": 128, "augment_preset": "cpu",
            "lr": 1e-3, "epochs": 8, "batch_size": 8, "train_pairs": 1000, "val_pairs": 500,
            "test_pairs": 500},
    "smoke": {"dataset": "shapes", "channels": 4, "stem_multiplier": 2.0, "encoder_cells": 2,
              "max_displacement": 2, "height": 32, "width": 64, "augment_preset": "cpu",
              "lr": 1e-3, "epochs": 2, "batch_size": 2, "train_pairs": 4, "val_pairs": 4,
              "test_pairs": 4},
}
