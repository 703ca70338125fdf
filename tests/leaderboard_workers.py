"""Worker targets for the process-pool tests: a light module, quick to import in a spawned worker."""

import os

from benchmarks.launchers import RunRecord, RunSpec


def die_or_finish(spec: RunSpec) -> RunRecord:
    """Kill the worker process for the run named 'die'; report the others finished."""
    if spec.name == "die":
        os._exit(3)
    return RunRecord(spec.name, "finished")


def drive_grid(specs: list[RunSpec], jobs: int) -> None:
    """A leaderboard driver: run ``specs`` in a process pool (the test kill -9s this process)."""
    from benchmarks.launchers import ProcessPoolLauncher

    ProcessPoolLauncher(jobs).run(specs, lambda record: None)
