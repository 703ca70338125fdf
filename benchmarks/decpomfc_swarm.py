"""Dec-POMFC's benchmark (issue 20): the order reached on Vicsek flocking, and how it scales.

Dec-POMFC, MF-AC and IPPO train on the grid ``benchmarks/decpomfc.yaml`` (100 agents at
density 4, one noise for all) through the launchers; each run's final greedy policy
(``policy.pt``, decentralised: it sees one agent's observation) is then evaluated on the
same task and on 1,000 and 10,000 agents at the same density and noise. References at every
size: the scripted Vicsek rule (exact angles, and read from observations) and random turns.
Figures: the order parameter at the episode's end (``order``) and its mean over the episode
(``mean_order``), mean ± standard deviation over the seeds.

    python benchmarks/decpomfc_swarm.py                       # the grid's seeds, print only
    python benchmarks/decpomfc_swarm.py --save                # + benchmarks/results/decpomfc/
    python benchmarks/decpomfc_swarm.py --seeds 0 --extra total_env_steps=10240

A finished run is not trained again (see :mod:`benchmarks.grid`); ``--save`` also draws the
learning curves and the scaling plot (matplotlib).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np
import yaml

import envs
from agents.policy import Policy
from algorithms.runs.evaluation import evaluate
from benchmarks.learning_runs import (
    ROOT,
    add_learning_arguments,
    load_learning_grid,
    markdown_table,
    run_learning_grid,
    scripted_reference,
)
from envs.swarming.policies import VicsekPolicy, vicsek_actions

ENV_ID = "swarming-vicsek-v0"
DENSITY = 4.0
#: number of agents -> evaluation episodes (the order's spread shrinks with more agents)
SIZES = {100: 32, 1000: 8, 10000: 2}
OUT = ROOT / "benchmarks" / "results" / "decpomfc"


def task_kwargs(grid_file: str) -> dict:
    """The env keyword arguments of the grid's (single) task."""
    with open(grid_file) as f:
        return dict(yaml.safe_load(f)["envs"][0].get("kwargs", {}))


def sized(kwargs: dict, agents: int) -> dict:
    """``kwargs`` for ``agents`` agents at the benchmark's density."""
    return {**kwargs, "num_agents": agents, "box_size": math.sqrt(agents / DENSITY)}


def references(kwargs: dict) -> dict[str, dict[int, dict[str, float]]]:
    """The scripted references' episode metrics per swarm size."""
    out: dict[str, dict[int, dict[str, float]]] = {}
    rng = np.random.default_rng(0)
    for agents, episodes in SIZES.items():

        def make(copies: int, agents=agents):
            return envs.make_vec(ENV_ID, copies, **sized(kwargs, agents))

        policy: dict[str, VicsekPolicy] = {}

        def from_obs(obs, env, policy=policy):
            return policy.setdefault("p", VicsekPolicy(env))(obs)

        acts = {
            "Vicsek rule (exact angles)": lambda obs, env: vicsek_actions(env),
            "Vicsek rule (observations)": from_obs,
            "random turns": lambda obs, env: rng.integers(0, env.num_turns, size=obs.shape[:2]),
        }
        for name, act in acts.items():
            out.setdefault(name, {})[agents] = scripted_reference(act, make, episodes)
    return out


def scaling(run_dir: str, kwargs: dict) -> dict[int, dict[str, float]]:
    """The final policy's greedy episode metrics per swarm size."""
    policy = Policy.load(os.path.join(run_dir, "policy.pt"))
    out = {}
    for agents, episodes in SIZES.items():
        results = evaluate(
            lambda obs, mask, state, hidden: policy.act(obs, mask, hidden),
            lambda copies, agents=agents: envs.make_vec(ENV_ID, copies, **sized(kwargs, agents)),
            episodes,
            seed=12345,
        )
        out[agents] = {k: float(np.mean(v)) for k, v in results.items()}
    return out


def table(records: list[dict], refs: dict, algos: list[str]) -> str:
    header = ["policy", "seeds"] + [f"order N={n}" for n in SIZES] + ["mean_order N=100"]
    rows = []
    for algo in algos:
        runs = [r for r in records if r["label"] == algo and "scaling" in r]
        row: list = [algo, len(runs)]
        for n in SIZES:
            values = [r["scaling"][n]["order"] for r in runs]
            row.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "-")
        values = [r["scaling"][100]["mean_order"] for r in runs]
        row.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "-")
        rows.append(row)
    for name, per_size in refs.items():
        rows.append(
            [name, "-", *(per_size[n]["order"] for n in SIZES), per_size[100]["mean_order"]]
        )
    return markdown_table(header, rows)


def plot(records: list[dict], refs: dict, algos: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, scale) = plt.subplots(1, 2, figsize=(10, 4))
    for algo in algos:
        runs = [r for r in records if r["label"] == algo and r.get("curve")]
        if not runs:
            continue
        steps = [p["env_steps"] for p in runs[0]["curve"]]
        values = np.array([[p["order"] for p in r["curve"]] for r in runs])
        line = curves.plot(steps, values.mean(0), marker="o", label=algo)[0]
        curves.fill_between(steps, values.min(0), values.max(0), alpha=0.2, color=line.get_color())
        sizes = list(SIZES)
        orders = np.array([[r["scaling"][n]["order"] for n in sizes] for r in runs])
        scale.errorbar(sizes, orders.mean(0), yerr=orders.std(0), marker="o", label=algo)
    for name, per_size in refs.items():
        style = {"linestyle": "--", "color": "grey" if "random" in name else "black"}
        if "observations" in name:
            continue
        curves.axhline(per_size[100]["order"], label=name, **style)
        scale.plot(list(SIZES), [per_size[n]["order"] for n in SIZES], label=name, **style)
    curves.set(xlabel="env steps (N = 100)", ylabel="order at episode end (greedy)")
    scale.set(xscale="log", xlabel="agents at evaluation (density 4)", ylabel="order")
    curves.set_title("learning (mean, min-max over seeds)")
    scale.set_title("trained on N = 100, evaluated on N")
    scale.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_learning_arguments(parser, "decpomfc.yaml")
    parser.add_argument("--save", action="store_true", help=f"write {OUT}")
    args = parser.parse_args(argv)

    kwargs = task_kwargs(args.grid)
    grid = load_learning_grid(args)
    algos = [a.label for a in grid.algorithms]
    records = run_learning_grid(grid, args, label=lambda cell: cell.algo.label)
    for record in records:
        if "error" not in record:
            record["scaling"] = scaling(record["run_dir"], kwargs)
    refs = references(kwargs)
    text = table(records, refs, algos)
    print(text)
    if args.save:
        OUT.mkdir(parents=True, exist_ok=True)
        payload = {
            "env_id": ENV_ID,
            "kwargs": kwargs,
            "density": DENSITY,
            "eval_episodes": SIZES,
            "seeds": grid.seeds,
            "extra": args.extra,
            "runs": records,
            "references": refs,
        }
        (OUT / "results.json").write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
        (OUT / "results.md").write_text(text + "\n")
        plot(records, refs, algos, OUT / "order.png")
        print(f"saved to {OUT}")


if __name__ == "__main__":
    main()
