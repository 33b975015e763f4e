"""The command line: help, a tiny search, and one clear line for every bad input."""

from __future__ import annotations

import argparse
import errno
import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from rdarts.cli import app
from rdarts.cli.app import main
from rdarts.runs import atomic, rundir

TINY = ["--space", "s3", "--nodes", "2", "--layers", "3", "--channels", "4",
        "--batch-size", "16", "--max-train-images", "64", "--val-batches", "1",
        "--device", "cpu", "--epochs", "1", "--quiet"]


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--space", "--dataset", "--epochs", "--order", "--second-order", "--layers",
                 "--channels", "--nodes", "--batch-size", "--seed", "--device", "--out",
                 "--config", "--preset", "--resume", "--overwrite", "--weight-decay",
                 "--drop-path", "--cutout-prob", "--data-dir", "--quiet"):
        assert flag in text


def test_tiny_search_prints_genotype_and_run_directory(tmp_path, capsys):
    assert main(["search", *TINY, "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "genotype:" in out and "normal:" in out and str(tmp_path / "run") in out


def test_config_file_with_flag_override(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("space: s2\nepochs: 1\nweight-decay: 0.0009\nseed: 4\n")
    assert main(["search", *TINY, "--config", str(config), "--seed", "5",
                 "--out", str(tmp_path / "run")]) == 0
    import yaml

    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["weight_decay"] == 0.0009 and saved["seed"] == 5 and saved["space"] == "s3"


@pytest.mark.parametrize(("args", "message"), [
    (["--space", "s9"], "unknown search space 's9'"),
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--dataset", "cifar10", "--data-dir", "/nonexistent/cifar"], "cifar"),
    (["--dataset", "fashion-mnist", "--data-dir", "/nonexistent/fm"], "/nonexistent/fm"),
    (["--preset", "huge"], None),  # argparse choices: exit 2 with usage
    (["--config", "/nonexistent.yaml"], "config file /nonexistent.yaml does not exist"),
    (["--channels", "5"], "channels must be even"),
    (["--seed", "-1"], "seed must be in [0, 2**32 - 1], got -1"),
    (["--weight-decay", "-1"], "weight_decay must be >= 0, got -1.0"),
    (["--arch-beta1", "1.5"], "arch_beta1 must be in [0, 1), got 1.5"),
    (["--space", "s33"], "unknown search space 's33' (did you mean 's3'?)"),
    (["--dataset", "fashion-mnst"], "unknown dataset 'fashion-mnst' (did you mean "
                                    "'fashion-mnist'?)"),
    (["--device", "cuda:0"], None),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys, args, message):
    try:
        code = main(["search", *TINY, *args, "--out", str(tmp_path / "run")])
    except SystemExit as exit_info:  # argparse's own usage errors
        code = exit_info.code
    err = capsys.readouterr().err
    if args[:2] == ["--device", "cuda:0"]:
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA is present here")
    assert code != 0
    assert "Traceback" not in err
    if message is not None:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_malformed_space_file(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("nodes: 1\nops: [sep_conv_4x4]\n")
    assert main(["search", *TINY, "--nodes", "1", "--space", str(space),
                 "--out", str(tmp_path / "run")]) == 2
    assert "unknown op 'sep_conv_4x4'" in capsys.readouterr().err


def test_existing_run_is_refused_and_left_intact(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["search", *TINY, "--out", out]) == 0
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert main(["search", *TINY, "--seed", "9", "--out", out]) == 2
    assert "different run" in capsys.readouterr().err
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before


def test_spaces_command(capsys):
    assert main(["spaces"]) == 0
    assert "s5" in capsys.readouterr().out
    assert main(["spaces", "s1"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[0])["alphas"] == 56
    assert "edge 13  node 3 <- state 4: dil_conv_3x3, dil_conv_5x5" in out


def test_console_error_has_no_traceback_in_a_real_process(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rdarts", "search", "--space", "nope",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == ("rdarts: error: unknown search space 'nope'; known: darts, "
                                   "s1, s2, s3, s4, s5, or a YAML file")


# ---- one line and exit 2 for every user mistake, checked before any slow work -------------


@pytest.fixture
def no_slow_work(monkeypatch):
    """Building a search or a training fails the test: the mistake must be caught before."""
    def refuse(*args, **kwargs):
        raise AssertionError("data loaded / model built before the mistake was reported")

    monkeypatch.setattr("rdarts.search.task.build_task", refuse)
    monkeypatch.setattr("rdarts.domains.image.training.build_training", refuse)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("command", [
    ["search", *TINY], ["rdarts", *TINY], ["select", *TINY], ["train", "darts_v2"],
    ["report", "."], ["sweep", "tiny"],
])
def test_out_that_is_a_file_or_under_one(tmp_path, capsys, no_slow_work, command):
    regular = tmp_path / "FILE"
    regular.write_text("not a run")
    assert main([*command, "--out", str(regular)]) == 2
    assert _one_line(capsys) == f"rdarts: error: --out {regular} exists and is not a directory"
    assert main([*command, "--out", str(regular / "sub")]) == 2
    assert f"lies under {regular}, which is a file" in _one_line(capsys)
    assert regular.read_text() == "not a run"


def test_out_on_a_read_only_location(tmp_path, capsys, monkeypatch, no_slow_work):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access  # root passes permission bits, so deny through os.access
    monkeypatch.setattr(atomic.os, "access",
                        lambda path, mode: Path(path) != locked and real_access(path, mode))
    for out in (locked, locked / "run" / "deeper"):
        assert main(["search", *TINY, "--out", str(out)]) == 2
        assert f"--out {out} is not writable" in _one_line(capsys)
    assert list(locked.iterdir()) == []


def test_write_refused_by_the_system_is_one_line(tmp_path, capsys, monkeypatch):
    def refuse(path, data):
        raise PermissionError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(atomic, "atomic_write_bytes", refuse)
    assert main(["search", *TINY, "--out", str(tmp_path / "run")]) == 2
    line = _one_line(capsys)
    assert line == f"rdarts: error: {tmp_path / 'run' / 'config.yaml'}: Read-only file system"


def test_full_disk_says_so_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    real_write = atomic.atomic_write_bytes
    checkpoints = []

    def writer(path, data):  # the second epoch's checkpoint finds the disk full
        if Path(path).name == "checkpoint.pt" and checkpoints:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)
        if Path(path).name == "checkpoint.pt":
            checkpoints.append(path)

    monkeypatch.setattr(atomic, "atomic_write_bytes", writer)
    out = tmp_path / "run"
    assert main(["search", *TINY, "--epochs", "2", "--out", str(out)]) == 2
    line = _one_line(capsys)
    assert "the disk is full" in line and "the last checkpoint is intact" in line
    assert rundir.RunDir(out).load_checkpoint()["epoch"] == 1


def test_atomic_writer_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "genotype.json"
    path.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError) as error:
        atomic.atomic_write_text(path, "new")
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(path)
    assert path.read_text() == "old" and sorted(tmp_path.iterdir()) == [path]


def test_run_directory_mistakes_come_before_the_data(tmp_path, capsys, no_slow_work):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("epochs: 99\n")
    assert main(["search", *TINY, "--out", str(out)]) == 2
    assert "already holds a run (it holds a different run)" in _one_line(capsys)
    assert main(["search", *TINY, "--resume", "--overwrite", "--out", str(out)]) == 2
    assert "--resume and --overwrite contradict each other" in _one_line(capsys)
    assert main(["search", *TINY, "--resume", "--out", str(out)]) == 2
    assert "cannot resume" in _one_line(capsys)
    assert main(["train", "darts_v2", "--out", str(out)]) == 2
    assert "already holds a run; pass --resume or --overwrite" in _one_line(capsys)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["train", "darts_v2", "--out", str(tmp_path / "other")]) == 2
    assert "holds no rdarts run" in _one_line(capsys)


def test_unknown_op_in_a_genotype_file(tmp_path, capsys, no_slow_work):
    from rdarts.domains.image.genotypes import KNOWN_GENOTYPES
    from rdarts.domains.image.ops import OP_NAMES

    genotype = json.loads(json.dumps(KNOWN_GENOTYPES["darts_v2"]))
    genotype["reduce"][3][0] = "sep_conv_4x4"
    path = tmp_path / "g.json"
    path.write_text(json.dumps(genotype))
    assert main(["train", str(path), "--out", str(tmp_path / "t")]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"rdarts: error: genotype {path}: unknown op 'sep_conv_4x4' in "
                           "node 1 of the reduce cell")
    assert line.endswith(f"known ops: {', '.join(OP_NAMES)}")


@pytest.mark.parametrize(("key", "message"), [
    ("sep.skip", "'sep.skip' is neither a file nor a well-formed S5 architecture key: a key is "
                 "NORMAL0.NORMAL1-REDUCE0.REDUCE1 (e.g. sep.skip-pool.sep)"),
    ("sep.skip-pool", "is neither a file nor a well-formed S5 architecture key"),
    ("sep.conv-pool.sep", "'conv' in 'sep.conv-pool.sep' is not an S5 op: the S5 ops are sep "
                          "(sep_conv_3x3), skip (skip_connect), pool (max_pool_3x3)"),
    ("sep.skip-pool.sepp", "'sepp' in 'sep.skip-pool.sepp' is not an S5 op (did you mean "
                           "'sep'?)"),
    ("missing/genotype.json", "genotype file missing/genotype.json does not exist"),
])
def test_bench_lookup_says_what_is_wrong_with_a_key(capsys, key, message):
    assert main(["bench", "s5", "lookup", key]) == 2
    assert message in _one_line(capsys)


def test_bench_lookup_of_a_key(capsys):
    assert main(["bench", "s5", "lookup", "sep.skip-pool.sep"]) == 0
    assert json.loads(capsys.readouterr().out)["architecture"] == "sep.skip-pool.sep"


def test_sweep_file_mistakes(tmp_path, capsys):
    assert main(["sweep", "tinyy", "--dry-run"]) == 2
    assert "sweep file tinyy does not exist (did you mean 'tiny'?)" in _one_line(capsys)
    path = tmp_path / "grid.yaml"
    path.write_text("name: grid\ngrid:\n  seed: [0, 1\n")
    assert main(["sweep", str(path), "--dry-run"]) == 2
    assert (f"sweep file {path} is not valid YAML: line 4, column 1: expected ',' or ']'"
            in _one_line(capsys))


def test_space_file_yaml_error_has_line_and_column(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("nodes: 1\nops: [a, b\n")
    assert main(["search", *TINY, "--space", str(space), "--out", str(tmp_path / "run")]) == 2
    assert f"space file {space} is not valid YAML: line 3, column 1" in _one_line(capsys)


# ---- the last resort: bugs are one line, or a traceback with --debug ------------------------


@pytest.fixture
def buggy_spaces(monkeypatch):
    def boom(args):
        raise ValueError("boom\nsecond line")

    monkeypatch.setattr("rdarts.cli.spaces._spaces", boom)


def test_unexpected_error_is_one_line_with_exit_1(capsys, buggy_spaces):
    assert main(["spaces"]) == 1
    assert _one_line(capsys) == ("rdarts: error: ValueError: boom (run with --debug for the "
                                 "traceback)")


@pytest.mark.parametrize("argv", [["--debug", "spaces"], ["spaces", "--debug"]])
def test_debug_shows_the_traceback(capsys, buggy_spaces, argv):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "ValueError: boom" in err


def test_interrupt_keeps_its_message(capsys, monkeypatch):
    def interrupt(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("rdarts.cli.spaces._spaces", interrupt)
    assert main(["spaces", "--debug"]) == app.EXIT_INTERRUPTED
    assert "interrupted" in _one_line(capsys)


# ---- parsing and help -----------------------------------------------------------------------


def _usage_error(capsys, argv) -> list[str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("usage: "), lines
    return lines


def test_every_parser_refuses_abbreviations():
    parsers = list(app._parsers(app.build_parser()))
    assert len(parsers) > 10 and all(parser.allow_abbrev is False for parser in parsers)


@pytest.mark.parametrize(("argv", "usage", "error"), [
    (["search", "--epoch", "1", "--out", "x"], "usage: rdarts search [options] --out OUT",
     "rdarts search: error: unrecognized arguments: --epoch 1 (did you mean --epochs?)"),
    (["train", "g.json", "--out", "x", "--lr-mn=0"],
     "usage: rdarts train [options] GENOTYPE --out OUT",
     "rdarts train: error: unrecognized arguments: --lr-mn=0 (did you mean --lr-min"),
    (["search", "--method", "dart", "--out", "x"], "usage: rdarts search [options] --out OUT",
     "rdarts search: error: argument --method: invalid choice: 'dart' (did you mean 'darts'"),
    (["search", "--preset", "tny", "--out", "x"], "usage: rdarts search",
     "invalid choice: 'tny' (did you mean 'tiny'?); choose from cpu, paper, smoke, tiny"),
    (["serch"], "usage: rdarts [options] COMMAND ...",
     "rdarts: error: argument COMMAND: invalid choice: 'serch' (did you mean 'search'"),
    (["bench", "s5", "lookup"], "usage: rdarts bench s5 lookup [options] GENOTYPE",
     "rdarts bench s5 lookup: error: the following arguments are required: GENOTYPE"),
])
def test_usage_errors_are_the_short_usage_and_one_line(capsys, argv, usage, error):
    lines = _usage_error(capsys, argv)
    assert lines[0].startswith(usage) and error in lines[1], lines


def _command(name: str) -> argparse.ArgumentParser:
    return next(p for p in app._parsers(app.build_parser()) if p.prog == f"rdarts {name}")


def _expected_default(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


@pytest.mark.parametrize(("command", "cls"), [("search", "SearchConfig"),
                                              ("train", "TrainConfig")])
def test_settings_help_shows_the_dataclass_defaults(command, cls):
    from rdarts.search import config

    actions = {a.dest: a for a in _command(command)._actions}
    for field in fields(getattr(config, cls)):
        if field.name == "domain_settings":  # a domain's own settings have their own flags
            continue
        help_text = actions[field.name].help
        assert help_text.count("(default:") == 1, help_text
        if field.default is not None:
            assert help_text.endswith(f"(default: {_expected_default(field.default)})")
    assert "(default: 0.0003)" in actions["weight_decay"].help


def test_every_default_is_shown_once_in_one_style():
    for parser in app._parsers(app.build_parser()):
        for action in parser._actions:
            if (action.option_strings and action.default not in (None, argparse.SUPPRESS)
                    and action.default is not False and action.nargs != 0):
                assert action.help.count("(default:") == 1, (parser.prog, action.dest)
    assert _command("sweep")._option_string_actions["--retries"].help.endswith("(default: 1)")
    assert _command("select")._option_string_actions["--seeds"].help.endswith("(default: 4)")


def test_choices_are_the_metavar(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = capsys.readouterr().out
    assert "--method {darts,darts-es,darts-ada,rs-ws}" in text
    assert "--order {1,2}" in text and "--hessian-mode {train,eval}" in text


def test_sweep_help_lists_every_shipped_sweep(capsys):
    from rdarts.experiments.sweepfile import shipped_sweeps

    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"Shipped sweeps: {', '.join(shipped_sweeps())}." in text
