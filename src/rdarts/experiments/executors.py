"""Run many independent jobs (R-DARTS's K searches and retrainings, sweeps) and collect results.

Each job writes its own run directory, so jobs share nothing and any one of them can be retried
or resumed without touching the others. An executor therefore only has to call
`function(**kwargs)` for every job, retry failures, and hand back one `JobResult` per job in the
order of the jobs. A failed job is a result (`ok=False`, one line of error), never an exception:
one diverging search must not throw away the other K-1.

`LocalExecutor` runs the jobs in this process, one after another (the default: no extra
dependency, easy to debug, Ctrl-C stops at once). `RayExecutor` runs them as Ray tasks on
a local Ray instance or an existing cluster; Ray is imported only there, so rdarts works without
the optional extra.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from rdarts.errors import ConfigError

Log = Callable[[str], None]

_RAY_MISSING = "the ray executor needs the optional extra: pip install 'rdarts[ray]'"


@dataclass(frozen=True)
class Job:
    """One unit of work: `function(**kwargs)`, run wherever the executor puts it.

    `function` must be a module-level function and `kwargs` plain picklable values (paths as
    `str`, config dicts) because Ray ships both to another process by pickling them.
    `gpus` > 0 overrides the executor's GPUs-per-job request for this job (Ray only).
    """

    name: str
    function: Callable[..., Any]
    kwargs: dict[str, Any]
    gpus: float = 0.0


@dataclass(frozen=True)
class JobResult:
    """What became of one job: its return value, or one line saying why it failed.

    `attempts` counts every try (1 + retries used); `seconds` is the time the job's function
    ran, summed over the attempts (time spent queued on a Ray cluster is not counted).
    """

    name: str
    ok: bool
    value: Any = None
    error: str | None = None
    attempts: int = 1
    seconds: float = 0.0


class Executor(Protocol):
    """Anything that runs jobs and returns their results in the order of the jobs; a context
    manager so that an executor owning resources (a Ray instance) releases them."""

    def run(self, jobs: Sequence[Job]) -> list[JobResult]: ...
    def __enter__(self) -> Executor: ...
    def __exit__(self, *exc: object) -> None: ...


def _one_line(error: BaseException) -> str:
    """`"ExceptionType: message"` on one line, for logs and `JobResult.error`.

    Multi-line messages are joined, so that a sweep's summary keeps one line per job.
    """
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    name = type(error).__name__
    return f"{name}: {message}" if message else name


@contextlib.contextmanager
def _command_passed(command: list[str]) -> Iterator[None]:
    """The originating command line in COMMAND_ENV while a job runs (a Ray worker is reused by
    other tasks, so the previous value comes back afterwards); manifests record it."""
    from rdarts.runs.manifest import COMMAND_ENV  # run files import torch; executors need not

    previous = os.environ.get(COMMAND_ENV)
    os.environ[COMMAND_ENV] = json.dumps(command)
    try:
        yield
    finally:
        os.environ.pop(COMMAND_ENV, None)
        if previous is not None:
            os.environ[COMMAND_ENV] = previous


def _origin() -> list[str]:
    from rdarts.runs.manifest import command_line

    return command_line()


def _run_job(job: Job, command: list[str] | None = None) -> JobResult:
    """Call the job's function and turn any failure into a `JobResult` with one line of error.

    This runs in the worker, so that only the result crosses the process boundary: exceptions
    need not be picklable and their tracebacks stay out of the driver's log. `SystemExit` counts
    as a failure too (a job calling `sys.exit` must not end the sweep); `KeyboardInterrupt`
    propagates so that Ctrl-C stops a local run at once. `command` is the driver's command
    line, for the job's manifests.
    """
    start = time.perf_counter()
    try:
        with _command_passed(_origin() if command is None else command):
            value = job.function(**job.kwargs)
    except (Exception, SystemExit) as error:
        return JobResult(job.name, ok=False, error=_one_line(error),
                         seconds=time.perf_counter() - start)
    return JobResult(job.name, ok=True, value=value, seconds=time.perf_counter() - start)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _check_jobs(jobs: Sequence[Job]) -> None:
    """Job names label log lines and errors, so two jobs with one name would be confused."""
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            raise ConfigError(f"job names must be unique; '{job.name}' appears more than once")
        seen.add(job.name)


def _check_retries(retries: int) -> int:
    if retries < 0:
        raise ConfigError(f"retries must be 0 or more; got {retries}")
    return retries


def _merge(previous: JobResult | None, result: JobResult, attempts: int) -> JobResult:
    """The latest attempt's outcome, with attempts counted and seconds summed over attempts."""
    seconds = result.seconds + (previous.seconds if previous is not None else 0.0)
    return dataclasses.replace(result, attempts=attempts, seconds=seconds)


def _finished_line(result: JobResult, attempt: int, tries: int) -> str:
    if result.ok:
        return f"done {result.name} in {result.seconds:.1f} s"
    retry = "; retrying" if attempt < tries else ""
    return (f"failed {result.name} (attempt {attempt}/{tries}) after {result.seconds:.1f} s: "
            f"{result.error}{retry}")


class LocalExecutor:
    """Runs the jobs in this process, one after another.

    The default, because one search fills one GPU anyway and this needs nothing beyond rdarts;
    it is also the easiest to debug (a job is an ordinary function call).
    """

    def __init__(self, retries: int = 0, log: Log | None = None) -> None:
        self.retries = _check_retries(retries)
        self.log = log if log is not None else _stderr

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing to release; a context manager like RayExecutor, so callers need not care."""

    def run(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Run every job, retrying each failure up to `retries` more times."""
        _check_jobs(jobs)
        tries = 1 + self.retries
        command = _origin()
        results: list[JobResult] = []
        for job in jobs:
            result: JobResult | None = None
            for attempt in range(1, tries + 1):
                self.log(f"start {job.name}" + (f" (attempt {attempt}/{tries})"
                                                if attempt > 1 else ""))
                result = _merge(result, _run_job(job, command), attempt)
                self.log(_finished_line(result, attempt, tries))
                if result.ok:
                    break
            assert result is not None  # tries >= 1
            results.append(result)
        return results


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ConfigError(_RAY_MISSING) from error
    return ray


def _ray_error_line(error: Exception) -> str:
    """One line for a failure Ray reports instead of a `JobResult`.

    That happens when the worker died (out of memory, a segfault) or the return value could not
    be pickled; a `RayTaskError` carries the original exception as `cause`.
    """
    cause = getattr(error, "cause", None)
    return _one_line(cause if isinstance(cause, BaseException) else error)


def _pythonpath() -> str:
    """PYTHONPATH for local Ray workers: the directory holding the imported `rdarts` first.

    Workers of a local instance inherit the driver's environment, so an editable install is
    enough; this also covers a checkout used through PYTHONPATH or `sys.path` edits only, which
    fresh worker interpreters would not see.
    """
    import rdarts

    package_root = str(Path(rdarts.__file__).resolve().parent.parent)
    inherited = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    return os.pathsep.join([package_root, *[e for e in inherited if e != package_root]])


class RayExecutor:
    """Runs the jobs as Ray tasks, on a local Ray instance or an existing cluster.

    `address=None` starts a local instance with `num_cpus` CPUs (all local GPUs are detected by
    Ray); `"auto"` or `"ray://host:port"` connects to a running cluster, whose workers must be
    able to import rdarts and the jobs' functions. If Ray is already initialised in this process
    it is reused as it is and left running.

    Each task asks for one CPU and `gpus_per_job` GPUs (default: one GPU per job when the
    cluster has GPUs, since one search fills one GPU; none otherwise). Ray sets
    `CUDA_VISIBLE_DEVICES` in each task, so a job simply uses `cuda`. `max_parallel` bounds the
    tasks in flight, e.g. to spare a shared disk or licence; by default Ray's resources alone
    bound them.

    Ray is shut down at the end of `run` only if this executor started it; inside a `with`
    block it stays up until the block ends, so several `run` calls share one instance.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 max_parallel: int | None = None, retries: int = 0,
                 gpus_per_job: float | None = None, log: Log | None = None) -> None:
        self._ray = _import_ray()
        if max_parallel is not None and max_parallel < 1:
            raise ConfigError(f"max_parallel must be 1 or more; got {max_parallel}")
        if gpus_per_job is not None and gpus_per_job < 0:
            raise ConfigError(f"gpus_per_job must be 0 or more; got {gpus_per_job}")
        self.address = address
        self.num_cpus = num_cpus
        self.max_parallel = max_parallel
        self.retries = _check_retries(retries)
        self.gpus_per_job = gpus_per_job
        self.log = log if log is not None else _stderr
        self._started = False  # whether this executor called ray.init (and so must shut down)
        self._in_context = False

    def __enter__(self) -> RayExecutor:
        self._in_context = True
        self._connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._in_context = False
        self._shutdown()

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        start = time.perf_counter()
        if self.address is None:
            ray.init(num_cpus=self.num_cpus, include_dashboard=False,
                     logging_level=logging.WARNING,
                     runtime_env={"env_vars": {"PYTHONPATH": _pythonpath()}})
        else:
            # A remote cluster's workers have their own installation; a local path means nothing.
            ray.init(address=self.address, logging_level=logging.WARNING)
        self._started = True
        resources = ray.cluster_resources()
        where = "a local Ray instance" if self.address is None else f"Ray at {self.address}"
        self.log(f"started {where} ({resources.get('CPU', 0):g} CPUs, "
                 f"{resources.get('GPU', 0):g} GPUs) in {time.perf_counter() - start:.1f} s")

    def _shutdown(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False

    def _gpus_for(self, job: Job, cluster_gpus: float) -> float:
        """The job's own request if it has one, else the executor's (or one per job on GPUs)."""
        if job.gpus > 0:
            gpus = job.gpus
        elif self.gpus_per_job is not None:
            gpus = self.gpus_per_job
        else:
            gpus = 1.0 if cluster_gpus > 0 else 0.0
        if gpus > cluster_gpus and self.address is None:
            # A local instance never grows, so such a task would wait forever.
            raise ConfigError(f"job '{job.name}' asks for {gpus:g} GPUs but the local Ray "
                              f"instance has {cluster_gpus:g}")
        return gpus

    def run(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Submit the jobs, at most `max_parallel` at a time, and wait for all of them.

        Failed jobs go back to the front of the queue until their tries are used up. Ray's own
        retries are off (`max_retries=0`) so that a crashed worker counts as one attempt here.
        On Ctrl-C the tasks in flight are cancelled before the interrupt propagates.
        """
        _check_jobs(jobs)
        self._connect()
        try:
            return self._run(jobs)
        finally:
            if not self._in_context:
                self._shutdown()

    def _run(self, jobs: Sequence[Job]) -> list[JobResult]:
        ray = self._ray
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0.0))
        gpus = [self._gpus_for(job, cluster_gpus) for job in jobs]
        remote = ray.remote(_run_job)
        command = _origin()  # the driver's: a worker's own argv is Ray's worker script
        tries = 1 + self.retries
        limit = self.max_parallel if self.max_parallel is not None else len(jobs)

        results: list[JobResult | None] = [None] * len(jobs)
        attempts = [0] * len(jobs)
        pending = deque(range(len(jobs)))
        in_flight: dict[Any, int] = {}  # ObjectRef -> index of its job
        try:
            while pending or in_flight:
                while pending and len(in_flight) < limit:
                    index = pending.popleft()
                    attempts[index] += 1
                    job = jobs[index]
                    ref = remote.options(num_cpus=1, num_gpus=gpus[index], max_retries=0,
                                         name=job.name).remote(job, command)
                    in_flight[ref] = index
                    self.log(f"submit {job.name}" + (f" (attempt {attempts[index]}/{tries})"
                                                     if attempts[index] > 1 else ""))
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    index = in_flight.pop(ref)
                    job = jobs[index]
                    try:
                        outcome = ray.get(ref)
                    except Exception as error:  # worker died, or the value would not pickle
                        outcome = JobResult(job.name, ok=False, error=_ray_error_line(error))
                    result = _merge(results[index], outcome, attempts[index])
                    results[index] = result
                    self.log(_finished_line(result, attempts[index], tries))
                    if not result.ok and attempts[index] < tries:
                        pending.appendleft(index)
        except KeyboardInterrupt:
            for ref in in_flight:
                ray.cancel(ref, force=True)
            raise
        return [result for result in results if result is not None]


_EXECUTORS: dict[str, type] = {"local": LocalExecutor, "ray": RayExecutor}


class UnknownExecutorError(ConfigError, ValueError):
    """An executor name that is not known: a `ValueError` to callers, one line in the CLI."""


def make_executor(name: str, **options: Any) -> Executor:
    """The executor called `name` ("local" or "ray"), built from config or command-line options.

    Options that the executor does not take are a `ConfigError` naming the ones it does, rather
    than a `TypeError` from deep inside the constructor.
    """
    if name not in _EXECUTORS:
        raise UnknownExecutorError(f"unknown executor '{name}'; known executors: "
                          f"{', '.join(sorted(_EXECUTORS))}")
    if name == "ray":
        _import_ray()
    cls = _EXECUTORS[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"the {name} executor takes no option {', '.join(unknown)}; "
                          f"it takes: {', '.join(accepted)}")
    executor: Executor = cls(**options)
    return executor
