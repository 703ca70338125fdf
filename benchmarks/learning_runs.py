"""Shared plumbing of the learning benchmarks: run a grid through the launchers, summarise each run.

Each family script (``swarming_learning.py``, ``donor_learning.py``, ``routing_learning.py``)
describes its conditions as a grid file (:mod:`benchmarks.grid`: ``benchmarks/<script>.yaml``)
and hands it to :func:`run_learning_grid`, which runs the unfinished runs through the
launchers (a process pool by default, ``--jobs`` at once, ``torch_threads=1``; or Ray) and
summarises every run from its ``eval.json`` and ``metrics.jsonl``:

- ``final``: the greedy evaluation of the last policy (mean over its episodes),
- ``best``: marl-eval's absolute metric, the best policy evaluated over more episodes,
- ``train``: the env metrics of the sampling policy over the last updates.

Scripted references go through :func:`scripted_reference`, which plays an acting function
with the same evaluator the trainer uses, so learned and scripted figures are comparable.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from algorithms.runs.evaluation import evaluate
from benchmarks.grid import (
    Cell,
    Grid,
    add_launcher_arguments,
    grid_from_dict,
    launcher_from_args,
    run_grid,
)
from benchmarks.run_dirs import eval_entry, eval_steps, metrics_rows

ROOT = Path(__file__).resolve().parent.parent
#: updates at the end of training whose env metrics are averaged into ``train``
TRAIN_WINDOW = 10


def add_learning_arguments(parser: argparse.ArgumentParser, grid_file: str) -> None:
    """The options every learning benchmark shares: its grid file, seeds, extra overrides,
    where runs go and the launcher."""
    parser.add_argument(
        "--grid", default=str(ROOT / "benchmarks" / grid_file), help="grid file (%(default)s)"
    )
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds (default: the grid's)")
    parser.add_argument(
        "--extra",
        nargs="*",
        default=[],
        metavar="key=value",
        help="train.py overrides added to every run (applied last)",
    )
    parser.add_argument("--log-dir", help="where run directories go (default: the grid's)")
    add_launcher_arguments(parser)


def load_learning_grid(args: argparse.Namespace, **replace: Any) -> Grid:
    """The grid file of ``args.grid`` with ``replace``'s keys (e.g. ``algorithms``) and the
    shared options applied."""
    with open(args.grid) as f:
        data = {**(yaml.safe_load(f) or {}), **replace}
    if args.seeds:
        data["seeds"] = list(args.seeds)
    if args.log_dir:
        data["runs_dir"] = data["out"] = args.log_dir
    data.setdefault("out", data.get("runs_dir"))  # runs.json goes beside the runs
    return grid_from_dict(data, source=args.grid, last_overrides=args.extra)


def summarise_run(run_dir: str | Path, window: int = TRAIN_WINDOW) -> dict[str, Any]:
    """Final greedy, best-policy and end-of-training env metrics of a finished run directory."""
    entry = eval_entry(str(run_dir))
    steps = eval_steps(entry)
    final = steps[-1] if steps else {}
    summary: dict[str, Any] = {
        "env_steps": int(final.get("step_count", 0)),
        "final": {k: float(np.mean(v)) for k, v in final.items() if k != "step_count"},
        "best": {k: float(np.mean(v)) for k, v in entry.get("absolute_metrics", {}).items()},
        "curve": [
            {
                "env_steps": int(point["step_count"]),
                **{m: float(np.mean(v)) for m, v in point.items() if m != "step_count"},
            }
            for point in steps
        ],
    }
    rows = metrics_rows(str(run_dir))
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


def run_learning_grid(
    grid: Grid,
    args: argparse.Namespace,
    label: Callable[[Cell], str],
    select: Callable[[Cell], bool] | None = None,
) -> list[dict[str, Any]]:
    """Run the grid's unfinished runs with the launcher ``args`` names; one summary per run.

    A record holds the condition's ``label(cell)``, the seed, the run directory, its train.py
    config file and overrides, the wall-clock time and :func:`summarise_run`'s figures; a run
    that failed holds its ``error`` instead, and the others still run.
    """
    records = []
    for row in run_grid(grid, launcher_from_args(args), select=select):
        spec = row.cell.spec
        record: dict[str, Any] = {
            "label": label(row.cell),
            "seed": row.cell.seed,
            "config": spec.config_file,
            "overrides": [o for o in spec.overrides if not o.startswith(("log.", "run_name="))],
            "run_dir": spec.run_dir,
            "wall_s": round(row.record.seconds, 1),
        }
        if row.record.done:
            record.update(summarise_run(spec.run_dir))
        else:
            record["error"] = f"{row.record.status}: {row.record.error[-800:]}"
        records.append(record)
    return records


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


def print_or_save(
    args: argparse.Namespace,
    family: str,
    title: str,
    table: str,
    payload: dict[str, Any],
    shown: str,
) -> None:
    """Print the table; with ``--save`` write the results files, else print each run's
    ``shown`` figures (or its error) as JSON."""
    print(table)
    if args.save:
        folder = save_results(family, args.name, payload, f"# {title}\n\n{table}")
        print(f"saved to {folder}")
    else:
        runs = payload["runs"]
        print(
            json.dumps(
                {f"{r['label']}/seed{r['seed']}": r.get(shown, r.get("error")) for r in runs}
            )
        )
