"""Running a sweep: every job through an executor, then OUT/summary.json, and the `rdarts
sweep` command that prints it.

A failed job is a line in the summary, never an exception, so that one bad grid point does not
cost the others; jobs finished earlier are reused, so a killed sweep is rerun with the same
command. A reused job keeps the cost measured when it ran (`seconds`, from the earlier
summary.json; None when that summary was never written) and records what the rerun spent on it
as `rerun_seconds`: a rerun never erases what a sweep cost.

Output directory:

    OUT/sweep.yaml     the sweep as loaded (validated, normalised)
    OUT/jobs.json      the expanded jobs (name, kind, settings, steps, ...) and their status
    OUT/summary.json   per job: status (done / failed / skipped), attempts, seconds (the
                       measured cost), rerun_seconds (reused jobs), results
    OUT/<job>/search/  OUT/<job>/eval/  OUT/<job>/eval-es/  OUT/<job>/selection/
    OUT/<job>/train/   (kind: train)
    (eval-es/ only when DARTS-ES returned another cell than the search's last: one training
    serves both otherwise)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from rdarts.errors import ConfigError, RunDirError
from rdarts.experiments.executors import Executor, Job, JobResult, make_executor
from rdarts.experiments.jobs import SweepJob, expand, select_jobs
from rdarts.experiments.overrides import with_settings
from rdarts.experiments.steps import (
    JOB_STATES,
    job_finished,
    job_results,
    job_state,
    run_sweep_job,
)
from rdarts.experiments.sweepfile import GENOTYPE_KEY, Sweep, load_sweep
from rdarts.runs.atomic import atomic_write_json, atomic_write_text, check_out
from rdarts.runs.records import JobRecord
from rdarts.runs.rundir import RunDir
from rdarts.search.config import SearchConfig, TrainConfig

Log = Callable[[str], None]

STATUSES = ("done", "failed", "skipped")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _prepare_out(out: Path, sweep: Sweep) -> None:
    """Write OUT/sweep.yaml, or check that OUT holds this sweep (rerun, or an extended grid)."""
    check_out(out)
    path = out / "sweep.yaml"
    if path.exists():
        try:
            existing = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise RunDirError(f"{path} is unreadable: {error}") from None
        if not isinstance(existing, dict) or existing.get("name") != sweep.name:
            other = existing.get("name") if isinstance(existing, dict) else None
            raise RunDirError(f"{out} holds another sweep ({other!r}, not {sweep.name!r}); "
                              "choose another --out")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunDirError(f"{out} is not empty and holds no sweep (no sweep.yaml); "
                          "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(sweep.to_dict(), sort_keys=False))


def _write_jobs(out: Path, sweep: Sweep, jobs: list[SweepJob], status: dict[str, str]) -> None:
    atomic_write_json(out / "jobs.json", {
        "sweep": sweep.name, "kind": sweep.kind,
        "jobs": [{**job.to_dict(), "status": status[job.name]} for job in jobs]})


def run_sweep(sweep: Sweep, out: str | Path, executor: Executor | str = "local",
              retries: int | None = None, only: str | None = None, quiet: bool = True, *,
              executor_options: dict[str, Any] | None = None,
              log: Log | None = None) -> dict[str, Any]:
    """Run every job of the sweep (or those matching `only`); write and return summary.json.

    `executor` is a name ("local", "ray"; built with `retries`, default 1, and
    `executor_options`) or a ready executor, which brings its own retries. Jobs whose steps
    are all finished are not run again (status done, attempts 0); jobs left out by `only` are
    reported as they stand on disk (done, or skipped). A failed job is a line in the summary,
    never an exception: the other jobs run on.
    """
    out = Path(out)
    log = _stderr if log is None else log
    if isinstance(executor, str):
        retries = 1 if retries is None else retries
    elif retries is not None:
        raise ConfigError("a ready executor brings its own retries; pass retries when "
                          "building it")
    else:
        retries = getattr(executor, "retries", None)
    jobs = expand(sweep)
    chosen = {job.name for job in select_jobs(jobs, only)}
    _prepare_out(out, sweep)
    status = {job.name: "pending" for job in jobs}
    _write_jobs(out, sweep, jobs, status)

    records: dict[str, dict[str, Any]] = {}
    to_run: list[SweepJob] = []
    measured = _measured_seconds(out)
    for job in jobs:
        data = job.to_dict()
        start = time.perf_counter()
        if job_finished(data, out / job.name):
            log(f"skip {job.name}: finished earlier")
            records[job.name] = {"name": job.name, "status": "done", "attempts": 0,
                                 "seconds": measured.get(job.name), "steps": list(job.steps),
                                 "reused": True, **job_results(data, out / job.name),
                                 "rerun_seconds": round(time.perf_counter() - start, 3)}
        elif job.name in chosen:
            to_run.append(job)
        else:
            records[job.name] = {"name": job.name, "status": "skipped", "attempts": 0,
                                 "seconds": 0.0, "steps": list(job.steps),
                                 "reason": f"not selected by --only {only}"}

    results = _execute(to_run, out, executor, retries, quiet, executor_options or {}, log)
    for job, result in zip(to_run, results, strict=True):
        records[job.name] = _record(job, result, out)

    summary = {"sweep": sweep.name, "kind": sweep.kind, "out": str(out), "retries": retries,
               "counts": {s: sum(r["status"] == s for r in records.values()) for s in STATUSES},
               "jobs": [records[job.name] for job in jobs]}
    atomic_write_json(out / "summary.json", summary)
    _write_jobs(out, sweep, jobs, {name: record["status"] for name, record in records.items()})
    return summary


def _measured_seconds(out: Path) -> dict[str, float]:
    """Per job, the seconds the earlier summary.json of this sweep recorded for its finished
    run (kept through any number of reruns); {} without a readable summary."""
    try:
        previous = RunDir(out).read_json_or("summary.json", {})
        return {record["name"]: record["seconds"] for record in previous.get("jobs", [])
                if record.get("status") == "done"
                and isinstance(record.get("seconds"), int | float)}
    except (RunDirError, AttributeError, KeyError, TypeError):
        return {}  # a damaged summary is rewritten below; only its timings are lost


def _execute(jobs: list[SweepJob], out: Path, executor: Executor | str, retries: int | None,
             quiet: bool, options: dict[str, Any], log: Log) -> list[JobResult]:
    if not jobs:
        return []
    work = [Job(name=job.name, function=run_sweep_job,
                kwargs={"job": job.to_dict(), "out": str(out / job.name), "quiet": quiet})
            for job in jobs]
    if not isinstance(executor, str):
        return executor.run(work)
    with make_executor(executor, retries=retries, log=log, **options) as built:
        return built.run(work)


def _record(job: SweepJob, result: JobResult, out: Path) -> JobRecord:
    record: JobRecord = {"name": job.name, "status": "done" if result.ok else "failed",
                              "attempts": result.attempts, "seconds": round(result.seconds, 3),
                              "steps": list(job.steps)}
    if result.ok:
        record.update(result.value)
    else:
        record["error"] = result.error
        record.update(job_results(job.to_dict(), out / job.name))
    return record


# ---- the command ---------------------------------------------------------------------------


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"


def _points(fraction: Any) -> str:
    """A regret stored as a fraction, in percentage points (the report's unit)."""
    return f"{100 * fraction:.2f} points" if isinstance(fraction, int | float) else "-"


def result_line(record: dict[str, Any]) -> str:
    """The key numbers of one summary record, on one line."""
    if record["status"] == "failed":
        return record.get("error") or "failed"
    if record["status"] == "skipped":
        return record.get("reason", "")
    parts = []
    if "chosen" in record:
        parts.append(f"chosen {record['chosen']} (val acc {_number(record['val_accuracy'])})")
    if "val_error" in record:
        parts.append(f"val error {_number(record['val_error'])}")
    if record.get("test_error") is not None:
        parts.append(f"test error {_number(record['test_error'])}")
    if record.get("one_shot_val_perplexity") is not None:
        parts.append(f"one-shot val ppl {_number(record['one_shot_val_perplexity'])}")
    if record.get("test_perplexity") is not None:
        parts.append(f"test ppl {_number(record['test_perplexity'])}")
    for key, label in (("one_shot_val_epe", "one-shot val EPE"), ("test_epe", "test EPE"),
                       ("test_shift_epe", "shifted-test EPE")):
        if record.get(key) is not None:
            parts.append(f"{label} {_number(record[key])}")
    epoch = (f" (epoch {record['es_return_epoch']})" if record.get("es_triggered")
             else " (not triggered)")
    if "es_test_error" in record:
        parts.append(f"ES test error {_number(record['es_test_error'])}{epoch}")
    if record.get("es_test_epe") is not None:
        parts.append(f"ES test EPE {_number(record['es_test_epe'])}{epoch}")
    if record.get("test_regret") is not None:
        parts.append(f"test regret {_points(record['test_regret'])}")
    if record.get("es_test_regret") is not None:
        parts.append(f"ES test regret {_points(record['es_test_regret'])}")
    if record.get("lambda_max") is not None:
        parts.append(f"lambda_max {_number(record['lambda_max'])}")
    if "discretization_drop" in record:
        parts.append(f"discretization drop {_number(record['discretization_drop'])}")
    return "  ".join(parts)


def summary_table(summary: dict[str, Any]) -> str:
    """One line per job: name, status, attempts, seconds, key numbers."""
    rows = summary["jobs"]
    width = max([len("job"), *(len(r["name"]) for r in rows)])
    lines = [f"{'job':<{width}}  {'status':<7}  {'tries':>5}  {'seconds':>9}  results"]
    for r in rows:
        seconds = "-" if r.get("seconds") is None else f"{r['seconds']:.1f}"
        lines.append(f"{r['name']:<{width}}  {r['status']:<7}  {r['attempts']:>5}  "
                     f"{seconds:>9}  {result_line(r)}")
    counts = summary["counts"]
    lines.append(f"{len(rows)} jobs: {counts['done']} done, {counts['failed']} failed, "
                 f"{counts['skipped']} skipped; summary in {summary['out']}/summary.json")
    return "\n".join(lines)


def _changed(values: dict[str, Any], defaults: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items() if defaults.get(k) != v) or "-"


def describe_jobs(sweep: Sweep, jobs: list[SweepJob], out: Path | None = None) -> str:
    """The dry-run listing: each job's name, steps and the settings that differ from the
    defaults (search, and training for evaluations and retrainings); with `out`, whether each
    job is done, partial or pending there (the rule a run uses to skip finished jobs)."""
    search_defaults = SearchConfig().to_dict()
    train_defaults = TrainConfig().to_dict()
    lines = [f"sweep {sweep.name} ({sweep.kind}): {len(jobs)} jobs"
             + (f"; {sweep.description}" if sweep.description else "")]
    states = {job.name: job_state(job.to_dict(), out / job.name) for job in jobs} if out else {}
    for job in jobs:
        state = f"  [{states[job.name]}]" if job.name in states else ""
        lines.append(f"{job.name}: {', '.join(job.steps)}{state}")
        if job.kind == "train":
            settings = {k: v for k, v in job.settings.items() if k != GENOTYPE_KEY}
            lines.append(f"    train: {_changed(settings, train_defaults)}")
            continue
        lines.append(f"    search: {_changed(job.settings, search_defaults)}")
        if job.selection is not None:
            plan = job.selection
            lines.append(f"    selection: {plan['label']}"
                         + (f" values {plan['values']}" if plan["values"] else ""))
            lines.append(f"    retrain: {_changed(plan['retrain'], train_defaults)}")
        if job.evaluate is not None:
            lines.append(f"    eval: {_changed(job.evaluate, train_defaults)}")
    if out is not None:
        counts = ", ".join(f"{sum(s == state for s in states.values())} {state}"
                           for state in JOB_STATES)
        lines.append(f"in {out}: {counts}")
    return "\n".join(lines)


def default_out(sweep: Sweep) -> Path:
    return Path("sweeps") / sweep.name


def sweep_command(path: str | Path, out: str | Path | None = None, executor: str = "local",
                  address: str | None = None, max_parallel: int | None = None,
                  retries: int = 1, dry_run: bool = False, only: str | None = None,
                  quiet: bool = True, settings: Sequence[str] = (),
                  log: Log | None = None) -> int:
    """`rdarts sweep SWEEP.yaml`: run (or list, with `dry_run`) a sweep; print one line per
    job; return 1 if any job failed, else 0. `settings` are `--set KEY=VALUE` overrides of the
    sweep's base settings. User mistakes raise RdartsError (one line)."""
    sweep = with_settings(load_sweep(path), settings)
    if dry_run:
        where = default_out(sweep) if out is None else Path(out)
        print(describe_jobs(sweep, select_jobs(expand(sweep), only), where))
        return 0
    options: dict[str, Any] = {}
    if executor == "ray":
        options = {"address": address, "max_parallel": max_parallel}
    elif address is not None or max_parallel is not None:
        raise ConfigError("--address and --max-parallel are options of --executor ray")
    summary = run_sweep(sweep, default_out(sweep) if out is None else out, executor, retries,
                        only, quiet, executor_options=options, log=log)
    print(summary_table(summary))
    return 1 if summary["counts"]["failed"] else 0
