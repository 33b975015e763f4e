"""`rdarts status DIR`: what has run, what is running and what is left below a directory.

After a night of sweeps the question is which runs finished, which stopped where, and how good
they are; opening a dozen result.json files answers it badly. This module lists every run
directory (search, training, selection) and every sweep job below DIR, one line each.

It reads nothing itself: run files go through `rdarts.runs.rundir.RunDir` (finished_result,
read_metrics, read_config: the one reader, so "finished" here is what a resume or a sweep
means by it) and sweep jobs through the sweep's own rule (`steps.job_state`, which rests on
`job_finished`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdarts.errors import RdartsError, RunDirError
from rdarts.experiments.steps import job_results, job_state
from rdarts.runs.rundir import RunDir

COLUMNS = ("path", "kind", "method", "space", "status", "epoch", "score", "regret")
HEADERS = ("PATH", "KIND", "METHOD", "SPACE", "STATUS", "EPOCH", "SCORE", "REGRET(pts)")


@dataclass(frozen=True)
class Row:
    """One run or sweep job; '-' where a column does not apply or is not known yet."""

    path: str
    kind: str
    method: str = "-"
    space: str = "-"
    status: str = "-"
    epoch: str = "-"
    score: str = "-"
    regret: str = "-"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"


def _regret(value: Any) -> str:
    """Test regret in percentage points, as the epoch lines print it."""
    return f"{100 * value:.2f}" if isinstance(value, int | float) else "-"


def _kind(config: dict[str, Any]) -> str:
    if "candidates" in config:
        return "selection"
    return "train" if "genotype" in config else "search"


def _run_status(run: RunDir, result: Any, records: list[dict[str, Any]]) -> str:
    if run.finished_result() is not None:
        return "completed"
    if isinstance(result, dict) and isinstance(result.get("status"), str):
        return result["status"]  # diverged, partial
    return "unfinished" if records else "not started"


def _score_key(result: Any) -> str:
    """The metric a search is ranked by (its result names it; older runs: accuracy)."""
    score = result.get("score") if isinstance(result, dict) else None
    name = score.get("name") if isinstance(score, dict) else None
    return f"val_{name or 'accuracy'}"


def _search_score(result: Any, records: list[dict[str, Any]]) -> str:
    """The final one-shot validation score (RS-ws: of the architecture it chose), else the
    latest epoch's."""
    key = _score_key(result)
    result = result if isinstance(result, dict) else {}
    last = records[-1] if records else {}
    candidates = (result.get("final", {}).get(key), result.get("rs_ws", {}).get(key),
                  last.get(key), last.get(f"rs_{key}"))
    value = next((v for v in candidates if v is not None), None)
    return f"{key} {_number(value)}" if value is not None else "-"


def _training_score(result: Any, records: list[dict[str, Any]]) -> str:
    source = result if isinstance(result, dict) else (records[-1] if records else {})
    for key in ("test_error", "val_error", "val_accuracy"):
        if source.get(key) is not None:
            return f"{key} {_number(source[key])}"
    return "-"


def _selection_row(name: str, config: dict[str, Any], result: Any, status: str,
                   regret: str) -> Row:
    """A selection: its protocol, the candidates' space, the chosen one and its score."""
    candidates = config["candidates"] if isinstance(config["candidates"], dict) else {}
    spaces = sorted({str(c.get("space")) for c in candidates.values() if isinstance(c, dict)})
    score = "-"
    if isinstance(result, dict) and result.get("chosen"):
        key = _score_key(result)
        score = f"chosen {result['chosen']}: {key} {_number(result.get(key))}"
    return Row(name, "selection", str(config.get("protocol", "-")), ",".join(spaces) or "-",
               status, f"{len(candidates)} candidates", score, regret)


def run_row(path: Path, root: Path) -> Row:
    """The line of one run directory (a folder with config.yaml)."""
    run = RunDir(path)
    name = str(path.relative_to(root)) if path != root else "."
    try:
        config = run.read_config()
        result = run.read_json_or("result.json")
        kind = _kind(config)
        records = run.read_metrics() if kind != "selection" else []
    except RunDirError as error:
        return Row(name, "run", status=f"unreadable ({error})")
    status = _run_status(run, result, records)
    regret = result.get("test_regret") if isinstance(result, dict) else None
    if regret is None and records:
        regret = records[-1].get("test_regret")
    if kind == "selection":
        return _selection_row(name, config, result, status, _regret(regret))
    epoch = f"{records[-1]['epoch'] + 1 if records else 0}/{config.get('epochs', '?')}"
    if kind == "train":
        return Row(name, kind, status=status, epoch=epoch,
                   score=_training_score(result, records), regret=_regret(regret))
    return Row(name, kind, str(config.get("method", "-")), str(config.get("space", "-")),
               status, epoch, _search_score(result, records), _regret(regret))


def job_rows(sweep_dir: Path, root: Path) -> list[Row]:
    """The lines of a sweep's jobs (OUT/jobs.json): done, partial or pending, and the key
    numbers of what finished."""
    try:
        jobs = json.loads((sweep_dir / "jobs.json").read_text()).get("jobs", [])
    except (OSError, json.JSONDecodeError, AttributeError) as error:
        return [Row(str(sweep_dir.relative_to(root)), "sweep", status=f"unreadable ({error})")]
    rows = []
    for job in jobs:
        job_dir = sweep_dir / job["name"]
        settings = job.get("settings", {})
        results = job_results(job, job_dir)
        score = next((f"{key} {_number(results[key])}" for key in
                      ("test_error", "val_accuracy", "val_error") if key in results), "-")
        rows.append(Row(str(job_dir.relative_to(root)), f"{job.get('kind', 'search')} job",
                        str(settings.get("method", "-")) if job.get("kind") != "train" else "-",
                        str(settings.get("space", "-")), job_state(job, job_dir),
                        score=score, regret=_regret(results.get("test_regret"))))
    return rows


def collect(root: str | Path) -> list[Row]:
    """Every run directory and sweep job below `root` (or `root` itself), sorted by path so
    that a job comes just before its runs."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise RdartsError(f"{root} is not a directory")
    rows = [run_row(config.parent, root) for config in root.rglob("config.yaml")]
    for jobs in root.rglob("jobs.json"):
        rows += job_rows(jobs.parent, root)
    return sorted(rows, key=lambda row: (Path(row.path).parts, row.kind))


def table(rows: list[Row]) -> str:
    """The rows as aligned columns under a header."""
    cells = [HEADERS, *([getattr(row, column) for column in COLUMNS] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths,
                                                                         strict=True)).rstrip()
                     for line in cells)


def status_command(root: str | Path) -> int:
    """`rdarts status DIR`: print the table (or say that DIR holds no run)."""
    rows = collect(root)
    if not rows:
        print(f"no runs or sweeps under {root}")
        return 0
    print(table(rows))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    print(f"{len(rows)} listed: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    return 0
