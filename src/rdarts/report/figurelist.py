"""The report's figures over settings, in report order: how each is drawn, its file, its
section's title and sentence, and why it can be absent (report.md says so for every figure it
has no data for)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdarts.report.collect import Runs
from rdarts.report.figures import (
    plot_discretization,
    plot_gradient_check,
    plot_lambda_max,
    plot_spectrum,
    plot_test_error_vs_lambda,
)
from rdarts.report.regret import plot_regret
from rdarts.report.strength import plot_strength
from rdarts.report.tables import Section, Setting


def image_link(path: Path) -> str:
    return f"![{path.stem}]({path.name})"


def _pearson_sentence(summary: dict[str, Any]) -> str:
    r = summary["pearson"]["r"]
    r_text = ("undefined (fewer than 2 runs or a constant coordinate)" if r is None
              else f"{r:.4f}")
    return (f"Each point is one search: its final architecture's test error against lambda_max "
            f"averaged over the search; the Pearson correlation coefficient over "
            f"{len(summary['pearson']['points'])} runs is {r_text}.")


def _regret_sentence(summary: dict[str, Any]) -> str:
    baselines = "".join(f" The dashed grey line is the expected regret of a uniformly random "
                        f"architecture of the {name} table ({value:.2f} points)."
                        for name, value in summary["random_regret_points"].items())
    candidates = sum(1 for s in summary["settings"] for r in s["runs"] if r["selection"])
    inside = (f" The {candidates} searches run inside selections are not drawn as curves: "
              "their selection's band stands for them." if candidates else "")
    stars = (" Stars: the final regret of each selection run (R-DARTS), its band the mean +- "
             "std over those runs." if summary.get("selections") else "")
    return ("Test regret (table test error of the architecture a method returns minus the "
            "best architecture's, in percentage points) over the search epochs, mean over "
            "seeds with shaded std. DARTS is each epoch's architecture; DARTS-ES the same "
            "until its rule fires and from that stop epoch on the architecture it returns."
            + stars + baselines + inside + " The one-shot validation error is in "
            "lambda_max.png.")


@dataclass(frozen=True)
class FigureSpec:
    """A figure: how to draw it, its file, section title, sentence and why it can be absent."""

    plot: Callable[[list[Setting], Runs, Path], Path | None]
    name: str
    title: str
    sentence: str | Callable[[dict[str, Any]], str]
    missing: str


FIGURES = (
    FigureSpec(lambda s, runs, p: plot_lambda_max(s, p), "lambda_max.png",
               "lambda_max during the search (Figures 3 and 11)",
               "The dominant eigenvalue of the validation-loss Hessian with respect to alpha and "
               "the one-shot validation value per epoch (error %; perplexity or EPE in other "
               "domains; mean over seeds, shaded std); circles "
               "mark the epochs DARTS-ES returns.",
               "no search run measured lambda_max (`hessian_every: 0`, or no epoch finished)"),
    FigureSpec(lambda s, runs, p: plot_regret(s, p, runs.selections), "regret.png",
               "Test regret during the search (Figure 2)", _regret_sentence,
               "no search run was scored against a tabular benchmark and no selection has a "
               "test regret (S5 with its table only)"),
    FigureSpec(lambda s, runs, p: plot_test_error_vs_lambda(s, p), "test_error_vs_lambda.png",
               "Test error vs. lambda_max (Figure 15)", _pearson_sentence,
               "no search run has both lambda_max and a test error (an eval/ training or, on "
               "S5, the table's)"),
    FigureSpec(lambda s, runs, p: plot_strength(s, p), "strength.png",
               "The found cells against the regularisation strength (Figures 4, 5 and 16)",
               "Per value of the setting the runs vary in: the test value of every found cell "
               "(points: seeds; line: the median), the one-shot validation value and "
               "lambda_max at the end of the search; numbers in table_strength.csv.",
               "the search settings do not vary in one numeric setting (an L2, drop path or "
               "augmentation grid)"),
    FigureSpec(lambda s, runs, p: plot_gradient_check(s, p), "gradient_check.png",
               "Finite-difference vs. exact hypergradient",
               "How far the paper's finite-difference hypergradient (r = 0.01; also 0.1, 0.001) "
               "is from the exact double-backward one over the search, on two probe batches "
               "at the search's state (mean over seeds; log scale).",
               "no search run logged a hypergradient check (`--gradient-check-every K`)"),
    FigureSpec(lambda s, runs, p: plot_spectrum(s, p), "spectrum.png",
               "Hessian spectrum (Figure 13)",
               "The 30 eigenvalues of largest magnitude of the dense Hessian at the last saved "
               "epoch: the mean over the seeds of each setting (line) and every run (points).",
               "no run has a dense Hessian spectrum (`rdarts hessian RUN_DIR --spectrum`)"),
    FigureSpec(lambda s, runs, p: plot_discretization(s, p), "discretization.png",
               "Discretisation drop vs. lambda_max (Figure 6)",
               "The validation accuracy lost by replacing softmax(alpha) with the discrete "
               "genotype (search weights kept) against lambda_max at the same epoch; one point "
               "per record.",
               "no run has discretisation records with a lambda_max at the same epoch "
               "(`rdarts discretize RUN_DIR`)"),
)


def figure_sections(settings: list[Setting], runs: Runs, out: Path,
                     summary: dict[str, Any]) -> tuple[list[Section], list[Path]]:
    """Every figure the runs have data for, each with its section, and one section saying
    why the others are absent."""
    sections: list[Section] = []
    written: list[Path] = []
    absent: list[str] = []
    for spec in FIGURES:
        path = spec.plot(settings, runs, out / spec.name)
        if path is None:
            absent.append(f"- {spec.name} ({spec.title}): {spec.missing}.")
            continue
        written.append(path)
        text = spec.sentence(summary) if callable(spec.sentence) else spec.sentence
        sections.append(Section(spec.title, text, image_link(path)))
    if absent:
        sections.append(Section("Figures not drawn", "Figures this report has no data for, and "
                                "why.", "\n".join(absent)))
    return sections, written
