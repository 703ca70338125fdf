"""Training speed and time-to-solve of the on-policy learners (issue 3's benchmark).

    python benchmarks/train_speed.py                        # IPPO frames/s + time to greedy return 0.9
    python benchmarks/train_speed.py --solve-seeds 0 1 2    # time-to-solve over several seeds
    python benchmarks/train_speed.py [key=value ...] --final-returns --seeds 0 1 2 [--algos ippo mappo mfac]
                                     [--tasks foraging_10x10_3p_3f]
                                                            # final greedy returns on three LBF tasks

Config overrides (``key=value``, applied to every run) go before the options.

Throughput is training env-frames per second (one frame = one step of one env copy, all its
agents acting) of ``learner.train_iteration()``, collection and updates together, measured
after a warm-up with the default ``python train.py`` configuration; next to it the frames/s of
collection alone (the learner's sampling ``act`` and the env step, on a copy of the env) and
what that leaves for the updates. Time-to-solve is the wall-clock time of a train.py run
(start-up and evaluations included) until the greedy evaluation return over 32 episodes
reaches the threshold, evaluating every 50k env steps. Final returns train each
``configs/<algo>_<task>.yaml``'s settings and report the last greedy evaluation (32 episodes): mean and
standard deviation over seeds; next to it the absolute metric (the best policy seen,
re-evaluated greedily over 320 episodes) and the training return (sampled actions, last 10
updates). Greedy LBF policies can deadlock (two agents repeating a blocked move) where the
sampled policy escapes, so the three can differ. Figures depend on the machine and on its load: the script
prints the torch thread count and the CPU count next to them.

The runs of time-to-solve and final returns are grids (:mod:`benchmarks.grid`) run through the
launchers, one at a time by default (``--jobs``) so that wall-clock times are not shared, in a
temporary directory unless ``--runs-dir`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import train
from benchmarks.grid import (
    add_launcher_arguments,
    finished_rows,
    grid_from_dict,
    launcher_from_args,
    run_grid,
)
from benchmarks.run_dirs import eval_entry, eval_steps, metrics_rows

TASKS = {
    "foraging_8x8_2p_2f_coop": "Foraging-8x8-2p-2f-coop-v3",
    "foraging_10x10_3p_3f": "Foraging-10x10-3p-3f-v3",
    "foraging_15x15_4p_5f": "Foraging-15x15-4p-5f-v3",
}
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")


def throughput(seconds: float, overrides: list[str]) -> dict:
    """Env-frames/s of the default job's learner (``train_iteration``), and of collection alone."""
    cfg = train.load_config(None, overrides)
    _, learner = train.build(cfg)
    for _ in range(3):  # warm-up
        learner.train_iteration()
    steps0, start = learner.env_steps, time.perf_counter()
    while time.perf_counter() - start < seconds:
        learner.train_iteration()
    train_seconds = time.perf_counter() - start
    frames = learner.env_steps - steps0
    collect = collection_rate(learner, cfg, seconds / 4)
    update_seconds = max(train_seconds - frames / collect, 1e-9)
    return {
        "env_frames_per_s": frames / train_seconds,
        "collect_frames_per_s": collect,
        "update_frames_per_s": frames / update_seconds,
        "frames": frames,
        "agents": learner.env.num_agents,
    }


def collection_rate(learner, cfg: train.TrainConfig, seconds: float) -> float:
    """Env-frames/s of the learner's sampling policy stepping a copy of its env (no updates)."""
    env = train.make_env(cfg)
    obs, _ = env.reset(seed=cfg.seed)
    hidden, frames, start = None, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mask = env.action_mask() if env.is_discrete else None
        state = env.state() if learner.act_needs_state else None
        actions, hidden = learner.act(obs, mask, state, hidden, greedy=False)
        obs = env.step(actions)[0]
        frames += env.num_envs
    rate = frames / (time.perf_counter() - start)
    env.close()
    return rate


def run_quietly(data: dict, args: argparse.Namespace, log_dir: str) -> list:
    """Run a grid (a mapping) into ``log_dir`` through the launcher ``args`` name; its rows."""
    grid = grid_from_dict(
        {"runs_dir": log_dir, "out": log_dir, **data}, last_overrides=args.overrides
    )
    return run_grid(grid, launcher_from_args(args))


def time_to_solve(args: argparse.Namespace, log_dir: str) -> list[dict]:
    """Per seed of ``--solve-seeds``: the wall-clock time of the default job until solved."""
    rows = run_quietly(
        {
            "name": "time_to_solve",
            "envs": ["Foraging-8x8-2p-2f-coop-v3"],
            "algorithms": ["ippo"],
            "seeds": args.solve_seeds,
            "overrides": {
                "eval.stop_return": args.threshold,
                "eval.every_env_steps": 50000,
                "total_env_steps": args.max_steps,
                "eval.absolute_episodes": 0,
                "log.tensorboard": False,
            },
        },
        args,
        log_dir,
    )
    return [
        {
            "seed": row.cell.seed,
            "solved": row.record.status == "solved",
            "seconds": row.record.seconds,
            "env_steps": row.record.env_steps,
            "eval_return": row_eval_return(row),
        }
        for row in rows
    ]


def row_eval_return(row) -> float:
    """The mean return of a run's last greedy evaluation (``nan`` if it has none)."""
    if not row.record.done:
        return float("nan")
    steps = eval_steps(eval_entry(row.cell.spec.run_dir))
    return float(np.mean(steps[-1]["return"])) if steps else float("nan")


def final_returns(args: argparse.Namespace, log_dir: str) -> dict:
    """Per algorithm and task: the last greedy evaluation, the absolute metric and the training
    return of each seed's run."""
    envs = [
        {"id": TASKS[task], "label": task, "config": os.path.join(CONFIGS, f"ippo_{task}.yaml")}
        for task in args.tasks
    ]  # the tasks' settings (the same for every learner; algo= picks the learner)
    rows = run_quietly(
        {
            "name": "final_returns",
            "envs": envs,
            "algorithms": args.algos,
            "seeds": args.seeds,
            "overrides": {"log.tensorboard": False},
        },
        args,
        log_dir,
    )
    table: dict = {}
    for row in finished_rows(rows):
        entry = eval_entry(row.cell.spec.run_dir)
        absolute = entry.get("absolute_metrics", {}).get("return")
        cell = table.setdefault(
            f"{row.cell.algo.label}/{row.cell.env.label}",
            {"returns": [], "absolute": [], "training": [], "seconds": []},
        )
        cell["returns"].append(row_eval_return(row))
        cell["absolute"].append(float(np.mean(absolute)) if absolute else float("nan"))
        cell["training"].append(_training_return(row.cell.spec.run_dir))
        cell["seconds"].append(row.record.seconds)
        cell["env_steps"] = row.record.env_steps
    for cell in table.values():
        cell["mean"], cell["std"] = float(np.mean(cell["returns"])), float(np.std(cell["returns"]))
    return table


def _training_return(run_dir: str, updates: int = 10) -> float:
    """Mean episodic return over the last updates, with actions sampled from the policy."""
    values = [
        r["charts/episodic_return"]
        for r in metrics_rows(run_dir)
        if r.get("charts/episodic_return") is not None
    ]
    return float(np.mean(values[-updates:])) if values else float("nan")


def main_parser() -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput measuring time")
    parser.add_argument(
        "--threshold", type=float, default=0.9, help="greedy return counted as solved"
    )
    parser.add_argument(
        "--max-steps", type=int, default=5_000_000, help="give up time-to-solve after this"
    )
    parser.add_argument(
        "--solve-seeds", type=int, nargs="*", default=[0], help="seeds for time-to-solve"
    )
    parser.add_argument(
        "--final-returns", action="store_true", help="train IPPO/MAPPO/MF-AC on three LBF tasks"
    )
    parser.add_argument("--algos", nargs="*", default=["ippo", "mappo", "mfac"])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument(
        "--seeds", type=int, nargs="*", default=[0, 1, 2], help="seeds for --final-returns"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    add_launcher_arguments(parser, jobs=1)
    parser.add_argument("--runs-dir", help="keep the runs here (default: a temporary directory)")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="config overrides for every run (put them first), e.g. total_env_steps=1000000",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = main_parser().parse_args(argv)

    figures: dict = {"cpus": os.cpu_count(), "overrides": args.overrides}
    if args.final_returns:
        print(f"final greedy returns (configs/<algo>_<task>.yaml), seeds {args.seeds}:")
        with tempfile.TemporaryDirectory() as tmp:
            figures["final_returns"] = final_returns(args, args.runs_dir or tmp)
        print(
            "\n| algorithm | task | env steps | final greedy return (mean ± std) | per seed "
            "| best policy (absolute) | training return |\n|---|---|---|---|---|---|---|"
        )
        for key, row in figures["final_returns"].items():
            algo, task = key.split("/")
            per_seed = ", ".join(f"{r:.3f}" for r in row["returns"])
            print(
                f"| {algo} | {TASKS[task]} | {row['env_steps']:,} | {row['mean']:.3f} ± {row['std']:.3f} "
                f"| {per_seed} | {np.mean(row['absolute']):.3f} ± {np.std(row['absolute']):.3f} "
                f"| {np.mean(row['training']):.3f} ± {np.std(row['training']):.3f} |"
            )
    else:
        speed = throughput(args.seconds, args.overrides)
        figures["throughput"] = speed
        print(
            f"IPPO training on Foraging-8x8-2p-2f-coop-v3 (torch threads {torch.get_num_threads()}, "
            f"{os.cpu_count()} CPUs): {speed['env_frames_per_s']:,.0f} env-frames/s "
            f"(collection alone {speed['collect_frames_per_s']:,.0f}, updates alone "
            f"{speed['update_frames_per_s']:,.0f}; target >= 5,000)"
        )
        with tempfile.TemporaryDirectory() as tmp:
            figures["time_to_solve"] = time_to_solve(args, args.runs_dir or tmp)
        for row in figures["time_to_solve"]:
            seed = row["seed"]
            verdict = "reached" if row["solved"] else "did NOT reach"
            print(
                f"seed {seed}: {verdict} greedy return {args.threshold} in {row['seconds']:.1f} s wall-clock "
                f"({row['env_steps']:,} env steps, last eval {row['eval_return']:.3f}; target < 180 s)",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
