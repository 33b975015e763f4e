"""Configuration precedence, presets, validation; the pure schedules."""

from __future__ import annotations

import math

import pytest

from rdarts.errors import ConfigError
from rdarts.schedules import cosine_lr, linear_ramp
from rdarts.search.config import SearchConfig, from_dict, resolve


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
