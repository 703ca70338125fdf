"""Finished runs under both evaluation protocols: the final and the best policy, greedy and sampled,
on held-out episodes, beside what each run's own evaluations said.

For each run directory: the in-run figures from ``eval.json`` (the final and the best periodic
evaluation, the first env step at which an evaluation reached ``--threshold``, and the protocol
they were played under), then ``policy.pt`` (final) and ``policy_best.pt`` (best) replayed on
``--episodes`` held-out episodes (the ``eval.episodes_seed=fresh`` held-out set of the run's seed,
which no protocol's periodic evaluation plays) with greedy and with sampled actions::

    python -m benchmarks.eval_protocols runs/a runs/b [--episodes 320] [--out summary.json]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

import train
from agents.policy import Policy
from algorithms.runs.evaluation import EvalProtocol, evaluate
from benchmarks.run_dirs import eval_entry, eval_steps, write_json


def in_run_figures(run_dir: str, threshold: float) -> dict:
    """What the run's own evaluations said (eval.json)."""
    entry = eval_entry(run_dir)
    points = [(p["step_count"], float(np.mean(p["return"]))) for p in eval_steps(entry)]
    best = max(points, key=lambda p: p[1])  # the first of equal bests, as the trainer keeps it
    reached = next((step for step, value in points if value >= threshold), None)
    summary = entry.get("summary", {})
    return {
        "protocol": summary.get("protocol", {"episodes_seed": "fixed", "actions": "greedy"}),
        "final": points[-1][1],
        "final_step": points[-1][0],
        "best": best[1],
        "best_step": best[0],
        "first_step_at_threshold": reached,
    }


def held_out(run_dir: str, episodes: int) -> dict:
    """The final and the best policy on the run seed's held-out episodes, greedy and sampled."""
    cfg = train.load_config(os.path.join(run_dir, "config.yaml"))
    seed = EvalProtocol(cfg.seed, "fresh").seed(episodes, None)
    out = {}
    for name, file in (("final", "policy.pt"), ("best", "policy_best.pt")):
        policy = Policy.load(os.path.join(run_dir, file))
        for greedy in (True, False):
            generator = None if greedy else torch.Generator().manual_seed(seed)

            def act(obs, mask, state, hidden, policy=policy, greedy=greedy, g=generator):
                return policy.act(obs, mask, hidden, greedy=greedy, generator=g)

            results = evaluate(act, lambda b: train.make_env(cfg, b), episodes, seed)
            key = f"{name}_{'greedy' if greedy else 'sampled'}"
            out[key] = float(np.mean(results["return"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("runs", nargs="+", help="train.py run directories")
    parser.add_argument("--episodes", type=int, default=320, help="held-out episodes per figure")
    parser.add_argument("--threshold", type=float, default=0.9, help="for the first step at it")
    parser.add_argument("--out", help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    rows = []
    for run_dir in args.runs:
        row = {"run": run_dir, **in_run_figures(run_dir, args.threshold)}
        row["held_out"] = held_out(run_dir, args.episodes)
        rows.append(row)
        h, p = row["held_out"], row["protocol"]
        print(
            f"{run_dir}: in-run ({p['episodes_seed']}, {p['actions']}) final {row['final']:.3f}, "
            f"best {row['best']:.3f} at {row['best_step']}, >= {args.threshold} at "
            f"{row['first_step_at_threshold']}; held-out {args.episodes} episodes: "
            f"final greedy {h['final_greedy']:.3f} sampled {h['final_sampled']:.3f}, "
            f"best greedy {h['best_greedy']:.3f} sampled {h['best_sampled']:.3f}"
        )
    if args.out:
        write_json(args.out, {"episodes": args.episodes, "runs": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
