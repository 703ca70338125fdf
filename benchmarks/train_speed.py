"""Training speed and time-to-solve of the on-policy learners (issue 3's benchmark).

    python benchmarks/train_speed.py                        # IPPO frames/s + time to greedy return 0.9
    python benchmarks/train_speed.py --solve-seeds 0 1 2    # time-to-solve over several seeds
    python benchmarks/train_speed.py [key=value ...] --final-returns --seeds 0 1 2 [--algos ippo mappo mfac]
                                     [--tasks foraging_10x10_3p_3f]
                                                            # final greedy returns on three LBF tasks

Config overrides (``key=value``, applied to every run) go before the options.

Throughput is training env-frames per second (one frame = one step of one env copy, all its
agents acting), collection and updates together, measured after a warm-up with the default
``python train.py`` configuration. Time-to-solve is the wall-clock time of ``train.train``
(start-up and evaluations included) until the greedy evaluation return over 32 episodes
reaches the threshold, evaluating every 50k env steps. Final returns train each
``configs/<algo>_<task>.yaml`` and report the last greedy evaluation (32 episodes): mean and
standard deviation over seeds; next to it the absolute metric (the best policy seen,
re-evaluated greedily over 320 episodes) and the training return (sampled actions, last 10
updates). Greedy LBF policies can deadlock (two agents repeating a blocked move) where the
sampled policy escapes, so the three can differ. Figures depend on the machine and on its load: the script
prints the torch thread count and the CPU count next to them.
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
from agents.evaluation import marl_eval_names

TASKS = {
    "foraging_8x8_2p_2f_coop": "Foraging-8x8-2p-2f-coop-v3",
    "foraging_10x10_3p_3f": "Foraging-10x10-3p-3f-v3",
    "foraging_15x15_4p_5f": "Foraging-15x15-4p-5f-v3",
}
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")


def quiet(log_dir: str, *overrides: str) -> list[str]:
    return [f"log.dir={log_dir}", "log.progress=false", "log.tensorboard=false", *overrides]


def throughput(seconds: float, overrides: list[str]) -> dict:
    """Env-frames/s of the default job's learner, split into collection and updates."""
    cfg = train.load_config(None, overrides)
    _, learner = train.build(cfg)
    for _ in range(3):  # warm-up
        learner.train_iteration()
    collect = update = 0.0
    steps0, start = learner.env_steps, time.perf_counter()
    while time.perf_counter() - start < seconds:
        tick = time.perf_counter()
        last = learner._collect()
        tock = time.perf_counter()
        learner._update(last)
        learner.updates += 1
        collect += tock - tick
        update += time.perf_counter() - tock
    frames = learner.env_steps - steps0
    return {
        "env_frames_per_s": frames / (collect + update),
        "collect_frames_per_s": frames / collect,
        "update_frames_per_s": frames / update,
        "frames": frames,
        "agents": learner.env.num_agents,
    }


def time_to_solve(seed: int, threshold: float, max_steps: int, overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = train.load_config(
            None,
            quiet(
                tmp,
                f"seed={seed}",
                f"eval.stop_return={threshold}",
                "eval.every_env_steps=50000",
                f"total_env_steps={max_steps}",
                "eval.absolute_episodes=0",
                *overrides,
            ),
        )
        start = time.perf_counter()
        result = train.train(cfg)
        elapsed = time.perf_counter() - start
    return {
        "seed": seed,
        "solved": result.status == "solved",
        "seconds": elapsed,
        "env_steps": result.env_steps,
        "eval_return": result.eval_return,
    }


def final_returns(
    tasks: list[str], algos: list[str], seeds: list[int], overrides: list[str]
) -> dict:
    table: dict = {}
    for task in tasks:
        for algo in algos:
            path = os.path.join(CONFIGS, f"{algo}_{task}.yaml")
            returns, absolute, training, seconds = [], [], [], []
            for seed in seeds:
                with tempfile.TemporaryDirectory() as tmp:
                    cfg = train.load_config(path, quiet(tmp, f"seed={seed}", *overrides))
                    start = time.perf_counter()
                    result = train.train(cfg)
                    seconds.append(time.perf_counter() - start)
                    returns.append(result.eval_return)
                    absolute.append(_absolute_return(result.run_dir, cfg))
                    training.append(_training_return(result.run_dir))
                print(
                    f"  {algo:5s} {TASKS[task]:28s} seed {seed}: final greedy {returns[-1]:.3f}, best policy "
                    f"{absolute[-1]:.3f}, training (sampled actions) {training[-1]:.3f} "
                    f"({cfg.total_env_steps} steps, {seconds[-1]:.0f} s)",
                    flush=True,
                )
            table[f"{algo}/{task}"] = {
                "returns": returns,
                "mean": float(np.mean(returns)),
                "std": float(np.std(returns)),
                "absolute": absolute,
                "training": training,
                "seconds": seconds,
                "env_steps": cfg.total_env_steps,
            }
    return table


def _absolute_return(run_dir: str, cfg: train.TrainConfig) -> float:
    """marl-eval's absolute metric: the best policy seen, evaluated over many episodes."""
    with open(os.path.join(run_dir, "eval.json")) as f:
        data = json.load(f)
    env_name, task_name = marl_eval_names(cfg.env.id, cfg.env.kwargs)
    runs = data[env_name][task_name][cfg.algo.name][f"seed_{cfg.seed}"]
    return (
        float(np.mean(runs["absolute_metrics"]["return"]))
        if "absolute_metrics" in runs
        else float("nan")
    )


def _training_return(run_dir: str, updates: int = 10) -> float:
    """Mean episodic return over the last updates, with actions sampled from the policy."""
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    values = [
        r["charts/episodic_return"] for r in rows if r.get("charts/episodic_return") is not None
    ]
    return float(np.mean(values[-updates:])) if values else float("nan")


def main() -> None:
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
    parser.add_argument(
        "overrides",
        nargs="*",
        help="config overrides for every run (put them first), e.g. total_env_steps=1000000",
    )
    args = parser.parse_args()

    figures: dict = {"cpus": os.cpu_count(), "overrides": args.overrides}
    if args.final_returns:
        print(f"final greedy returns (configs/<algo>_<task>.yaml), seeds {args.seeds}:")
        figures["final_returns"] = final_returns(args.tasks, args.algos, args.seeds, args.overrides)
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
        figures["time_to_solve"] = []
        for seed in args.solve_seeds:
            row = time_to_solve(seed, args.threshold, args.max_steps, args.overrides)
            figures["time_to_solve"].append(row)
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
