"""What a finished train.py run directory holds, read back for a benchmark's analysis.

A run directory (``python train.py`` or a grid run of :mod:`benchmarks.grid`) holds
``config.yaml`` (the resolved config), ``eval.json`` (greedy evaluations, marl-eval layout),
``metrics.jsonl`` (one line per update) and ``checkpoints/``. :func:`load_learner` rebuilds
the trained learner from the latest checkpoint with train.py's public functions, for
evaluations that need it; :func:`evaluate_final` is a grid ``post_run`` hook that evaluates
the final policy greedily and writes :data:`FINAL_FILE`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from algorithms.runs.files import atomic_path

#: written by :func:`evaluate_final` into the run directory
FINAL_FILE = "final_eval.json"
#: the seed of a final evaluation's first episode is this plus the run's seed (episode k: + k)
FINAL_SEED = 10_000


def write_json(path: str, data: Any, indent: int | None = 1) -> None:
    """Write ``data`` as JSON atomically (its folder created); ``indent=None`` writes it compactly."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=indent, separators=None if indent else (",", ":"))
        f.write("\n")


def read_json(run_dir: str, name: str) -> Any:
    with open(os.path.join(run_dir, name)) as f:
        return json.load(f)


def eval_entry(run_dir: str) -> dict:
    """The one run entry (``{"step_0": ..., "absolute_metrics": ...}``) of a run's eval.json."""
    data = read_json(run_dir, "eval.json")
    leaves = [
        seeds
        for tasks in data.values()
        for algos in tasks.values()
        for runs in algos.values()
        for seeds in runs.values()
    ]
    if len(leaves) != 1:
        raise ValueError(f"{run_dir}/eval.json holds {len(leaves)} runs, expected 1")
    return leaves[0]


def eval_steps(entry: dict) -> list[dict]:
    """The evaluation points of an :func:`eval_entry`, by env steps."""
    return sorted(
        (v for k, v in entry.items() if k.startswith("step_")), key=lambda v: v["step_count"]
    )


def metrics_rows(run_dir: str) -> list[dict[str, Any]]:
    """The lines of a run's metrics.jsonl (one per update)."""
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def load_learner(run_dir: str):
    """The learner of ``run_dir`` restored from its latest checkpoint, and its config."""
    import train

    cfg = train.load_config(os.path.join(run_dir, "config.yaml"))
    _, learner = train.build(cfg)
    learner.load_state_dict(train.load_checkpoint(train.latest_checkpoint(run_dir), cfg)["learner"])
    return learner, cfg


def greedy_return(act, cfg, episodes: int, needs_state: bool) -> dict[str, list[float]]:
    """:func:`algorithms.runs.evaluation.evaluate` of ``act`` on the run's env, on the final-evaluation seeds."""
    import train
    from algorithms.runs.evaluation import evaluate

    return evaluate(
        act,
        lambda b: train.make_env(cfg, b),
        episodes,
        FINAL_SEED + cfg.seed,
        needs_state=needs_state,
    )


def evaluate_final(run_dir: str, episodes: int = 100) -> dict[str, Any]:
    """A ``post_run`` hook: the final policy's greedy return over ``episodes`` episodes (seeded
    ``FINAL_SEED + seed + k``), written to :data:`FINAL_FILE` with the run's env steps."""
    learner, cfg = load_learner(run_dir)
    results = greedy_return(learner.act, cfg, episodes, learner.act_needs_state)
    figures = {
        "episodes": episodes,
        "env_steps": learner.env_steps,
        "greedy_return": float(np.mean(results["return"])),
        "gradient_updates": getattr(learner, "gradient_updates", None),
    }
    write_json(os.path.join(run_dir, FINAL_FILE), figures)
    return figures
