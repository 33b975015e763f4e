"""The selection protocols on the language domain, end to end through the CLI: R-DARTS over
Figure 16's L2 grid and best-of-K seeds, each keeping the candidate whose short retraining has
the lowest validation perplexity; the report shows them in perplexity."""

from __future__ import annotations

import json
from pathlib import Path

from rdarts.cli.app import main
from rdarts.report.build import build_report

COMMON = ["--domain", "language", "--space", "darts-rnn", "--preset", "smoke",
          "--retrain-preset", "smoke", "--epochs", "1", "--device", "cpu", "--quiet"]


def _retrained(selection: Path) -> dict[str, float]:
    """Each candidate's retraining validation perplexity, read from its own run directory."""
    return {run.name: json.loads((run / "result.json").read_text())["val_perplexity"]
            for run in sorted((selection / "retrain").iterdir())}


def test_r_darts_keeps_the_lowest_retraining_perplexity(tmp_path: Path) -> None:
    out = tmp_path / "rd"
    assert main(["rdarts", *COMMON, "--regularizer", "l2", "--values", "5e-7", "1.35e-5",
                 "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    retrained = _retrained(out)
    assert set(retrained) == {"l2-5e-07", "l2-1.35e-05"}
    assert result["chosen"] == min(retrained, key=retrained.get)
    assert result["score"] == {"name": "perplexity", "higher": False}
    assert result["val_perplexity"] == retrained[result["chosen"]]
    chosen = next(c for c in result["candidates"] if c["name"] == result["chosen"])
    assert json.loads((out / "genotype.json").read_text()) == chosen["genotype"]


def test_best_of_seeds_and_its_report_in_perplexity(tmp_path: Path) -> None:
    out = tmp_path / "sel"
    assert main(["select", *COMMON, "--num-seeds", "2", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    retrained = _retrained(out)
    assert len(retrained) == 2 and result["chosen"] == min(retrained, key=retrained.get)
    build_report([out], tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Retraining val. perplexity (chosen)" in text
    assert f"{retrained[result['chosen']]:.1f}" in text
