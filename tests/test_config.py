"""Configuration precedence, presets, validation; the pure schedules."""

from __future__ import annotations

import math

import pytest

from rdarts.errors import ConfigError
from rdarts.schedules import cosine_lr, linear_ramp
from rdarts.search.config import SearchConfig, from_dict, resolve, resolve_train


def test_defaults_are_the_papers_search_settings():
    config = resolve(preset="paper")
    assert (config.epochs, config.layers, config.channels, config.batch_size) == (50, 8, 16, 64)
    assert (config.lr, config.lr_min, config.momentum, config.weight_decay) == (
        0.025, 0.001, 0.9, 3e-4)
    assert (config.arch_lr, config.arch_beta1, config.arch_beta2, config.arch_weight_decay) == (
        3e-4, 0.5, 0.999, 1e-3)
    assert config.order == 2 and config.train_portion == 0.5 and config.grad_clip == 5.0


def test_precedence_preset_then_file_then_flags(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 9\nchannels: 12\n")
    config = resolve("tiny", path, {"channels": 6})
    assert config.layers == 5  # from the preset
    assert config.epochs == 9  # the file beats the preset
    assert config.channels == 6  # the flag beats the file


@pytest.mark.parametrize(("text", "message"), [
    ("epochz: 3\n", "unknown option 'epochz'"),
    ("epochs: three\n", "expects int"),
    ("lr: true\n", "expects float"),
    ("- 1\n", "expected a mapping"),
    ("epochs: 0\n", "epochs must be >= 1"),
])
def test_bad_config_files(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve(config_file=path)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve("huge")


def test_round_trip_through_dict():
    config = resolve("tiny", overrides={"drop_path": 0.2})
    assert from_dict(config.to_dict()) == config
    assert isinstance(SearchConfig().to_dict()["nodes"], type(None))


def test_cosine_lr_endpoints_and_midpoint():
    assert cosine_lr(0, 50, 0.025, 0.001) == 0.025
    assert math.isclose(cosine_lr(25, 50, 0.025, 0.001), 0.013)
    assert math.isclose(cosine_lr(50, 50, 0.025, 0.001), 0.001)


def test_linear_ramp_reaches_maximum_in_last_epoch():
    assert [linear_ramp(e, 5, 0.4) for e in range(5)] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert linear_ramp(3, 1, 0.6) == 0.6


# Every setting's range is checked where configurations are resolved, so a bad value is one
# line before any data is loaded (not a traceback from an optimiser or numpy much later).
SEARCH_OUT_OF_RANGE = [
    ({"lr_min": -0.001}, "lr_min must be >= 0"),
    ({"lr_min": 0.1}, "lr_min must not exceed lr"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ({"momentum": -0.1}, r"momentum must be in \[0, 1\)"),
    ({"arch_beta1": 1.5}, r"arch_beta1 must be in \[0, 1\)"),
    ({"arch_beta2": 1.0}, r"arch_beta2 must be in \[0, 1\)"),
    ({"weight_decay": -1}, "weight_decay must be >= 0"),
    ({"arch_weight_decay": -1e-3}, "arch_weight_decay must be >= 0"),
    ({"cutout_length": -1}, "cutout_length must be >= 0"),
    ({"crop_padding": -1}, "crop_padding must be >= 0"),
    ({"val_batches": 0}, "val_batches must be >= 1"),
    ({"grad_clip": 0}, "grad_clip must be > 0"),
    ({"es_window": 4}, "window must be an odd integer"),
    ({"es_lag": 0}, "lag must be an integer >= 1"),
    ({"es_threshold": 0.0}, "threshold must be a finite number > 0"),
    ({"es_burn_in": -1}, "burn_in must be an integer >= 0"),
    ({"ada_max": 0.0}, "ada_max must be > 0"),
    ({"seed": -1}, "seed must be in"),
    ({"seed": 2**32}, "seed must be in"),
    ({"arch_lr": 0.0}, "arch_lr must be > 0"),
    ({"lr": float("nan")}, "lr must be a finite number"),
]


@pytest.mark.parametrize(("overrides", "message"), SEARCH_OUT_OF_RANGE)
def test_search_values_out_of_range(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve(overrides=overrides)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"lr_min": -0.001}, "lr_min must be >= 0"),
    ({"lr_min": 0.5}, "lr_min must not exceed lr"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ({"weight_decay": -1}, "weight_decay must be >= 0"),
    ({"cutout_length": -1}, "cutout_length must be >= 0"),
    ({"crop_padding": -1}, "crop_padding must be >= 0"),
    ({"grad_clip": -5}, "grad_clip must be > 0"),
    ({"seed": -1}, "seed must be in"),
    ({"auxiliary_weight": float("inf")}, "auxiliary_weight must be a finite number"),
])
def test_train_values_out_of_range(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve_train(overrides=overrides)


def test_limits_themselves_are_accepted():
    config = resolve(overrides={"val_batches": None, "momentum": 0.0, "arch_beta1": 0.0,
                                "weight_decay": 0.0, "lr_min": 0.025, "seed": 2**32 - 1,
                                "es_window": 3, "es_lag": 1, "es_burn_in": 0, "ada_max": 1e-3})
    assert config.val_batches is None and config.lr_min == config.lr
    assert resolve_train(overrides={"lr_min": 0.0, "crop_padding": 0, "cutout_length": 0})


def test_every_preset_and_shipped_sweep_passes_the_checks():
    from rdarts.experiments.jobs import expand
    from rdarts.experiments.sweepfile import load_sweep, shipped_sweeps
    from rdarts.search.config import PRESETS, TRAIN_PRESETS

    for preset in PRESETS:
        resolve(preset)
    for preset in TRAIN_PRESETS:
        resolve_train(preset)
    for name in shipped_sweeps():
        assert expand(load_sweep(name))


def test_yaml_error_names_file_line_and_column(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\nlr: [0.1\n  x\n")
    with pytest.raises(ConfigError) as error:
        resolve(config_file=path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"config file {path} is not valid YAML: line 4, column 1: ")
    assert "from line 2, column 5" in message


def test_unknown_names_get_the_closest_known_one(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown preset 'tiy' \(did you mean 'tiny'\?\)"):
        resolve("tiy")
    path = tmp_path / "c.yaml"
    path.write_text("epoch: 3\n")
    with pytest.raises(ConfigError, match=r"unknown option 'epoch' \(did you mean 'epochs'"):
        resolve(config_file=path)


def test_cpu_presets_train_in_channels_last_and_paper_presets_do_not():
    """Measured on the CPU only (docs/benchmarks.md, training throughput): the CPU-sized
    training presets use channels_last, the paper's GPU presets keep NCHW."""
    assert resolve_train("cpu").channels_last and resolve_train("quick").channels_last
    assert not any(resolve_train(p).channels_last
                   for p in ("paper-c10", "paper-c100", "paper-svhn"))
    assert resolve_train("cpu", overrides={"channels_last": False}).channels_last is False
