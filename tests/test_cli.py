"""The command line: help, a tiny search, and one clear line for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rdarts.cli.app import main

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
