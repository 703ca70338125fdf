"""Shared plumbing of the learning benchmarks: run train.py, read back what it wrote, tabulate.

Each family script (``swarming_learning.py``, ``donor_learning.py``, ``routing_learning.py``)
lists its conditions as :class:`Condition` objects (a config file plus ``key=value``
overrides) and hands them to :func:`run_conditions`, which trains them one after another
(one process at a time, ``torch_threads=1``: the benchmarks share small machines) over the
requested seeds, and summarises every run from its ``eval.json`` and ``metrics.jsonl``:

- ``final``: the greedy evaluation of the last policy (mean over its episodes),
- ``best``: marl-eval's absolute metric, the best policy evaluated over more episodes,
- ``train``: the env metrics of the sampling policy over the last updates.

Scripted references go through :func:`scripted_reference`, which plays an acting function
with the same evaluator the trainer uses, so learned and scripted figures are comparable.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluation import evaluate

ROOT = Path(__file__).resolve().parent.parent
#: updates at the end of training whose env metrics are averaged into ``train``
TRAIN_WINDOW = 10


@dataclass
class Condition:
    """One trained setting: a config file and the overrides that make it this condition."""

    label: str
    config: str
    overrides: list[str] = field(default_factory=list)


def run_command(condition: Condition, seed: int, run_name: str, log_dir: str) -> list[str]:
    """The train.py command line of one run (quiet: no progress bar, no TensorBoard)."""
    return [
        sys.executable,
        str(ROOT / "train.py"),
        "--config",
        str(ROOT / condition.config),
        *condition.overrides,
        f"seed={seed}",
        f"run_name={run_name}",
        f"log.dir={log_dir}",
        "log.progress=false",
        "log.tensorboard=false",
        "torch_threads=1",
    ]


def summarise_run(run_dir: str | Path, window: int = TRAIN_WINDOW) -> dict[str, Any]:
    """Final greedy, best-policy and end-of-training env metrics of a finished run directory."""
    run_dir = Path(run_dir)
    with open(run_dir / "eval.json") as f:
        log = json.load(f)
    (entry,) = [
        seeds
        for family in log.values()
        for task in family.values()
        for algo in task.values()
        for seeds in algo.values()
    ]
    steps = sorted((k for k in entry if k.startswith("step_")), key=lambda k: int(k.split("_")[1]))
    final = entry[steps[-1]] if steps else {}
    summary: dict[str, Any] = {
        "env_steps": int(final.get("step_count", 0)),
        "final": {k: float(np.mean(v)) for k, v in final.items() if k != "step_count"},
        "best": {k: float(np.mean(v)) for k, v in entry.get("absolute_metrics", {}).items()},
        "curve": [
            {
                "env_steps": int(entry[k]["step_count"]),
                **{m: float(np.mean(v)) for m, v in entry[k].items() if m != "step_count"},
            }
            for k in steps
        ],
    }
    rows = [
        json.loads(line)
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        if line.strip()
    ]
    with_env = [r for r in rows if any(k.startswith("env/") for k in r)][-window:]
    keys = sorted(
        {k for r in with_env for k in r if k.startswith("env/") or k == "charts/episodic_return"}
    )
    summary["train"] = {
        k.split("/", 1)[1]: float(np.mean([r[k] for r in with_env if k in r])) for k in keys
    }
    sps = [r["charts/SPS"] for r in rows if "charts/SPS" in r]
    summary["sps"] = float(sps[-1]) if sps else float("nan")
    return summary


def run_conditions(
    conditions: Sequence[Condition],
    seeds: Sequence[int],
    log_dir: str,
    extra: Sequence[str] = (),
    tag: str = "learn",
) -> list[dict[str, Any]]:
    """Train every condition over every seed, one process at a time; one summary per run.

    Runs are named ``<tag>__<label>__seed<seed>__<start time>`` under ``log_dir`` (the
    summary's ``run_dir``), so a benchmark never collides with an earlier one.

    ``extra`` overrides are appended to every run (e.g. ``total_env_steps=...`` for a quick
    look). A run that fails is reported with its exit code and the tail of its output
    instead of a summary, and the others still run.
    """
    results = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for condition in conditions:
        for seed in seeds:
            name = f"{tag}__{condition.label}__seed{seed}__{stamp}"
            cond = Condition(condition.label, condition.config, [*condition.overrides, *extra])
            command = run_command(cond, seed, name, log_dir)
            shown = "python " + " ".join(shlex.quote(a) for a in command[1:]).replace(
                str(ROOT) + "/", ""
            )
            print(f"[{condition.label} seed {seed}] {shown}", file=sys.stderr, flush=True)
            tick = time.perf_counter()
            proc = subprocess.run(
                command,
                check=False,
                cwd=ROOT,
                capture_output=True,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
            )
            record: dict[str, Any] = {
                "label": condition.label,
                "seed": seed,
                "command": shown,
                "run_dir": str(Path(log_dir) / name),
                "wall_s": round(time.perf_counter() - tick, 1),
            }
            if proc.returncode != 0:
                record["error"] = f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-800:]}"
                print(f"  failed: {record['error']}", file=sys.stderr, flush=True)
            else:
                record.update(summarise_run(Path(log_dir) / name))
            results.append(record)
    return results


def scripted_reference(
    act: Callable[[np.ndarray, Any], np.ndarray],
    make_env: Callable[[int], Any],
    episodes: int,
    seed: int = 12345,
) -> dict[str, float]:
    """Mean episode metrics of a scripted policy, played by the trainer's own evaluator.

    ``act(obs, env)`` returns joint actions; the env is passed so that rules reading the
    core's exact state (like the Vicsek rule) can be used.
    """
    holder: dict[str, Any] = {}

    def build(copies: int):
        holder["env"] = make_env(copies)
        return holder["env"]

    def act_fn(obs, mask, state, hidden):
        return act(obs, holder["env"]), hidden

    results = evaluate(act_fn, build, episodes, seed)
    return {k: float(np.mean(v)) for k, v in results.items()}


def metric(record: dict[str, Any], where: str, name: str) -> float:
    """One figure of a run summary (``nan`` for a failed run or a missing metric)."""
    return float(record.get(where, {}).get(name, float("nan")))


def aggregate(
    records: Sequence[dict[str, Any]], label: str, where: str, name: str
) -> tuple[float, float, int]:
    """Mean, standard deviation and count of a metric over the seeds of one condition."""
    values = [metric(r, where, name) for r in records if r["label"] == label]
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return float("nan"), float("nan"), 0
    return float(np.mean(values)), float(np.std(values)), len(values)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats printed with 3 decimals."""

    def cell(x: Any) -> str:
        return f"{x:.3f}" if isinstance(x, float) else str(x)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def save_results(family: str, name: str, payload: dict[str, Any], table: str) -> Path:
    """Write ``benchmarks/results/<family>/<name>.json`` and ``.md``; returns the folder."""
    folder = ROOT / "benchmarks" / "results" / family
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    (folder / f"{name}.md").write_text(table + "\n")
    return folder
