"""Final greedy returns of IQL, VDN, QMIX and MF-Q on Level-Based Foraging, with env steps and wall-clock.

    python -m benchmarks.value_based                                   # the issue's grid, benchmarks/value_based.yaml (long)
    python -m benchmarks.value_based --env-steps 200000 --seeds 0 1 2 --jobs 2 --out benchmarks/results/value_based
    python -m benchmarks.value_based --merge a/results.json b/results.json   # tabulate runs made apart

The runs are a grid (:mod:`benchmarks.grid`; ``benchmarks/value_based.yaml`` by default) run
through the launchers (``--launcher process|ray|serial``, ``--jobs``) as train.py runs, each
learner with its config defaults (EPyMARL's; ``--set key=value`` changes one for every
learner that has the key). The command line's options replace the file's: ``--env-steps``,
``--num-envs``, ``--eval-every`` and ``--curve-episodes`` set train.py's ``total_env_steps``,
``env.num_envs``, ``eval.every_env_steps`` and ``eval.episodes``. After each run the worker
plays ``--eval-episodes`` greedy episodes of the final policy on fixed seeds
(:func:`benchmarks.run_dirs.evaluate_final`). Written to ``--out``: ``results.json`` (every
run, with its learning curve: train.py's periodic greedy evaluations) and ``results.md``
(mean and spread over seeds per env and learner). Random play earns about 0.004 on
Foraging-8x8-2p-2f-coop-v3. EPyMARL's published figures (Papoudakis et al. 2021), on their
metric and protocol, are the reference column of :mod:`benchmarks.lbf_table`, not of this table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields

import numpy as np
import yaml

from benchmarks.grid import (
    RunRow,
    benchmark_grid_data,
    benchmark_parser,
    launcher_from_args,
    load_or_exit,
    run_grid,
)
from benchmarks.run_dirs import FINAL_FILE, eval_entry, eval_steps, metrics_rows, read_json

GRID_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "value_based.yaml")
ALGOS = ("iql", "vdn", "qmix", "mfq")
#: no reference here: EPyMARL's figures are on another metric (benchmarks/lbf_table.py compares)
REFERENCE: dict[tuple[str, str], str] = {}


def parse_value(text: str):
    """``key=value`` values: bool, int, float or str."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def learner_keys(algo: str) -> set[str]:
    """The top-level config keys of a learner (``net`` for ``net.hidden_size``)."""
    from algorithms import get_algorithm

    return {f.name for f in fields(get_algorithm(algo)[0])}


def check_overrides(overrides: dict, algos: list[str], parser: argparse.ArgumentParser) -> None:
    """Refuse a --set key that none of the chosen learners has (it would be silently dropped)."""
    from envs.hints import closest_hint

    known = set().union(*(learner_keys(a) for a in algos))
    for key in overrides:
        if key.split(".")[0] not in known:
            parser.error(
                f"--set {key}: no chosen learner ({', '.join(algos)}) has this key{closest_hint(key, known)}"
            )


def algo_entries(algos: list[str], overrides: dict) -> list[dict]:
    """The grid's algorithm entries: each learner with the ``--set`` keys it has."""
    entries = []
    for algo in algos:
        known = learner_keys(algo)
        mine = {f"algo.{k}": v for k, v in overrides.items() if k.split(".")[0] in known}
        entries.append({"name": algo, "overrides": mine} if mine else algo)
    return entries


def grid_data(args: argparse.Namespace, overrides: dict) -> dict:
    """The grid file's mapping with the command line's replacements."""
    data = benchmark_grid_data(args)
    if args.algos or overrides:
        data["algorithms"] = algo_entries(args.algos or list(ALGOS), overrides)
    return data


def run_record(row: RunRow, overrides: dict) -> dict:
    """One finished run as results.json keeps it: figures and the learning curve."""
    run_dir = row.cell.spec.run_dir
    updates = [r for r in metrics_rows(run_dir) if "charts/SPS" in r]
    final = read_json(run_dir, FINAL_FILE)
    curve, start = [], 0
    for point in eval_steps(eval_entry(run_dir)):
        if point["step_count"] == 0:
            continue
        returns = [
            r["charts/episodic_return"]
            for r in updates
            if start < r["env_steps"] <= point["step_count"] and "charts/episodic_return" in r
        ]
        start = point["step_count"]
        curve.append(
            {
                "env_steps": point["step_count"],
                "greedy_return": float(np.mean(point["return"])),
                "train_return": float(np.mean(returns)) if returns else None,
            }
        )
    with open(os.path.join(run_dir, "config.yaml")) as f:
        num_envs = yaml.safe_load(f)["env"]["num_envs"]
    known = learner_keys(row.cell.algo.name)
    return {
        "env": row.cell.env.id,
        "algo": row.cell.algo.name,
        "seed": row.cell.seed,
        "num_envs": num_envs,
        "overrides": {k: v for k, v in overrides.items() if k.split(".")[0] in known},
        "env_steps": final["env_steps"],
        "gradient_updates": final["gradient_updates"],
        "train_seconds": updates[-1]["env_steps"] / updates[-1]["charts/SPS"],
        "sps": updates[-1]["charts/SPS"],
        "final_greedy_return": final["greedy_return"],
        "curve": curve,
        "run_dir": os.path.relpath(run_dir),
    }


def random_returns(env_ids: list[str], episodes: int = 200) -> str:
    """Markdown lines: the mean return of uniformly random valid actions on each env (the floor)."""
    import envs
    from algorithms.runs.evaluation import evaluate

    lines = []
    for env_id in env_ids:
        rng = np.random.default_rng(0)

        def act(obs, mask, state, hidden, rng=rng):
            return (rng.random(mask.shape) * mask).argmax(-1), hidden

        mean = np.mean(
            evaluate(act, lambda b, e=env_id: envs.make_vec(e, b), episodes, 10_000)["return"]
        )
        lines.append(f"- random valid actions on {env_id}: {mean:.3f} ({episodes} episodes)")
    return "\n".join(lines) + "\n"


def _setting(run: dict) -> str:
    """The overrides a run used, as text ("defaults" when none)."""
    return " ".join(f"{k}={v}" for k, v in sorted(run.get("overrides", {}).items())) or "defaults"


def _mean_std(values: list[float]) -> str:
    values = np.asarray(values, dtype=float)
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.3f} ± {std:.3f}"


def summarise(runs: list[dict]) -> str:
    """A markdown table per (env, algo, setting, env steps): the final greedy return over seeds (mean ± sample
    std, min..max), the best greedy evaluation (EPyMARL reports maximum returns), and the
    exploring (epsilon_finish) training return of the last curve point."""
    header = (
        "| env | algo | setting | seeds | final greedy return: mean ± std (min..max) | best greedy evaluation "
        "| training return (exploring) | env steps | wall-clock per run (s) | env steps/s | reference |"
    )
    lines = [header, "|" + "---|" * 11]
    keys = sorted(
        {(r["env"], r["algo"], _setting(r), r["env_steps"]) for r in runs},
        key=lambda k: (k[0], ALGOS.index(k[1]) if k[1] in ALGOS else 99, k[3], k[2]),
    )
    for env_id, algo, setting, steps in keys:
        group = [
            r
            for r in runs
            if (r["env"], r["algo"], _setting(r), r["env_steps"]) == (env_id, algo, setting, steps)
        ]
        finals = np.array([r["final_greedy_return"] for r in group])
        curves = [r.get("curve") or [] for r in group]
        best = (
            _mean_std(
                [
                    max([c["greedy_return"] for c in curve] + [r["final_greedy_return"]])
                    for r, curve in zip(group, curves)
                ]
            )
            if all(curves)
            else ""
        )
        trained = [
            curve[-1]["train_return"]
            for curve in curves
            if curve and curve[-1].get("train_return") is not None
        ]
        training = _mean_std(trained) if len(trained) == len(group) else ""
        seconds = np.mean([r["train_seconds"] for r in group])
        sps = np.mean([r["sps"] for r in group])
        lines.append(
            f"| {env_id} | {algo} | {setting} | {len(group)} | {_mean_std(finals)} "
            f"({finals.min():.3f}..{finals.max():.3f}) | {best} | {training} | {group[0]['env_steps']:,} "
            f"| {seconds:.0f} | {sps:,.0f} | {REFERENCE.get((env_id, algo), '')} |"
        )
    return "\n".join(lines) + "\n"


def main_parser() -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    parser = benchmark_parser(__doc__, GRID_FILE)
    parser.add_argument("--algos", nargs="+", choices=ALGOS, help="learners (replace the grid's)")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for every learner that has the key (e.g. epsilon_anneal_steps=100000)",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="RESULTS_JSON",
        help="train nothing: merge these results.json files into --out and tabulate them",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = main_parser()
    args = parser.parse_args(argv)
    if args.merge:
        out = args.out or "benchmarks/results/value_based"
        os.makedirs(out, exist_ok=True)
        runs = []
        for path in args.merge:
            with open(path) as f:
                runs.extend(json.load(f))
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(runs, f, indent=1)
        table = summarise(runs) + "\n" + random_returns(sorted({r["env"] for r in runs}))
        with open(os.path.join(out, "results.md"), "w") as f:
            f.write(f"{len(runs)} runs merged from {', '.join(args.merge)}\n\n{table}")
        print(table)
        return

    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set takes KEY=VALUE, got {item!r}")
        overrides[key.removeprefix("algo.")] = parse_value(value)
    check_overrides(overrides, args.algos or list(ALGOS), parser)
    grid = load_or_exit(parser, grid_data(args, overrides), args.grid)
    rows = run_grid(grid, launcher_from_args(args))
    runs = [run_record(r, overrides) for r in rows if r.record.done]
    failed = [r for r in rows if not r.record.done]
    with open(os.path.join(grid.out, "results.json"), "w") as f:
        json.dump(runs, f, indent=1)
    table = summarise(runs) + "\n" + random_returns([e.id for e in grid.envs])
    table += "".join(
        f"\n- {r.record.status.upper()}: {r.cell.spec.name}: {r.record.error.splitlines()[0]}"
        for r in failed
        if r.record.error
    )
    with open(os.path.join(grid.out, "results.md"), "w") as f:
        f.write(f"{len(runs)} runs ({len(failed)} not finished) from {grid.source}\n\n{table}")
    print(table)


if __name__ == "__main__":
    sys.exit(main())
