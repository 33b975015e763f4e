"""Executors: results in order, failures as results, retries, and Ray's bounds and lifecycle.

The job functions are plain top-level functions of this module. Ray pickles them by reference,
so its workers must import this module: the Ray fixture puts this directory on PYTHONPATH,
which `RayExecutor` passes on to the workers of the local instance it starts (after the
directory holding rdarts). No helper module under src/ is needed for that. The test of a
self-started instance uses the builtin `pow` instead, which every worker can import.

Ray starts in about 3 s here, so the Ray tests share two instances: one started and shut down
by a plain `run`, then one kept up by a module-scoped `with RayExecutor(...)`, which every
other `RayExecutor` in the module reuses (and must leave running).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rdarts.errors import ConfigError
from rdarts.experiments.executors import (
    Job,
    JobResult,
    LocalExecutor,
    RayExecutor,
    make_executor,
)
from rdarts.runs.manifest import COMMAND_ENV

TESTS_DIR = Path(__file__).resolve().parent


# Job functions: top level, so that Ray workers can import them by name.

def square(x: int) -> int:
    return x * x


def always_fails() -> None:
    raise RuntimeError("boom\n  on purpose")


def fail_first_time(marker: str) -> str:
    """Fails until `marker` exists, as a job does whose first attempt hit a transient fault."""
    if not Path(marker).exists():
        Path(marker).touch()
        raise OSError(f"transient fault; {marker} now exists")
    return "recovered"


def record_interval(path: str, seconds: float) -> str:
    """Sleeps, and writes its start and end wall-clock times (comparable across processes)."""
    start = time.time()
    time.sleep(seconds)
    Path(path).write_text(f"{start} {time.time()}")
    return path


def interrupt() -> None:
    raise KeyboardInterrupt


def touch(path: str) -> None:
    Path(path).touch()


def exit_early() -> None:
    sys.exit(3)


def crash_worker() -> None:
    os._exit(1)


def unpicklable() -> object:
    return threading.Lock()


def recorded_command() -> list[str]:
    """The command line a manifest written now would record, and this process's own argv."""
    from rdarts.runs.manifest import command_line

    return [*command_line(), "|", *sys.argv]


def manifest_command(path: str) -> list[str]:
    import torch

    from rdarts.runs.manifest import manifest
    from rdarts.runs.rundir import RunDir

    RunDir(path).write_json("manifest.json", manifest(0, torch.device("cpu")))
    return json.loads((Path(path) / "manifest.json").read_text())["command"]


def squares(n: int) -> list[Job]:
    return [Job(f"square-{x}", square, {"x": x}) for x in range(n)]


def max_overlap(paths: list[Path]) -> int:
    """The largest number of intervals (written by `record_interval`) open at one instant."""
    events: list[tuple[float, int]] = []
    for path in paths:
        start, end = map(float, path.read_text().split())
        events += [(start, 1), (end, -1)]
    open_now = peak = 0
    for _, step in sorted(events):  # an end sorts before a start at the same instant
        open_now += step
        peak = max(peak, open_now)
    return peak


# LocalExecutor

def test_local_returns_results_in_order_and_logs_each_job() -> None:
    lines: list[str] = []
    results = LocalExecutor(log=lines.append).run(squares(4))
    assert [r.value for r in results] == [0, 1, 4, 9]
    assert [r.name for r in results] == [f"square-{x}" for x in range(4)]
    assert all(r.ok and r.error is None and r.attempts == 1 for r in results)
    assert lines[:2] == ["start square-0", "done square-0 in 0.0 s"]
    assert len(lines) == 8


def test_local_failure_is_a_one_line_result_and_the_others_still_run() -> None:
    jobs = [Job("bad", always_fails, {}), *squares(2)]
    lines: list[str] = []
    results = LocalExecutor(log=lines.append).run(jobs)
    assert results[0] == JobResult("bad", ok=False, error="RuntimeError: boom on purpose",
                                   seconds=results[0].seconds)
    assert [r.value for r in results[1:]] == [0, 1]
    assert any(line.startswith("failed bad (attempt 1/1) after") for line in lines)


def test_local_retries_a_failed_job(tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")
    lines: list[str] = []
    [result] = LocalExecutor(retries=1, log=lines.append).run(
        [Job("flaky", fail_first_time, {"marker": marker})])
    assert (result.ok, result.value, result.attempts) == (True, "recovered", 2)
    assert "start flaky (attempt 2/2)" in lines
    assert any(line.endswith("; retrying") for line in lines)

    [result] = LocalExecutor(retries=2, log=lambda _: None).run([Job("bad", always_fails, {})])
    assert (result.ok, result.attempts) == (False, 3)


def test_local_without_retries_reports_the_first_failure(tmp_path: Path) -> None:
    [result] = LocalExecutor(log=lambda _: None).run(
        [Job("flaky", fail_first_time, {"marker": str(tmp_path / "marker")})])
    assert not result.ok and result.attempts == 1
    assert result.error is not None and result.error.startswith("OSError: transient fault")


def test_local_keyboard_interrupt_propagates_and_stops_the_run(tmp_path: Path) -> None:
    after = tmp_path / "after"
    jobs = [Job("ctrl-c", interrupt, {}), Job("next", touch, {"path": str(after)})]
    with pytest.raises(KeyboardInterrupt):
        LocalExecutor(retries=3, log=lambda _: None).run(jobs)
    assert not after.exists()


def test_local_sys_exit_in_a_job_is_a_failure_not_the_end() -> None:
    results = LocalExecutor(log=lambda _: None).run([Job("exit", exit_early, {}), *squares(1)])
    assert (results[0].ok, results[0].error) == (False, "SystemExit: 3")
    assert results[1].value == 0


def test_job_names_must_be_unique() -> None:
    with pytest.raises(ConfigError, match="'square-0' appears more than once"):
        LocalExecutor(log=lambda _: None).run(squares(1) * 2)


def test_local_jobs_record_the_command_that_started_them(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["rdarts", "sweep", "tiny"])
    monkeypatch.delenv(COMMAND_ENV, raising=False)
    [result] = LocalExecutor(log=lambda _: None).run(
        [Job("m", manifest_command, {"path": str(tmp_path / "m")})])
    assert result.value == ["rdarts", "sweep", "tiny"]
    assert COMMAND_ENV not in os.environ  # set for the job only

    # A job inside a job (a selection in a sweep job) keeps the outermost command.
    monkeypatch.setenv(COMMAND_ENV, json.dumps(["rdarts", "sweep", "table5"]))
    [result] = LocalExecutor(log=lambda _: None).run([Job("c", recorded_command, {})])
    assert result.value[:4] == ["rdarts", "sweep", "table5", "|"]
    assert os.environ[COMMAND_ENV] == json.dumps(["rdarts", "sweep", "table5"])


def test_a_search_job_records_the_command_in_its_manifest(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from rdarts.search.config import resolve
    from rdarts.search.selection import search_job

    monkeypatch.setattr(sys, "argv", ["rdarts", "select", "--out", "sel"])
    config = resolve(overrides={"space": "s3", "nodes": 1, "layers": 3, "channels": 4,
                                "batch_size": 16, "max_train_images": 48, "epochs": 1,
                                "val_batches": 1, "hessian_every": 0, "device": "cpu"})
    out = tmp_path / "search"
    [result] = LocalExecutor(log=lambda _: None).run(
        [Job("search", search_job, {"config": config.to_dict(), "out": str(out)})])
    assert result.ok, result.error
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == ["rdarts", "select", "--out", "sel"]


# make_executor

def test_make_executor_builds_local_and_rejects_unknown_names_and_options() -> None:
    executor = make_executor("local", retries=2)
    assert isinstance(executor, LocalExecutor) and executor.retries == 2
    with pytest.raises(ValueError, match="unknown executor 'slurm'; known executors: local, ray"):
        make_executor("slurm")
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("slurm")
    with pytest.raises(ConfigError, match="takes no option num_cpus; it takes: retries, log"):
        make_executor("local", num_cpus=2)
    with pytest.raises(ConfigError, match="retries must be 0 or more"):
        make_executor("local", retries=-1)


def test_make_executor_ray_without_ray_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'rdarts\[ray\]'"):
        make_executor("ray")


# RayExecutor. This test must come before the first use of the `ray_executor` fixture: it
# needs Ray not yet initialised, to start and shut down an instance of its own.

def test_ray_run_starts_a_local_instance_and_shuts_it_down() -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("Ray is already initialised in this process")
    lines: list[str] = []
    # Builtin `pow`: importable by every worker whatever its PYTHONPATH.
    jobs = [Job("pow", pow, {"base": 3, "exp": 2}), Job("zero", pow, {"base": 0.0, "exp": -1})]
    results = make_executor("ray", num_cpus=2, log=lines.append).run(jobs)
    assert (results[0].ok, results[0].value) == (True, 9)
    assert not results[1].ok
    assert results[1].error == "ZeroDivisionError: 0.0 cannot be raised to a negative power"
    assert lines[0].startswith("started a local Ray instance (2 CPUs, 0 GPUs) in")
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    """One local Ray instance for the rest of the module, kept up by a `with` block."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as patch:
        # Workers inherit this (after rdarts's directory), so they can import this module.
        inherited = os.environ.get("PYTHONPATH")
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), inherited])))
        with RayExecutor(num_cpus=2, log=lambda _: None) as executor:
            patch.undo()
            assert ray.is_initialized()
            yield executor
    assert not ray.is_initialized()


def test_ray_gives_the_same_results_as_local(ray_executor: RayExecutor) -> None:
    jobs = [*squares(4), Job("bad", always_fails, {})]
    local = LocalExecutor(log=lambda _: None).run(jobs)
    first = ray_executor.run(jobs)
    second = ray_executor.run(jobs)  # a second run inside the `with` reuses the instance

    def essentials(results: list[JobResult]) -> list[tuple[object, ...]]:
        return [(r.name, r.ok, r.value, r.error, r.attempts) for r in results]

    assert essentials(first) == essentials(second) == essentials(local)
    assert first[-1].error == "RuntimeError: boom on purpose"


def test_ray_retries_and_leaves_a_reused_instance_running(
        ray_executor: RayExecutor, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    lines: list[str] = []
    jobs = [Job("flaky", fail_first_time, {"marker": str(tmp_path / "marker")}),
            Job("bad", always_fails, {})]
    flaky, bad = RayExecutor(retries=1, log=lines.append).run(jobs)
    assert (flaky.ok, flaky.value, flaky.attempts) == (True, "recovered", 2)
    assert (bad.ok, bad.attempts) == (False, 2)
    assert "submit flaky (attempt 2/2)" in lines
    assert ray.is_initialized()  # started by the fixture, so not this executor's to shut down


def test_ray_max_parallel_bounds_the_jobs_in_flight(
        ray_executor: RayExecutor, tmp_path: Path) -> None:
    paths = [tmp_path / f"interval-{i}" for i in range(3)]
    jobs = [Job(p.name, record_interval, {"path": str(p), "seconds": 0.3}) for p in paths]
    # Two CPUs would let Ray run two at once; max_parallel=1 must keep them one at a time.
    results = RayExecutor(max_parallel=1, log=lambda _: None).run(jobs)
    assert all(r.ok for r in results)
    assert max_overlap(paths) == 1


def test_ray_dead_worker_and_unpicklable_value_are_failures(ray_executor: RayExecutor) -> None:
    crashed, lock, ok = ray_executor.run(
        [Job("crash", crash_worker, {}), Job("lock", unpicklable, {}), *squares(1)])
    assert not crashed.ok and crashed.error is not None
    assert crashed.error.startswith("WorkerCrashedError: The worker died unexpectedly")
    assert (lock.ok, lock.error) == (False, "TypeError: cannot pickle '_thread.lock' object")
    assert ok.value == 0


def test_ray_local_instance_refuses_gpus_it_does_not_have(ray_executor: RayExecutor) -> None:
    ray = pytest.importorskip("ray")
    if ray.cluster_resources().get("GPU", 0) > 0:
        pytest.skip("this machine has GPUs")
    [result] = ray_executor.run(squares(1))  # default: no GPU request without GPUs
    assert result.ok
    with pytest.raises(ConfigError, match="asks for 1 GPUs but the local Ray instance has 0"):
        ray_executor.run([Job("needs-gpu", square, {"x": 1}, gpus=1)])


def test_ray_jobs_record_the_drivers_command_not_the_workers(
        ray_executor: RayExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    driver = ["rdarts", "sweep", "tiny", "--executor", "ray"]
    monkeypatch.setattr(sys, "argv", driver)
    command, manifest = ray_executor.run([
        Job("command", recorded_command, {}),
        Job("manifest", manifest_command, {"path": str(tmp_path / "m")})])
    assert command.ok and manifest.ok, (command.error, manifest.error)
    recorded, worker = command.value[:len(driver)], command.value[len(driver) + 1:]
    assert recorded == driver and worker != driver  # the worker's argv is Ray's script
    assert manifest.value == driver
