"""One vocabulary across commands: r-darts and its alias, drop_path (dp), --retries,
--quiet/--verbose, --num-seeds; R-DARTS refuses what it would ignore; --print-config."""

from __future__ import annotations

import argparse

import pytest
import yaml

from rdarts.cli import app
from rdarts.cli.app import main
from rdarts.cli.search import REGULARIZER_CHOICES
from rdarts.experiments.jobs import expand
from rdarts.experiments.sweepfile import sweep_from_dict
from rdarts.search.checks import ADA_REGULARIZERS
from rdarts.search.config import resolve
from rdarts.search.selection import rdarts_candidates, rdarts_label

MULTI_JOB = ("sweep", "select", "r-darts", "bench s5 build")
TINY = ["--space", "s3", "--nodes", "1", "--layers", "3", "--channels", "4", "--epochs", "1",
        "--max-train-images", "48", "--device", "cpu"]


def _commands() -> dict[str, argparse.ArgumentParser]:
    return {p.prog.removeprefix("rdarts "): p for p in app._parsers(app.build_parser())}


def _flags(command: str) -> dict[str, argparse.Action]:
    return _commands()[command]._option_string_actions


@pytest.fixture
def no_slow_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a search started before the mistake was reported")

    monkeypatch.setattr("rdarts.search.selection.run_selection", refuse)
    monkeypatch.setattr("rdarts.search.task.build_task", refuse)


def _one_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_r_darts_is_the_command_and_rdarts_its_alias():
    parser = app.build_parser()
    new = parser.parse_args(["r-darts", "--out", "x"])
    old = parser.parse_args(["rdarts", "--out", "x"])
    assert new.command_parser is old.command_parser and new.handler is old.handler
    assert new.protocol == old.protocol == "r-darts"
    assert "r-darts" in _commands()


def test_drop_path_is_one_name_for_r_darts_and_darts_ada_with_dp_an_alias():
    assert set(ADA_REGULARIZERS) <= set(REGULARIZER_CHOICES)
    base = resolve(overrides={"space": "s3"})
    long, short = rdarts_candidates(base, "drop_path"), rdarts_candidates(base, "dp")
    assert [(c.name, c.setting) for c in long] == [(c.name, c.setting) for c in short]
    assert [c.setting for c in long] == [{"drop_path": v} for v in (0.0, 0.2, 0.4, 0.6)]
    assert rdarts_label("drop_path") == rdarts_label("dp") == "r-darts(dp)"  # R-DARTS(DP)
    for name in ("drop_path", "dp"):
        assert app.build_parser().parse_args(
            ["r-darts", "--regularizer", name, "--out", "x"]).regularizer == name


@pytest.mark.parametrize("regularizer", ["drop_path", "dp"])
def test_sweep_files_take_either_spelling_and_give_the_same_jobs(regularizer):
    sweep = sweep_from_dict({"name": "g", "kind": "selection", "base": {"space": "s3"},
                             "selection": {"protocol": "rdarts", "regularizer": regularizer}})
    [job] = expand(sweep)
    assert job.selection["label"] == "r-darts(dp)"


@pytest.mark.parametrize(("flags", "message"), [
    (["--weight-decay", "1e-3"], "R-DARTS(l2) varies weight_decay itself (--values), so "
                                 "--weight-decay would be ignored"),
    (["--regularizer", "drop_path", "--drop-path", "0.1"], "--drop-path would be ignored"),
    (["--regularizer", "dp", "--values", "0.2", "0.4", "0.2"], "--values repeats 0.2"),
    (["--values", "3e-4", "3e-4"], "--values repeats 0.0003; each strength is one search"),
])
def test_r_darts_refuses_what_it_would_ignore_or_repeat(tmp_path, capsys, no_slow_work, flags,
                                                          message):
    assert main(["r-darts", *TINY, *flags, "--out", str(tmp_path / "sel")]) == 2
    assert message in _one_line(capsys)
    assert not (tmp_path / "sel").exists()


def test_r_darts_refuses_the_varied_setting_from_a_config_file_too(tmp_path, capsys,
                                                                     no_slow_work):
    config = tmp_path / "c.yaml"
    config.write_text("weight_decay: 0.001\n")
    assert main(["r-darts", *TINY, "--config", str(config), "--out", str(tmp_path / "s")]) == 2
    assert "--weight-decay would be ignored" in _one_line(capsys)


def test_a_sweep_file_may_not_repeat_a_value():
    from rdarts.errors import ConfigError

    with pytest.raises(ConfigError, match="a non-empty list of distinct numbers"):
        sweep_from_dict({"name": "g", "kind": "selection", "selection": {
            "protocol": "rdarts", "values": [3e-4, 3e-4]}})


def test_retries_default_to_the_same_everywhere():
    defaults = {command: _flags(command)["--retries"].default for command in MULTI_JOB}
    assert set(defaults.values()) == {1}, defaults


def test_quiet_and_verbose_mean_the_same_on_every_command():
    for command in MULTI_JOB:  # one line per job by default
        flags = _flags(command)
        assert {"--quiet", "--verbose"} <= set(flags), command
        assert "only the result" in flags["--quiet"].help
        assert "every job's epoch lines" in flags["--verbose"].help
    for command in ("search", "train"):  # one run: its epoch lines by default
        assert "--quiet" in _flags(command) and "--verbose" not in _flags(command)
    with pytest.raises(SystemExit):
        app.build_parser().parse_args(["sweep", "tiny", "--quiet", "--verbose"])


def test_num_seeds_is_selects_count_and_the_old_spelling_still_works():
    parser = app.build_parser()
    assert parser.parse_args(["select", "--num-seeds", "3", "--out", "x"]).seeds == 3
    assert parser.parse_args(["select", "--seeds", "2", "--out", "x"]).seeds == 2
    assert "seeds per architecture" in _flags("bench s5 build")["--seeds"].help


@pytest.mark.parametrize(("command", "preset"), [("search", "tiny"),
                                                 ("train darts_v2", "quick")])
def test_print_config_prints_what_a_run_would_use_and_writes_nothing(tmp_path, capsys,
                                                                     monkeypatch, command,
                                                                     preset):
    monkeypatch.chdir(tmp_path)
    argv = [*command.split(), "--preset", preset, "--epochs", "3", "--print-config"]
    assert main(argv) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["epochs"] == 3 and printed["seed"] == 0
    (tmp_path / "printed.yaml").write_text(yaml.safe_dump(printed))
    assert main([*command.split(), "--config", "printed.yaml", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == printed  # a valid --config file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["printed.yaml"]


def test_out_is_still_needed_without_print_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--preset", "tiny"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("usage: rdarts search [options] --out OUT")
    assert err[1] == "rdarts search: error: the following arguments are required: --out"
