"""Which strategy pays best in a population of scripted donors: is discrimination a best response?

Learned indirect reciprocity needs more than a population that happens to discriminate: each
donor must gain by discriminating while the others do, or independent learners drift away from
it. This script measures that in the donor env itself (the seeded benchmark's settings: 12
donors, 12 rounds, errors 0.02, time-blind): one focal donor plays a fixed strategy among 11
residents that all play another, and its return (the change of its resources over an episode,
what a learner maximises) is averaged over ``--episodes`` copies. Strategies are the donor family's
registered scripted policies (:mod:`envs.scripted`): ``discriminator`` (all to good recipients,
nothing to bad ones; good is a score >= 0 under image scoring), ``always-cooperate`` and
``always-defect``. Every focal strategy
plays the same episodes (one env seed per resident population), so the differences between
focal strategies are paired; the table gives each one's gain over the resident strategy's own
return with its standard error.

    python -m benchmarks.donor_best_response --save
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.learning_runs import markdown_table  # noqa: E402
from envs.donor.core import DonorCore  # noqa: E402
from envs.donor.norms import NORMS  # noqa: E402
from envs.scripted import scripted_policies  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "donor" / "best_response"
STRATEGIES = ("discriminator", "always-cooperate", "always-defect")


def focal_returns(
    norm: str, resident: str, focal: str, episodes: int, seed: int, num_agents: int = 12
) -> np.ndarray:
    """``[episodes]`` returns of donor 0 playing ``focal`` among ``num_agents - 1`` residents."""
    env = DonorCore(
        episodes, num_agents=num_agents, norm=norm, observe_round=False, observe_resources=False
    )
    obs, _ = env.reset(seed=seed)
    builders = scripted_policies(env)
    play_focal, play_resident = builders[focal](env), builders[resident](env)
    total = np.zeros(episodes)
    for _ in range(env.num_rounds):
        actions = play_resident(obs, env)
        actions[:, 0] = play_focal(obs[:, :1], env)[:, 0]
        obs, rewards, _, _, _ = env.step(actions)
        total += rewards[:, 0]
    return total


def best_responses(norms, episodes: int, seed: int) -> list[dict]:
    """One row per (norm, resident): every focal strategy's mean return and paired gain."""
    rows = []
    for norm in norms:
        for resident in STRATEGIES:
            returns = {f: focal_returns(norm, resident, f, episodes, seed) for f in STRATEGIES}
            own = returns[resident]
            gains = {
                f: {
                    "gain": float(np.mean(r - own)),
                    "stderr": float(np.std(r - own, ddof=1) / np.sqrt(episodes)),
                }
                for f, r in returns.items()
                if f != resident
            }
            best = max(returns, key=lambda f: float(np.mean(returns[f])))
            rows.append(
                {
                    "norm": norm,
                    "resident": resident,
                    "mean_return": {f: float(np.mean(r)) for f, r in returns.items()},
                    "gain_over_resident": gains,
                    "best_focal": best,
                    "resident_is_best_response": best == resident,
                }
            )
    return rows


def table(rows: list[dict]) -> str:
    header = ("norm", "residents", *(f"focal {f}: return" for f in STRATEGIES), "best focal")

    def cell(row, f):
        mean = row["mean_return"][f]
        if f == row["resident"]:
            return f"{mean:,.0f} (resident)"
        g = row["gain_over_resident"][f]
        return f"{mean:,.0f} ({g['gain']:+,.0f} ± {g['stderr']:,.0f})"

    return markdown_table(
        header,
        [
            [r["norm"], r["resident"], *(cell(r, f) for f in STRATEGIES), r["best_focal"]]
            for r in rows
        ],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--norms", nargs="+", default=sorted(NORMS), choices=sorted(NORMS), help="norms (all)"
    )
    parser.add_argument("--episodes", type=int, default=20_000, help="episodes per cell")
    parser.add_argument("--seed", type=int, default=0, help="env seed (the same for every focal)")
    parser.add_argument("--save", action="store_true", help=f"write results to {OUT}")
    args = parser.parse_args(argv)
    if args.episodes < 2:
        parser.error(
            f"--episodes must be at least 2 (a standard error needs two), got {args.episodes}"
        )
    rows = best_responses(args.norms, args.episodes, args.seed)
    text = table(rows)
    print(text)
    if args.save:
        OUT.mkdir(parents=True, exist_ok=True)
        settings = {"episodes": args.episodes, "seed": args.seed, "norms": args.norms}
        (OUT / "results.json").write_text(
            json.dumps({"settings": settings, "rows": rows}, indent=1)
        )
        (OUT / "results.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
