"""Worker targets for the process-pool tests: a light module, quick to import in a spawned worker."""

import os

from benchmarks.launchers import RunRecord, RunSpec


def die_or_finish(spec: RunSpec) -> RunRecord:
    """Kill the worker process for the run named 'die'; report the others finished."""
    if spec.name == "die":
        os._exit(3)
    return RunRecord(spec.name, "finished")
