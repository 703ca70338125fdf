"""Dec-POMFC's benchmark (issue 20): the order reached on a swarm, and how it scales.

Dec-POMFC, MF-AC and IPPO train on a grid with one swarming task (``benchmarks/decpomfc.yaml``:
Vicsek flocking; ``benchmarks/decpomfc_kuramoto.yaml``: Kuramoto phases; 100 agents at
density 4, one noise for all) through the launchers; each run's final greedy policy
(``policy.pt``, decentralised: it sees one agent's observation) is then evaluated on the
same task and on 1,000 and 10,000 agents at the same density and noise. References at every
size: the scripted Vicsek rule (exact angles, and read from observations; for Kuramoto the same
rule on phases, after the natural frequency) and random turns.
Every policy plays the same start configurations (episodes of the training length, 200
steps). Figures: the order parameter at the episode's end (``order``), its mean over the
episode (``mean_order``) and the local order at the end (``local_order``: each agent's
neighbourhood, itself included, averaged over the agents; in a 200-step episode a 10,000-agent
swarm forms aligned patches but no single flock, which the global order cannot show); mean ±
standard deviation over the seeds.

    python benchmarks/decpomfc_swarm.py                       # the grid's seeds, print only
    python benchmarks/decpomfc_swarm.py --save                # + benchmarks/results/decpomfc/
    python benchmarks/decpomfc_swarm.py --grid benchmarks/decpomfc_kuramoto.yaml --save
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

import envs
from agents.policy import Policy
from benchmarks.learning_runs import (
    ROOT,
    add_learning_arguments,
    load_learning_grid,
    markdown_table,
    run_learning_grid,
)
from envs.swarming.policies import VicsekPolicy, vicsek_actions

DENSITY = 4.0
#: number of agents -> evaluation episodes (the order's spread shrinks with more agents)
SIZES = {100: 32, 1000: 8, 10000: 2}
RESULTS = ROOT / "benchmarks" / "results"


def sized(kwargs: dict, agents: int) -> dict:
    """``kwargs`` for ``agents`` agents at the benchmark's density."""
    return {**kwargs, "num_agents": agents, "box_size": math.sqrt(agents / DENSITY)}


def play(
    act, env_id: str, kwargs: dict, agents: int, episodes: int, seed: int = 12345
) -> dict[str, float]:
    """Mean figures of ``episodes`` episodes of ``act(obs, env) -> actions`` on ``agents`` agents
    (the same start configurations for every policy): the order at the end (``order``) and over
    the episode (``mean_order``), and the local order at the end (``local_order``: the order of
    each agent's neighbourhood, itself included, averaged over the agents)."""
    env = envs.make_vec(env_id, episodes, autoreset=False, **sized(kwargs, agents))
    obs, _ = env.reset(seed=seed)
    total = np.zeros(episodes)
    for _ in range(env.max_episode_steps):
        obs, _, _, _, info = env.step(act(obs, env))
        total += info["order"]
    return {
        "order": float(env.order_parameter().mean()),
        "mean_order": float(total.mean() / env.max_episode_steps),
        "local_order": float(env.local_mean_angle()[1].mean()),
    }


def references(env_id: str, kwargs: dict) -> dict[str, dict[int, dict[str, float]]]:
    """The scripted references' figures per swarm size."""
    rng = np.random.default_rng(0)
    angles = "phases" if "kuramoto" in env_id else "angles"
    acts = {
        f"Vicsek rule (exact {angles})": lambda obs, env: vicsek_actions(env),
        "Vicsek rule (observations)": lambda obs, env: VicsekPolicy(env)(obs),
        "random turns": lambda obs, env: rng.integers(0, env.num_turns, size=obs.shape[:2]),
    }
    return {
        name: {n: play(act, env_id, kwargs, n, episodes) for n, episodes in SIZES.items()}
        for name, act in acts.items()
    }


def scaling(run_dir: str, env_id: str, kwargs: dict) -> dict[int, dict[str, float]]:
    """The final greedy policy's figures per swarm size (decentralised: one agent's obs each)."""
    policy = Policy.load(os.path.join(run_dir, "policy.pt"))

    def act(obs, env):
        return policy.act(obs)[0]

    return {n: play(act, env_id, kwargs, n, episodes) for n, episodes in SIZES.items()}


def table(records: list[dict], refs: dict, algos: list[str]) -> str:
    columns = [(f"order N={n}", n, "order") for n in SIZES]
    columns += [(f"local order N={n}", n, "local_order") for n in SIZES]
    columns.append(("mean_order N=100", 100, "mean_order"))
    rows = []
    for algo in algos:
        runs = [r for r in records if r["label"] == algo and "scaling" in r]
        row: list = [algo, len(runs)]
        for _, n, key in columns:
            values = [r["scaling"][n][key] for r in runs]
            row.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "-")
        rows.append(row)
    for name, per_size in refs.items():
        rows.append([name, "-", *(per_size[n][key] for _, n, key in columns)])
    return markdown_table(["policy", "seeds", *(c[0] for c in columns)], rows)


def plot(records: list[dict], refs: dict, algos: list[str], path: Path) -> None:
    """Learning curves on N = 100, and the order and local order against the swarm size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, *scales) = plt.subplots(1, 3, figsize=(14, 4))
    sizes = list(SIZES)
    for algo in algos:
        runs = [r for r in records if r["label"] == algo and r.get("curve")]
        if not runs:
            continue
        steps = [p["env_steps"] for p in runs[0]["curve"]]
        values = np.array([[p["order"] for p in r["curve"]] for r in runs])
        line = curves.plot(steps, values.mean(0), marker="o", label=algo)[0]
        curves.fill_between(steps, values.min(0), values.max(0), alpha=0.2, color=line.get_color())
        for ax, key in zip(scales, ("order", "local_order")):
            figures = np.array([[r["scaling"][n][key] for n in sizes] for r in runs])
            ax.errorbar(sizes, figures.mean(0), yerr=figures.std(0), marker="o", label=algo)
    for name, per_size in refs.items():
        if "observations" in name:
            continue
        style = {"linestyle": "--", "color": "grey" if "random" in name else "black"}
        curves.axhline(per_size[100]["order"], label=name, **style)
        for ax, key in zip(scales, ("order", "local_order")):
            ax.plot(sizes, [per_size[n][key] for n in sizes], label=name, **style)
    curves.set(xlabel="env steps (N = 100)", ylabel="order at episode end (greedy)")
    curves.set_title("learning (mean, min-max over seeds)")
    for ax, key in zip(scales, ("order", "local order")):
        ax.set(xscale="log", xlabel="agents at evaluation (density 4)", ylabel=key, ylim=(0, 1))
        ax.set_title(f"{key} after 200 steps; trained on N = 100")
    scales[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_learning_arguments(parser, "decpomfc.yaml")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/<grid name>/")
    args = parser.parse_args(argv)

    grid = load_learning_grid(args)
    env_id, kwargs = grid.envs[0].id, dict(grid.envs[0].kwargs)  # the grid's one task
    algos = [a.label for a in grid.algorithms]
    records = run_learning_grid(grid, args, label=lambda cell: cell.algo.label)
    for record in records:
        if "error" not in record:
            record["scaling"] = scaling(record["run_dir"], env_id, kwargs)
    refs = references(env_id, kwargs)
    text = table(records, refs, algos)
    print(text)
    if args.save:
        out = RESULTS / grid.name
        out.mkdir(parents=True, exist_ok=True)
        payload = {
            "env_id": env_id,
            "kwargs": kwargs,
            "density": DENSITY,
            "eval_episodes": SIZES,
            "seeds": grid.seeds,
            "extra": args.extra,
            "runs": records,
            "references": refs,
        }
        (out / "results.json").write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
        (out / "results.md").write_text(text + "\n")
        plot(records, refs, algos, out / "order.png")
        print(f"saved to {out}")


if __name__ == "__main__":
    main()
