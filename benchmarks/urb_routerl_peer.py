"""RouteRL's side of the URB side-by-side (benchmarks/urb_side_by_side.py); run it with a Python
that has ``routerl`` and ``eclipse-sumo`` (a scratch venv: marlgym itself is not imported).

Humans only, RouteRL 2.0.0's defaults (Gawron, alpha 0.2, beta 1.5 +- 0.1, 3 routes from its
own path generation), on one of RouteRL's networks with marlgym's demand file (the same trips:
origins and destinations as indices into RouteRL's default lists). Prints one JSON line: days
per second of the day loop and the mean human travel time (minutes) of every day.

    SUMO_HOME=.../site-packages/sumo PATH=$SUMO_HOME/bin:$PATH \\
        python benchmarks/urb_routerl_peer.py nguyen 50 envs/routing/data/sumo/nguyen/nguyen_demand.csv
"""

import csv
import json
import os
import sys
import tempfile
import time

import numpy as np
import routerl
from routerl import TrafficEnvironment


def main() -> None:
    net, days, demand = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(os.path.join(os.path.dirname(routerl.__file__), "networks", "default_ods.json")) as f:
        ods = json.load(f)[net]
    work = tempfile.mkdtemp(prefix=f"routerl-{net}-")
    records = os.path.join(work, "records")
    os.makedirs(records)
    with open(demand, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(records, "agents.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "origin", "destination", "start_time", "kind"])
        for r in rows:
            w.writerow(
                [
                    int(r["id"]),
                    ods["origins"].index(r["origin"]),
                    ods["destinations"].index(r["destination"]),
                    int(float(r["start_time"])),
                    "Human",
                ]
            )
    env = TrafficEnvironment(
        seed=42,
        create_agents=False,
        create_paths=True,
        agent_parameters={"num_agents": len(rows), "new_machines_after_mutation": 0},
        simulator_parameters={"network_name": net, "sumo_type": "sumo"},
        path_generation_parameters={"number_of_paths": 3, "visualize_paths": False},
        plotter_parameters={"records_folder": records, "plots_folder": os.path.join(work, "plots")},
    )
    env.start()
    env.reset()
    means, start = [], time.perf_counter()
    try:
        for _ in range(days):
            env.step()
            means.append(float(np.mean([-a.last_reward for a in env.human_agents])))
    finally:
        env.stop_simulation()
    seconds = time.perf_counter() - start
    print(
        json.dumps({"network": net, "days": days, "days_per_s": days / seconds, "mean_time": means})
    )


if __name__ == "__main__":
    main()
