"""Where the leaderboard's training runs execute: a local process pool, Ray, or in process.

Every launcher runs the same function, :func:`execute`, on a :class:`RunSpec`: it builds the
config with train.py's own ``load_config`` (the YAML file and ``key=value`` overrides a
``python train.py`` call would take) and calls ``train.train``, so a benchmark's run is a
train.py run. A spec may name a :class:`PostRun` hook, called in the worker once the run has
finished (a benchmark's evaluations of the trained learner, written into the run directory).
``execute`` never raises: an error (a bad config, a crash, a NaN loss, a failing hook) comes
back as a :class:`RunRecord` with ``status="failed"`` and the error, and the grid goes on.

- :class:`ProcessPoolLauncher` (the default): ``concurrent.futures`` with ``spawn``ed worker
  processes. A run that kills its worker (a segfault, the OOM killer) breaks the pool; the
  runs caught in it are then retried one at a time, each in its own pool, so only the
  culprit is reported failed.
- :class:`RayLauncher`: each run is a Ray task (``num_cpus=1``) on a local Ray instance, or
  on a cluster with ``address`` (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``); the
  code is shipped to the cluster as the job's working directory. A worker on another host
  trains in a temporary directory and sends back the files at the top of the run directory
  (eval.json, config, metrics, policies, status, what a hook wrote; not the checkpoints nor
  the TensorBoard events) for the driver to write into the grid's run directory.
- :class:`SerialLauncher`: runs one after another in this process (debugging, tests).

A launcher calls ``on_result(record)`` in the driver as each run finishes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Protocol

from algorithms.runs.files import atomic_path

#: files a remote worker keeps to itself (the TensorBoard events; checkpoints/ is a folder)
UNSHIPPED_PREFIXES = ("events.out.tfevents",)
#: written into a run directory when the run finished; a re-run grid skips such runs
STATUS_FILE = "leaderboard_run.json"
DONE = ("finished", "solved")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class PostRun:
    """A function called in the worker after a run finished: ``function(run_dir, **kwargs)``.

    ``function`` is ``"module:name"`` (imported in the worker, so it needs no pickling). It
    may write files into the run directory; an exception fails the run (no status file is
    written, so running the grid again calls it again, after resuming the finished run).
    """

    function: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __call__(self, run_dir: str) -> None:
        module, _, name = self.function.partition(":")
        if not module or not name:
            raise ValueError(f"post_run function must be 'module:name', got {self.function!r}")
        getattr(import_module(module), name)(run_dir, **dict(self.kwargs))


@dataclass(frozen=True)
class RunSpec:
    """One training run of a grid: what train.py gets, and where the run directory goes."""

    name: str
    """The run directory name (unique in the grid; it carries a hash of the config)."""
    run_dir: str
    """Absolute path of the run directory on the driver's machine."""
    overrides: tuple[str, ...]
    """train.py ``key=value`` overrides, the run's env, algorithm, seed and run_name included."""
    config_file: str | None = None
    """A train.py YAML config file applied before the overrides."""
    config_hash: str = ""
    """Hash of everything above that changes what is trained."""
    imports: tuple[str, ...] = ()
    """Modules to import before training (they register a user's envs or learners)."""
    workdir: str = field(default_factory=os.getcwd)
    """The driver's working directory: put on ``sys.path`` for ``imports``, where it exists."""
    driver_host: str = field(default_factory=socket.gethostname)
    """The host whose file system holds ``run_dir``."""
    post_run: PostRun | None = None
    """Called with the run directory once the run finished."""


@dataclass
class RunRecord:
    """How a run ended: ``finished``, ``solved``, ``failed``, ``interrupted`` or ``skipped``."""

    name: str
    status: str
    error: str = ""
    env_steps: int = 0
    seconds: float = 0.0
    host: str = ""
    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        return self.status in DONE


def read_status(run_dir: str) -> dict | None:
    """The status file of a finished run, or None."""
    path = os.path.join(run_dir, STATUS_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def _write_json(path: str, data: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=1)


def execute(spec: RunSpec) -> RunRecord:
    """Train one run through train.py's own functions; every error becomes a failed record.

    A run directory left by an interrupted attempt is resumed from its latest checkpoint
    (train.py's ``--resume``), or started afresh when it has none.
    """
    start = time.perf_counter()
    host = socket.gethostname()
    remote = host != spec.driver_host
    run_dir = spec.run_dir
    overrides = list(spec.overrides)
    if (
        remote
    ):  # the driver's path may not exist here: train in a scratch directory, ship the files back
        scratch = tempfile.mkdtemp(prefix="marlgym-leaderboard-")
        run_dir = os.path.join(scratch, spec.name)
        overrides.append(f"log.dir={scratch}")
    record = RunRecord(spec.name, "failed", host=host)
    try:
        import envs
        import train

        envs.import_env_modules(spec.imports, spec.workdir)

        cfg = train.load_config(spec.config_file, overrides)
        resume = None
        if os.path.isdir(run_dir) and os.listdir(run_dir):
            try:
                train.latest_checkpoint(run_dir)
                resume = run_dir
            except train.CheckpointError:  # died before its first checkpoint: start again
                shutil.rmtree(run_dir)
        result = train.train(cfg, resume=resume)
        record.status, record.env_steps = result.status, result.env_steps
        if not record.done:
            record.error = result.message
        else:
            if spec.post_run is not None:
                record.status = "failed"  # until the hook returns
                spec.post_run(result.run_dir)
                record.status = result.status
            _write_json(
                os.path.join(run_dir, STATUS_FILE),
                {
                    "status": result.status,
                    "config_hash": spec.config_hash,
                    "env_steps": result.env_steps,
                    "eval_return": result.eval_return,
                    "seconds": round(time.perf_counter() - start, 2),
                },
            )
    except BaseException as err:  # noqa: BLE001 - a run's failure must not stop the grid
        if isinstance(err, KeyboardInterrupt):
            record.status = "interrupted"
        lines = traceback.format_exception(type(err), err, err.__traceback__)
        record.error = f"{type(err).__name__}: {err}\n" + "".join(lines[-6:])
    record.seconds = time.perf_counter() - start
    if remote and os.path.isdir(run_dir):
        for name in sorted(os.listdir(run_dir)):
            path = os.path.join(run_dir, name)
            if os.path.isfile(path) and not name.startswith(UNSHIPPED_PREFIXES):
                with open(path, "rb") as f:
                    record.files[name] = f.read()
        shutil.rmtree(os.path.dirname(run_dir), ignore_errors=True)
    return record


def materialise(record: RunRecord, spec: RunSpec) -> None:
    """Write the files a remote worker sent back into the run directory on this machine."""
    if not record.files:
        return
    os.makedirs(spec.run_dir, exist_ok=True)
    for name, data in record.files.items():
        with atomic_path(os.path.join(spec.run_dir, name)) as tmp, open(tmp, "wb") as f:
            f.write(data)
    record.files = {}


def _crashed(spec: RunSpec, err: BaseException) -> RunRecord:
    return RunRecord(spec.name, "failed", error=f"{type(err).__name__}: {err}")


class Launcher(Protocol):
    """Runs specs and reports each record to ``on_result`` as it finishes."""

    def run(self, specs: Sequence[RunSpec], on_result: Callable[[RunRecord], None]) -> None: ...


class SerialLauncher:
    """One run after another in this process (no isolation: for debugging and tests)."""

    def run(self, specs: Sequence[RunSpec], on_result: Callable[[RunRecord], None]) -> None:
        for spec in specs:
            on_result(execute(spec))


class ProcessPoolLauncher:
    """A local pool of ``jobs`` worker processes (``spawn``ed: no state inherited from the driver).

    A worker runs one run after another, so torch and the envs are imported once per worker;
    each run seeds everything it uses from its config, so what it learns does not depend on
    which worker ran it or after what (the Ray launcher reuses workers the same way).

    Args:
        jobs: runs at once (default: the CPU count). Each run uses ``torch_threads`` (1 by
            default) threads, so ``jobs`` = cores keeps the machine busy without oversubscribing.
        target: the function run on each spec in a worker (:func:`execute`; a module-level
            function, so that it pickles).
    """

    def __init__(self, jobs: int | None = None, target: Callable[[RunSpec], RunRecord] = execute):
        self.jobs = int(jobs or os.cpu_count() or 1)
        if self.jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.target = target

    def _pool(self, workers: int) -> futures.ProcessPoolExecutor:
        return futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
        )

    def run(self, specs: Sequence[RunSpec], on_result: Callable[[RunRecord], None]) -> None:
        remaining = list(specs)
        while remaining:
            suspects, remaining = self._run_batch(
                remaining, min(self.jobs, len(remaining)), on_result
            )
            for spec in suspects:  # one at a time, so a worker that dies again names its own run
                lost, _ = self._run_batch([spec], 1, on_result)
                for dead in lost:
                    on_result(
                        _crashed(
                            dead,
                            RuntimeError(
                                "the worker process died (killed, or crashed in native code)"
                            ),
                        )
                    )

    def _run_batch(
        self, specs: list[RunSpec], workers: int, on_result
    ) -> tuple[list[RunSpec], list[RunSpec]]:
        """Run ``specs``, at most ``workers`` at once (none waits queued in a worker).

        Returns the runs caught in a broken pool (in flight when a worker died) and those not
        started yet. Ctrl-C stops starting runs and waits for those in flight (train.py saves a
        checkpoint and stops them), then raises KeyboardInterrupt; a second Ctrl-C abandons them.
        """
        queue, in_flight, broken = list(specs), {}, []
        interrupted = False
        pool = self._pool(workers)
        try:
            while queue or in_flight:
                try:
                    while queue and len(in_flight) < workers and not interrupted:
                        spec = queue.pop(0)
                        in_flight[pool.submit(self.target, spec)] = spec
                    if not in_flight:
                        break
                    done, _ = futures.wait(in_flight, return_when=futures.FIRST_COMPLETED)
                except KeyboardInterrupt:
                    if interrupted:
                        raise
                    interrupted = True
                    print(
                        f"stopping: waiting for the {len(in_flight)} run(s) in progress to stop (Ctrl-C again "
                        "to abandon them; they resume from their last checkpoint)",
                        file=sys.stderr,
                    )
                    continue
                for future in done:
                    spec = in_flight.pop(future)
                    try:
                        record = future.result()
                    except futures.process.BrokenProcessPool:
                        broken.append(spec)
                        continue
                    except Exception as err:  # noqa: BLE001 - e.g. a record that cannot be unpickled
                        record = _crashed(spec, err)
                    on_result(record)
                if broken:  # a worker died: the pool is gone, and with it every run in flight
                    broken += in_flight.values()
                    break
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if interrupted:
            raise KeyboardInterrupt
        return broken, queue


def _ignore_interrupts() -> None:
    """Pool workers ignore Ctrl-C while idle (train.py handles it while a run trains), and
    die with the driver, however it dies: an orphan would go on training a run that the
    next attempt at the grid resumes (its lock refuses the second), then sit idle for good."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()


def _die_with_parent() -> None:
    """SIGKILL this process when its parent exits (Linux: prctl; elsewhere: a polling thread).

    The run it was training resumes from its last checkpoint when the grid is run again.
    """
    parent = multiprocessing.parent_process()
    parent_pid = parent.pid if parent is not None else os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        set_pdeathsig = libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux
        set_pdeathsig = False
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    if not set_pdeathsig:

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


class RayLauncher:
    """Each run as a Ray task: on a local Ray instance, or on the cluster at ``address``.

    Args:
        address: a Ray cluster address (None: start a local instance with ``jobs`` CPUs).
        jobs: CPUs of the local instance (default: the CPU count); ignored with ``address``.
        ship_code: with ``address``, send the repository to the cluster as the job's working
            directory (nodes need marlgym's dependencies installed, not marlgym itself).
    """

    def __init__(self, address: str | None = None, jobs: int | None = None, ship_code: bool = True):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "--launcher ray needs Ray: pip install -e '.[ray]' (plain ray core)"
            ) from None
        self.address = address
        self.jobs = int(jobs or os.cpu_count() or 1)
        self.ship_code = ship_code

    def _init(self) -> bool:
        """Connect to (or start) Ray unless already connected; True if this call did it."""
        import ray

        if ray.is_initialized():
            return False
        pythonpath = os.pathsep.join(
            p for p in (REPO_ROOT, os.getcwd(), os.environ.get("PYTHONPATH")) if p
        )
        if self.address:
            runtime_env = {}
            if self.ship_code:
                runtime_env["working_dir"] = REPO_ROOT
                runtime_env["excludes"] = [
                    ".venv",
                    "runs",
                    ".git",
                    "*.pt",
                    "*.gif",
                    "*.mp4",
                    "__pycache__",
                    ".hypothesis",
                    ".pytest_cache",
                    "benchmarks/results",
                ]
            ray.init(address=self.address, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(
                num_cpus=self.jobs,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
            )
        return True

    def run(self, specs: Sequence[RunSpec], on_result: Callable[[RunRecord], None]) -> None:
        import ray

        started = self._init()
        try:
            task = ray.remote(num_cpus=1, max_retries=0)(execute)
            pending = {task.remote(spec): spec for spec in specs}
            try:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    spec = pending.pop(ready[0])
                    try:
                        record = ray.get(ready[0])
                    except Exception as err:  # noqa: BLE001 - the task itself died (worker crash, node lost)
                        record = _crashed(spec, err)
                    on_result(record)
            except KeyboardInterrupt:
                for ref in pending:
                    ray.cancel(ref)
                raise
        finally:
            if started:
                ray.shutdown()


def make_launcher(name: str, jobs: int | None = None, address: str | None = None) -> Launcher:
    """``process`` (default), ``ray`` or ``serial``."""
    if address and name != "ray":
        raise ValueError("--address joins a Ray cluster: use it with --launcher ray")
    if name == "process":
        return ProcessPoolLauncher(jobs)
    if name == "ray":
        return RayLauncher(address, jobs)
    if name == "serial":
        return SerialLauncher()
    raise ValueError(f"--launcher must be one of process, ray, serial; got {name!r}")
