"""EPyMARL's Level-Based Foraging table with marlgym's learners, beside the paper's figures.

    python -m benchmarks.lbf_table                                    # every cell (days on 2 cores)
    python -m benchmarks.lbf_table --tasks 8x8-2p-2f-coop --algos qmix --seeds 0   # one cell
    python -m benchmarks.lbf_table --settings ours --algos ippo       # marlgym's defaults
    python -m benchmarks.lbf_table --env-steps 20000 --tasks 8x8-2p-2f-coop --algos ippo --seeds 0
    python -m benchmarks.lbf_table --summary-only                     # re-tabulate the run dirs

The cells are tasks x learners x seeds of ``benchmarks/lbf_table.yaml`` (EPyMARL's task names,
its evaluation protocol and budgets), run as a grid (:mod:`benchmarks.grid`) through the
launchers (``--launcher process|ray|serial``, ``--jobs``). ``--settings epymarl`` (default)
runs each learner with EPyMARL's hyperparameters, ``configs/epymarl/<algo>.yaml`` (each file
cites its source and lists what does not map); ``--settings ours`` with marlgym's defaults;
both under the same protocol. ``--env-steps`` lowers the budget (never above EPyMARL's).
After each run the worker evaluates the final policy on fresh episodes, greedily and, for the
learners EPyMARL evaluates by sampling their policy (IPPO, MAPPO, MADDPG), also sampled
(:func:`evaluate_final`). A finished run is not trained again.

Written to ``--out``: ``summary.json`` (one row per task, learner and settings, updated in
place so cells run apart accumulate; a row holds each seed's ``max_return`` (the best periodic
evaluation of the run: greedy for IQL/VDN/QMIX, sampled for IPPO/MAPPO/MADDPG, as EPyMARL plays), ``final_return`` (the last one, the final policy) and ``env_steps``,
and the cell's figure in EPyMARL's metric: the evaluation step with the highest mean over
seeds, that mean) and ``summary.md`` (the same beside the published figure, with the
difference; cells without a run read "not yet run").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from algorithms.runs.files import write_text_atomic
from benchmarks.grid import add_launcher_arguments, grid_from_dict, launcher_from_args, run_grid
from benchmarks.run_dirs import eval_entry, eval_steps, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
GRID_FILE = os.path.join(HERE, "lbf_table.yaml")
SETTINGS_DIR = os.path.join(os.path.dirname(HERE), "configs", "epymarl")
SETTINGS = ("epymarl", "ours")
#: written by :func:`evaluate_final` into each run directory
FINAL_FILE = "lbf_final.json"
#: learners whose evaluation EPyMARL samples from the policy (its soft_policies selector and
#: MADDPG's gumbel_softmax ignore test_mode); its value learners evaluate with epsilon 0
SAMPLED_IN_EPYMARL = ("ippo", "mappo", "maddpg")


@dataclass(frozen=True)
class RunRef:
    """One finished run of the table: which cell and seed, and its run directory."""

    task: str
    algo: str
    settings: str
    seed: int
    run_dir: str
    budget: int | None = None


# ---------------------------------------------------------------------- the table's file
def load_table(path: str = GRID_FILE) -> dict[str, Any]:
    """``lbf_table.yaml``, checked: every published figure names its table and page."""
    with open(path) as f:
        data = yaml.safe_load(f)
    for key in ("tasks", "algorithms", "protocol", "published"):
        if key not in data:
            raise ValueError(f"{path}: '{key}' is required")
    for task, algos in (data["published"].get("figures") or {}).items():
        if task not in data["tasks"]:
            raise ValueError(f"{path}: published figure for unknown task {task!r}")
        for algo, entry in algos.items():
            if entry.get("value") is not None and not (entry.get("table") and entry.get("page")):
                raise ValueError(f"{path}: published {task}/{algo} needs 'table' and 'page'")
    return data


def published_figure(table: dict[str, Any], task: str, algo: str) -> dict[str, Any]:
    """The paper's figure for a cell with its citation, or ``{"value": None, "note": "not found"}``."""
    entry = (table["published"].get("figures") or {}).get(task, {}).get(algo)
    if not entry or entry.get("value") is None:
        return {"value": None, "note": "not found"}
    return {"source": table["published"].get("source"), **entry}


def settings_overrides(algo: str, settings: str) -> dict[str, Any]:
    """The train.py keys ``settings`` sets for ``algo`` (flat, dotted): EPyMARL's file or none."""
    if settings == "ours":
        return {}
    path = os.path.join(SETTINGS_DIR, f"{algo}.yaml")
    if not os.path.isfile(path):
        raise ValueError(f"no EPyMARL settings for {algo} ({path} is missing)")
    with open(path) as f:
        return flatten(yaml.safe_load(f) or {})


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}} -> {"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def label(algo: str, settings: str) -> str:
    """The grid's algorithm label of a learner under a settings choice (``qmix-epymarl``)."""
    return f"{algo}-{settings}"


def grid_data(
    table: dict[str, Any],
    tasks: Sequence[str],
    algos: Sequence[str],
    seeds: Sequence[int],
    settings: Sequence[str],
    env_steps: int | None = None,
    eval_episodes: int = 100,
) -> dict[str, Any]:
    """The :mod:`benchmarks.grid` mapping of the chosen cells.

    Raises:
        ValueError: a budget above EPyMARL's for a chosen learner.
    """
    entries = []
    for algo in algos:
        spec = table["algorithms"][algo]
        budget = int(spec["budget"])
        steps = budget if env_steps is None else env_steps
        if steps > budget:
            raise ValueError(
                f"--env-steps {steps} exceeds EPyMARL's budget for {algo} ({budget} env steps)"
            )
        for choice in settings:
            overrides = {
                **(spec.get("run") or {}),
                **settings_overrides(algo, choice),
                "total_env_steps": steps,
            }
            entries.append({"name": algo, "label": label(algo, choice), "overrides": overrides})
    return {
        "name": table.get("name", "lbf_table"),
        "seeds": list(seeds),
        "overrides": dict(table["protocol"]),
        "envs": [{"id": table["tasks"][t], "label": t} for t in tasks],
        "algorithms": entries,
        "post_run": {
            "function": "benchmarks.lbf_table:evaluate_final",
            "kwargs": {"episodes": eval_episodes},
        },
        "runs_dir": table.get("runs_dir"),
        "out": table.get("out"),
    }


# ---------------------------------------------------------------------- the worker's hook
def evaluate_final(run_dir: str, episodes: int = 100) -> dict[str, Any]:
    """A ``post_run`` hook: the final policy's greedy return over ``episodes`` fresh episodes
    and, for :data:`SAMPLED_IN_EPYMARL`, its return acting by sampling; written to
    :data:`FINAL_FILE`."""
    from benchmarks.run_dirs import greedy_return, load_learner

    learner, cfg = load_learner(run_dir)
    needs_state = learner.act_needs_state
    figures: dict[str, Any] = {"episodes": episodes, "env_steps": learner.env_steps}
    greedy = greedy_return(learner.act, cfg, episodes, needs_state)
    figures["greedy_return"] = float(np.mean(greedy["return"]))
    if cfg.algo.name in SAMPLED_IN_EPYMARL:

        def sampled(obs, mask, state, hidden):
            return learner.act(obs, mask, state, hidden, greedy=False)

        figures["sampled_return"] = float(
            np.mean(greedy_return(sampled, cfg, episodes, needs_state)["return"])
        )
    write_json(os.path.join(run_dir, FINAL_FILE), figures)
    return figures


# ---------------------------------------------------------------------- the summary
def seed_record(ref: RunRef) -> dict[str, Any]:
    """One seed's figures from its run directory's eval.json (and :data:`FINAL_FILE` if there)."""
    points = [p for p in eval_steps(eval_entry(ref.run_dir)) if p["step_count"] > 0]
    if not points:
        raise ValueError(f"{ref.run_dir}/eval.json has no evaluation after training started")
    curve = [(int(p["step_count"]), float(np.mean(p["return"]))) for p in points]
    record: dict[str, Any] = {
        "seed": ref.seed,
        "max_return": max(r for _, r in curve),
        "final_return": curve[-1][1],
        "env_steps": curve[-1][0],
        "curve": [{"env_steps": s, "return": r} for s, r in curve],
        "run_dir": os.path.relpath(ref.run_dir),
    }
    final = os.path.join(ref.run_dir, FINAL_FILE)
    if os.path.isfile(final):
        with open(final) as f:
            extra = json.load(f)
        record["final_fresh_greedy_return"] = extra.get("greedy_return")
        if "sampled_return" in extra:
            record["final_fresh_sampled_return"] = extra["sampled_return"]
    return record


def epymarl_metric(seeds: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """EPyMARL's maximum return: the evaluation step (among those every seed has) with the
    highest mean return over seeds, that mean and its step; None if the seeds share none."""
    by_step = [{p["env_steps"]: p["return"] for p in s["curve"]} for s in seeds]
    common = sorted(set.intersection(*(set(c) for c in by_step))) if by_step else []
    if not common:
        return None
    means = [(float(np.mean([c[step] for c in by_step])), step) for step in common]
    best, step = max(means, key=lambda m: (m[0], -m[1]))
    return {"value": best, "env_steps": step}


def build_rows(refs: Sequence[RunRef], table: dict[str, Any]) -> list[dict[str, Any]]:
    """Summary rows ``{task, algo, settings, published, seeds, ...}``, one per (task, algo, settings)."""
    cells: dict[tuple[str, str, str], list[RunRef]] = {}
    for ref in refs:
        cells.setdefault((ref.task, ref.algo, ref.settings), []).append(ref)
    rows = []
    for (task, algo, settings), members in cells.items():
        seeds = [seed_record(r) for r in sorted(members, key=lambda r: r.seed)]
        metric = epymarl_metric(seeds)
        published = published_figure(table, task, algo)
        finals = [s["final_return"] for s in seeds]
        difference = None
        if metric is not None and published["value"] is not None:
            difference = metric["value"] - float(published["value"])
        rows.append(
            {
                "task": task,
                "algo": algo,
                "settings": settings,
                "env_id": table["tasks"][task],
                "budget": members[0].budget,
                "published": published,
                "epymarl_max_return": metric,
                "mean_final_return": float(np.mean(finals)),
                "difference": difference,
                "seeds": seeds,
            }
        )
    return rows


def merge_rows(old: Sequence[dict], new: Sequence[dict]) -> list[dict]:
    """``old`` with the rows of the same (task, algo, settings) replaced by ``new``'s."""
    key = lambda r: (r["task"], r["algo"], r["settings"])  # noqa: E731
    fresh = {key(r): r for r in new}
    kept = [r for r in old if key(r) not in fresh]
    return sorted([*kept, *new], key=key)


def seed_mean(seeds: Sequence[dict], key: str) -> float | None:
    """The mean of ``key`` over the seeds that have it (None if none has)."""
    values = [s[key] for s in seeds if key in s]
    return float(np.mean(values)) if values else None


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown(
    rows: Sequence[dict],
    table: dict[str, Any],
    settings: Sequence[str],
    tasks: Sequence[str] | None = None,
    algos: Sequence[str] | None = None,
) -> str:
    """The table beside the published figures: every cell of ``tasks`` x ``algos`` (default:
    the table file's), run or not."""
    lines = [
        "| task | algo | settings | seeds | env steps | EPyMARL metric (max over evals of the "
        "seed mean) | final evaluation (the curve's last, mean) | final greedy, fresh "
        "(mean) | final sampled, fresh (mean) | published | difference |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    have = {(r["task"], r["algo"], r["settings"]): r for r in rows}
    for task in tasks or table["tasks"]:
        for algo in algos or table["algorithms"]:
            for choice in settings:
                pub = published_figure(table, task, algo)
                shown = "not found" if pub["value"] is None else f"{pub['value']:.2f}"
                row = have.get((task, algo, choice))
                if row is None:
                    cells = ["not yet run", "", "", "", "", "", ""]
                else:
                    metric = row["epymarl_max_return"]
                    cells = [
                        str(len(row["seeds"])),
                        f"{max(s['env_steps'] for s in row['seeds']):,}",
                        fmt(metric and metric["value"]),
                        fmt(row["mean_final_return"]),
                        fmt(seed_mean(row["seeds"], "final_fresh_greedy_return")),
                        fmt(seed_mean(row["seeds"], "final_fresh_sampled_return")),
                        fmt(row["difference"]),
                    ]
                *front, diff = cells
                lines.append(
                    f"| {task} | {algo} | {choice} | "
                    + " | ".join(front)
                    + f" | {shown} | {diff} |"
                )
    return "\n".join(lines) + "\n"


def read_rows(out: str) -> list[dict]:
    """The rows of ``out/summary.json`` (none if it does not exist)."""
    path = os.path.join(out, "summary.json")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return json.load(f)


def shown_settings(rows: Sequence[dict], settings: Sequence[str]) -> list[str]:
    """The settings choices a table shows: those asked for and those any row ran with, in
    :data:`SETTINGS` order (so a call with ``--settings ours`` keeps the EPyMARL rows in view)."""
    present = set(settings) | {r["settings"] for r in rows}
    return [s for s in SETTINGS if s in present]


def write_summary(out: str, rows: Sequence[dict], table: dict, settings: Sequence[str]) -> list:
    """Merge ``rows`` into ``out/summary.json`` and rewrite ``out/summary.md`` (every settings
    choice with a row, and ``settings``); the merged rows."""
    merged = merge_rows(read_rows(out), rows)
    write_json(os.path.join(out, "summary.json"), merged)
    text = markdown(merged, table, shown_settings(merged, settings))
    write_text_atomic(os.path.join(out, "summary.md"), text)
    return merged


# ---------------------------------------------------------------------- command line
def choose(
    parser: argparse.ArgumentParser, given: list[str] | None, valid: Sequence[str], what: str
):
    """``given`` (default: all of ``valid``), refusing an unknown one with the valid choices."""
    chosen = list(given or valid)
    unknown = [x for x in chosen if x not in valid]
    if unknown:
        parser.error(f"unknown {what} {', '.join(unknown)}; valid: {', '.join(valid)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--table", default=GRID_FILE, help="the table file (default: %(default)s)")
    parser.add_argument("--tasks", nargs="+", help="EPyMARL task names (default: all)")
    parser.add_argument("--algos", nargs="+", help="learners (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds (default: the file's)")
    parser.add_argument("--settings", nargs="+", default=["epymarl"], help="epymarl and/or ours")
    parser.add_argument("--env-steps", type=int, help="env steps per run (at most EPyMARL's)")
    parser.add_argument("--eval-episodes", type=int, default=100, help="final-policy episodes")
    parser.add_argument("--summary-only", action="store_true", help="tabulate, train nothing")
    parser.add_argument("--out", help="output directory (default: the file's out)")
    parser.add_argument("--runs-dir", help="where run directories go (default: the file's)")
    add_launcher_arguments(parser, jobs=1)
    args = parser.parse_args(argv)
    try:
        table = load_table(args.table)
    except (OSError, ValueError) as err:
        parser.error(str(err))
    tasks = choose(parser, args.tasks, list(table["tasks"]), "task")
    algos = choose(parser, args.algos, list(table["algorithms"]), "algorithm")
    settings = choose(parser, args.settings, SETTINGS, "settings")
    seeds = args.seeds or list(range(int(table.get("seeds", 5))))
    try:
        data = grid_data(table, tasks, algos, seeds, settings, args.env_steps, args.eval_episodes)
        for key in ("out", "runs_dir"):
            if getattr(args, key):
                data[key] = getattr(args, key)
        grid = grid_from_dict(data, source=args.table)
    except (OSError, ValueError, TypeError) as err:
        parser.error(str(err))
    launcher = None if args.summary_only else launcher_from_args(args)
    rows = run_grid(grid, launcher, accumulate=True)  # cells run apart share runs.json
    refs = [
        RunRef(
            r.cell.env.label,
            r.cell.algo.name,
            r.cell.algo.label.rsplit("-", 1)[1],
            r.cell.seed,
            r.cell.spec.run_dir,
            args.env_steps or int(table["algorithms"][r.cell.algo.name]["budget"]),
        )
        for r in rows
        if r.record.done
    ]
    write_summary(grid.out, build_rows(refs, table), table, settings)
    merged = read_rows(grid.out)
    print(markdown(merged, table, settings, tasks, algos))
    failed = [r for r in rows if r.record.status == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
