"""Learning benchmark of issue 4: IPPO and MF-AC learn to flock on swarming-vicsek-v0.

The target: on the default task (100 agents, L = 5, default noise 0.5) the learners reach a
polar order parameter of at least 0.9, against the scripted Vicsek rule's about 0.985. The
table lists, per learner over the seeds, the order at the end of the episode (``order``)
and averaged over the episode (``mean_order``, which includes the first steps from a
disordered start), for the final greedy policy (``final``), the best greedy policy over more
episodes (``best``, marl-eval's absolute metric) and the sampling policy over the last
updates (``train``). References: the Vicsek rule on exact angles (``vicsek_actions``), the
same rule read from observations (``VicsekPolicy``), and uniform random turns.

    python benchmarks/swarming_learning.py                       # both learners, seed 0
    python benchmarks/swarming_learning.py --seeds 0 1 2 --save  # + benchmarks/results/swarming/
    python benchmarks/swarming_learning.py --algos ippo --extra total_env_steps=20480

The runs are the grid ``benchmarks/swarming_learning.yaml`` (:mod:`benchmarks.grid`), run
through the launchers (a process pool, ``--jobs`` at once, or ``--launcher ray``) into
``--log-dir`` (the grid's ``runs_dir`` by default); a finished run is not trained again.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np

import envs
from benchmarks.learning_runs import (
    add_learning_arguments,
    aggregate,
    load_learning_grid,
    markdown_table,
    print_or_save,
    run_learning_grid,
    scripted_reference,
)
from envs.swarming.policies import VicsekPolicy, vicsek_actions

ENV_ID = "swarming-vicsek-v0"
ALGOS = ("ippo", "mfac")
TARGET_ORDER = 0.9


def references(episodes: int) -> dict[str, dict[str, float]]:
    """Episode metrics of the scripted Vicsek rule (exact and from observations) and of random turns."""

    def make(copies: int):
        return envs.make_vec(ENV_ID, copies)

    rng = np.random.default_rng(0)
    policy: dict[str, VicsekPolicy] = {}

    def from_obs(obs, env):
        return policy.setdefault("p", VicsekPolicy(env))(obs)

    return {
        "Vicsek rule (exact angles)": scripted_reference(
            lambda obs, env: vicsek_actions(env), make, episodes
        ),
        "Vicsek rule (observations)": scripted_reference(from_obs, make, episodes),
        "random turns": scripted_reference(
            lambda obs, env: rng.integers(0, env.num_turns, size=obs.shape[:2]), make, episodes
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS))
    add_learning_arguments(parser, "swarming_learning.yaml")
    parser.add_argument("--reference-episodes", type=int, default=32)
    parser.add_argument(
        "--save", action="store_true", help="write benchmarks/results/swarming/<--name>.{json,md}"
    )
    parser.add_argument("--name", default="learning", help="results file name (without extension)")
    args = parser.parse_args(argv)

    refs = references(args.reference_episodes)
    grid = load_learning_grid(args, algorithms=args.algos)
    records = run_learning_grid(grid, args, label=lambda cell: cell.algo.label)
    header = [
        "policy",
        "seeds",
        "order final",
        "order best",
        "order train",
        "mean_order best",
        f">= {TARGET_ORDER}",
    ]
    rows = []
    for algo in args.algos:
        final, final_sd, n = aggregate(records, algo, "final", "order")
        best, best_sd, _ = aggregate(records, algo, "best", "order")
        train, _, _ = aggregate(records, algo, "train", "order")
        mean_best, _, _ = aggregate(records, algo, "best", "mean_order")
        rows.append(
            [
                algo,
                n,
                f"{final:.3f} ± {final_sd:.3f}",
                f"{best:.3f} ± {best_sd:.3f}",
                train,
                mean_best,
                "yes" if final >= TARGET_ORDER else "no",
            ]
        )
    for name, ref in refs.items():
        rows.append([name, "-", ref["order"], ref["order"], "-", ref["mean_order"], "reference"])
    payload = {
        "env_id": ENV_ID,
        "seeds": grid.seeds,
        "extra": args.extra,
        "runs": records,
        "references": refs,
    }
    table = markdown_table(header, rows)
    print_or_save(args, "swarming", f"{ENV_ID}: learned flocking", table, payload, "best")


if __name__ == "__main__":
    main()
