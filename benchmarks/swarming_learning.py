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

Runs go to ``--log-dir`` (runs/ by default), one training process at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np

import envs
from benchmarks.learning_runs import (
    Condition,
    aggregate,
    markdown_table,
    run_conditions,
    save_results,
    scripted_reference,
)
from envs.swarming.policies import VicsekPolicy, vicsek_actions

ENV_ID = "swarming-vicsek-v0"
CONDITIONS = {
    "ippo": Condition("ippo", "configs/ippo_swarming_learn.yaml"),
    "mfac": Condition("mfac", "configs/mfac_swarming_learn.yaml"),
}
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--algos", nargs="+", choices=sorted(CONDITIONS), default=sorted(CONDITIONS)
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument(
        "--extra",
        nargs="*",
        default=[],
        metavar="key=value",
        help="train.py overrides added to every run",
    )
    parser.add_argument("--log-dir", default="runs")
    parser.add_argument("--reference-episodes", type=int, default=32)
    parser.add_argument(
        "--save", action="store_true", help="write benchmarks/results/swarming/<--name>.{json,md}"
    )
    parser.add_argument("--name", default="learning", help="results file name (without extension)")
    args = parser.parse_args()

    refs = references(args.reference_episodes)
    records = run_conditions(
        [CONDITIONS[a] for a in args.algos], args.seeds, args.log_dir, args.extra, tag="swarming"
    )
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
    table = markdown_table(header, rows)
    print(table)
    if args.save:
        payload = {
            "env_id": ENV_ID,
            "seeds": args.seeds,
            "extra": args.extra,
            "runs": records,
            "references": refs,
        }
        folder = save_results(
            "swarming", args.name, payload, f"# {ENV_ID}: learned flocking\n\n{table}"
        )
        print(f"saved to {folder}")
    else:
        print(
            json.dumps(
                {r["label"] + f"/seed{r['seed']}": r.get("best", r.get("error")) for r in records}
            )
        )


if __name__ == "__main__":
    main()
