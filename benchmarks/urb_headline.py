"""URB's headline on the analytic backend: humans' and CAVs' mean travel times before and after
CAVs learn their routes, per learner, against the human-only world and reference CAV policies.

Protocol (URB's phases, DESIGN 2.5): for each learner and seed, the training env
(``--copies`` copies of ``--env``) settles its humans, then the learner trains the CAVs for
``--train-days`` days summed over copies (humans frozen: URB's core task). Evaluation builds a
fresh env seeded ``1000 + seed`` (new human learning), and the trained CAVs drive ``--eval-days``
days (greedily, and "sampled": the policy's distribution for IPPO / MAPPO, epsilon-greedy at
the final epsilon for IQL / QMIX); the figures are vehicle-weighted means over
those days and copies, in the network's time unit. References on the same evaluation worlds:
the human-only world (``*_before``: the CAV drivers still human), CAVs on the free-flow
fastest route (all-or-nothing), CAVs picking uniformly at random, and the user-equilibrium
mean time (UE TSTT over demand).

    python benchmarks/urb_headline.py --save          # benchmarks/results/urb/headline_<env>.{json,md}
    python benchmarks/urb_headline.py --algos ippo --seeds 0 --train-days 4000
    python benchmarks/urb_headline.py --summarise benchmarks/results/urb/headline_urb-braess-v0.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np
import torch

import envs
from algorithms import get_algorithm
from algorithms.config import build_config
from envs.routing import reference

ROOT = Path(__file__).resolve().parent.parent
ALGOS = ("ippo", "mappo", "iql", "qmix")
FIGURES = (
    "human_time_before",
    "human_time",
    "human_change",
    "cav_time_before",
    "cav_time",
    "cav_change",
    "all_time",
)


def overrides(name: str, train_days: int) -> dict:
    """Learner settings for one-day episodes: short rollouts, replay of one-step episodes."""
    if name in ("iql", "qmix"):
        return {
            "buffer_size": 2000,
            "max_episode_length": 1,
            "epsilon_anneal_steps": max(1, train_days // 2),
        }
    return {"rollout_length": 8}


def drive(act, env_id: str, seed: int, copies: int, days: int, kwargs: dict) -> dict[str, float]:
    """Mean metrics of ``days`` CAV days driven by ``act(obs, mask, state)`` in fresh worlds."""
    env = envs.make_vec(env_id, copies, **kwargs)
    obs, _ = env.reset(seed=seed)
    sums = {name: 0.0 for name in FIGURES}
    for _ in range(days):
        obs, _, _, _, info = env.step(act(obs, env.action_mask(), env.state()))
        for name in FIGURES:
            sums[name] += float(np.mean(info["metrics"][name])) / days
    sums["ue_time"] = float(reference(env.network, "ue").tstt / env.network.total_demand)
    return sums


def train(name: str, env_id: str, seed: int, args, kwargs: dict):
    """Train one learner's CAVs; returns the learner and the training wall-clock seconds."""
    torch.manual_seed(seed)
    config_cls, learner_cls = get_algorithm(name)
    env = envs.make_vec(env_id, args.copies, **kwargs)
    learner = learner_cls(
        build_config(config_cls, overrides(name, args.train_days), {}), env, "cpu", seed
    )
    start = time.perf_counter()
    while learner.env_steps < args.train_days:
        learner.train_iteration()
    return learner, time.perf_counter() - start


def summary(runs: list[dict]) -> str:
    """Mean +- sd over seeds of every figure, per CAV policy, as a Markdown table."""
    labels = list(dict.fromkeys(r["label"] for r in runs))
    header = ["CAVs", "seeds", *FIGURES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label in labels:
        mine = [r for r in runs if r["label"] == label]
        cells = [
            f"{np.mean([r[f] for r in mine]):.2f} +- {np.std([r[f] for r in mine]):.2f}"
            for f in FIGURES
        ]
        lines.append(f"| {label} | {len(mine)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="urb-braess-v0")
    parser.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--copies", type=int, default=8, help="training env copies")
    parser.add_argument("--train-days", type=int, default=8000, help="CAV days, summed over copies")
    parser.add_argument("--eval-copies", type=int, default=8)
    parser.add_argument("--eval-days", type=int, default=10)
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/urb/")
    parser.add_argument("--summarise", metavar="JSON", help="print the summary of a saved run")
    args = parser.parse_args(argv)
    if args.summarise:
        with open(args.summarise) as f:
            print(summary(json.load(f)["runs"]))
        return
    torch.set_num_threads(1)
    kwargs: dict = {}

    rows, runs = [], []

    def add(label, seed, res, days="-", seconds="-"):
        rows.append([label, seed, *(f"{res[f]:.2f}" for f in FIGURES), days, seconds])

    for seed in args.seeds:
        eval_seed = 1000 + seed
        rng = np.random.default_rng(seed)

        def aon(obs, mask, state):  # slot 0: the free-flow fastest route
            return np.zeros(mask.shape[:2], dtype=np.int64)

        def uniform(obs, mask, state, rng=rng):
            return (rng.random(mask.shape) * mask).argmax(axis=-1)

        for label, act in (("all-or-nothing CAVs", aon), ("random CAVs", uniform)):
            res = drive(act, args.env, eval_seed, args.eval_copies, args.eval_days, kwargs)
            runs.append({"label": label, "seed": seed, **res})
            add(label, seed, res)
        for name in args.algos:
            learner, seconds = train(name, args.env, seed, args, kwargs)
            for mode in ("greedy", "sampled"):
                torch.manual_seed(eval_seed)  # the policies' sampling

                def act(obs, mask, state, greedy=mode == "greedy", learner=learner):
                    return learner.act(obs, mask, state, None, greedy=greedy)[0]

                res = drive(act, args.env, eval_seed, args.eval_copies, args.eval_days, kwargs)
                record = {"label": f"{name} ({mode})", "seed": seed, **res}
                record.update(train_days=learner.env_steps, train_seconds=round(seconds, 1))
                runs.append(record)
                add(record["label"], seed, res, learner.env_steps, f"{seconds:.0f}")
            print(f"{name} seed {seed}: {seconds:.0f} s", file=sys.stderr, flush=True)

    ue_time = runs[0]["ue_time"]
    header = ["CAVs", "seed", *FIGURES, "training days", "training s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    table = (
        summary(runs)
        + f"\nUser-equilibrium mean travel time: {ue_time:.2f}\n\nPer seed:\n\n"
        + "\n".join(lines)
        + "\n"
    )
    title = f"# URB headline on {args.env} (analytic backend)\n\n"
    if not args.save:
        print(title + table)
        return
    out = ROOT / "benchmarks" / "results" / "urb"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"headline_{args.env}"
    (out / f"{stem}.md").write_text(title + table)
    payload = {"args": vars(args), "ue_time": ue_time, "runs": runs}
    (out / f"{stem}.json").write_text(json.dumps(payload, indent=1))
    print(f"wrote {out / stem}.{{md,json}}")


if __name__ == "__main__":
    main()
