"""The first hour as the README and the Makefile promise it: the demo commands resolve to a
short search with lambda_max tracking, the README's sweep file is valid, and README and docs/
cite nothing a reader cannot open."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from rdarts.cli.app import build_parser, main
from rdarts.experiments.jobs import expand
from rdarts.experiments.sweepfile import sweep_from_dict

ROOT = Path(__file__).resolve().parents[1]


def _recipe_commands(target: str) -> list[list[str]]:
    """The rdarts commands of a Makefile target's recipe, continuation lines joined."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n?)+)", text, re.MULTILINE)
    assert recipe is not None, target
    commands = []
    for line in recipe.group(1).splitlines():
        words = shlex.split(line.strip())
        if any(word.endswith("/rdarts") for word in words):
            start = next(i for i, word in enumerate(words) if word.endswith("/rdarts"))
            commands.append(words[start + 1:])
    return commands


def test_make_demo_is_a_short_search_with_lambda_max_and_its_report(capsys):
    search, report = _recipe_commands("demo")
    assert search[0] == "search" and report[0] == "report"
    out_at = search.index("--out")
    assert report[1] == search[out_at + 1]  # the report is of the demo's search
    assert main([*search[:out_at], *search[out_at + 2:], "--print-config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["hessian_every"] == 1 and config["order"] == 1
    assert config["epochs"] * config["max_train_images"] <= 8 * 800  # the measured budget
    assert config["dataset"] == "fashion-mnist" and config["data_dir"] is None  # embedded


def test_make_demo_rdarts_runs_r_darts_end_to_end():
    rdarts, report = _recipe_commands("demo-rdarts")
    args = build_parser().parse_args(rdarts)
    assert args.protocol == "r-darts" and args.preset == "tiny" and args.verbose
    assert report[1] == args.out


def _readme_block(start: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = text[text.index(f"```yaml\n{start}") + len("```yaml\n"):]
    return block[:block.index("```")]


def test_the_readme_sweep_file_is_valid():
    sweep = sweep_from_dict(yaml.safe_load(_readme_block("name: my_grid")))
    names = [job.name for job in expand(sweep)]
    assert names[0] == "wd-0.0003_seed0" and len(names) == 6  # as the README names them
    assert "wd-0.0003_seed0" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", ["README.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))])
def test_readme_and_docs_cite_only_what_is_in_the_repository(path):
    text = (ROOT / path).read_text()
    for pattern in (r"\bspec(?:ification)? sections?\b", r"\bspec \d", r"\b[Ii]ssue #?\d",
                    r"(?<![\w/])#\d+\b", r"\bthis (?:machine|session)\b"):
        assert not re.search(pattern, text), (path, re.search(pattern, text).group(0))
