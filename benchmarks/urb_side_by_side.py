"""URB side by side with RouteRL: simulated days per second and humans' settled travel times.

Humans only (URB's first phase), RouteRL 2.0.0's Gawron defaults, the same network and trips:

- marlgym's SUMO backend (:class:`~envs.routing.urb_sumo.UrbSumoCore`, one headless SUMO run
  per day) on a shipped SUMO network with its demand file;
- marlgym's analytic backend (:class:`~envs.routing.urb.UrbCore`, BPR) on the same network as
  converted for the SUMO backend (capacities and BPR parameters assumed there, so its times
  are not SUMO's: it is here for speed), and on Sioux Falls with its registered settings;
- RouteRL itself, from the JSON line of ``benchmarks/urb_routerl_peer.py`` (``--routerl``),
  which must be run in an environment with ``routerl`` installed.

"Settled" is the mean over the last ``--tail`` of ``--days`` human-learning days.

    python benchmarks/urb_side_by_side.py --routerl routerl_nguyen.json --save
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

import envs
from envs.routing.urb import UrbCore
from envs.routing.urb_sumo import UrbSumoCore, load_shipped_scenario

ROOT = Path(__file__).resolve().parent.parent


def settle(core, days: int, seed: int) -> dict:
    """Time the human-learning phase (one reset); its per-day mean times of copy 0."""
    start = time.perf_counter()
    core.reset(seed=seed)
    seconds = time.perf_counter() - start
    curve = core.human_learning_curve[0]
    return {"days": days, "days_per_s": days * core.num_envs / seconds, "mean_time": curve.tolist()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--network", default="nguyen")
    parser.add_argument("--days", type=int, default=50)
    parser.add_argument("--tail", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--routerl", help="the JSON line urb_routerl_peer.py printed")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/urb/")
    args = parser.parse_args(argv)

    scenario = load_shipped_scenario(args.network)
    common = {"human_learning_days": args.days, "cav_share": 0.05}
    results = {
        f"marlgym SUMO ({args.network})": settle(
            UrbSumoCore(1, network=scenario, **common), args.days, args.seed
        ),
        f"marlgym analytic ({args.network} as BPR)": settle(
            UrbCore(1, network=scenario.network, num_drivers=len(scenario.trips), **common),
            args.days,
            args.seed,
        ),
        "marlgym analytic (urb-siouxfalls-v0)": settle(
            envs.make_vec("urb-siouxfalls-v0", 1, **common), args.days, args.seed
        ),
    }
    if args.routerl:
        with open(args.routerl) as f:
            results[f"RouteRL 2.0.0 ({args.network})"] = json.loads(
                f.read().strip().splitlines()[-1]
            )
    rows = []
    for label, res in results.items():
        curve = np.asarray(res["mean_time"])
        tail = curve[-args.tail :]
        rows.append(
            f"| {label} | {res['days']} | {res['days_per_s']:.2f} | {curve[0]:.2f} | "
            f"{tail.mean():.2f} | {tail.std():.2f} |"
        )
    table = "\n".join(
        [
            f"| backend | days | days/s | day-1 mean time | settled mean time (last {args.tail}) | sd |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    if args.save:
        out = ROOT / "benchmarks" / "results" / "urb"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"side_by_side_{args.network}.md").write_text(table + "\n")
        payload = {"args": vars(args), "results": results}
        (out / f"side_by_side_{args.network}.json").write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
