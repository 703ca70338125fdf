"""Worker targets for the process-pool tests: a light module, quick to import in a spawned worker."""

import json
import os

from benchmarks.launchers import RunRecord, RunSpec


def die_or_finish(spec: RunSpec) -> RunRecord:
    """Kill the worker process for the run named 'die'; report the others finished."""
    if spec.name == "die":
        os._exit(3)
    return RunRecord(spec.name, "finished")


def note_steps(run_dir: str, tag: str) -> None:
    """A post_run hook: write note.json into the finished run's directory."""
    with open(os.path.join(run_dir, "note.json"), "w") as f:
        json.dump({"tag": tag, "eval": os.path.isfile(os.path.join(run_dir, "eval.json"))}, f)


def drive_grid(specs: list[RunSpec], jobs: int) -> None:
    """A leaderboard driver: run ``specs`` in a process pool (the test kill -9s this process)."""
    from benchmarks.launchers import ProcessPoolLauncher

    ProcessPoolLauncher(jobs).run(specs, lambda record: None)
