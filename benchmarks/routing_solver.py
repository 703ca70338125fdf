"""Equilibrium solver speed: time to a relative gap of 1e-4 on Sioux Falls and Anaheim (issue 6).

For each network, objective (UE, SO) and method (bi-conjugate, conjugate, plain Frank-Wolfe)
the solve runs ``--repeats`` times on a freshly read network (so building the search graph
counts) and the best and median wall times are reported with the iterations, the gap reached
and the TSTT; Sioux Falls' UE TSTT is compared with the best-known 7,480,225. The time to
build the env's route sets (k shortest paths by Yen's algorithm) is reported too, and, as a
reference for the learning benchmark (not a learner), where scripted myopic drivers end: each
day a driver moves, with a probability decaying as 0.2 / (1 + day / 10), to the route that was
strictly fastest the day before.

    python benchmarks/routing_solver.py                      # markdown table on stdout
    python benchmarks/routing_solver.py --gap 1e-5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

import envs
from envs.routing import k_shortest_paths, solve
from envs.routing.tntp import DATA_DIR, SHIPPED, load_tntp

SIOUX_FALLS_UE_TSTT = 7_480_225


def fresh(name: str):
    """A newly read network (nothing cached on it)."""
    folder, net, trips, nodes = SHIPPED[name]
    base = DATA_DIR / folder
    return load_tntp(base / net, base / trips, base / nodes if nodes else None, name=folder)


def time_solve(
    name: str, objective: str, method: str, gap: float, repeats: int, max_iterations: int
) -> dict:
    seconds, result = [], None
    for _ in range(repeats):
        network = fresh(name)
        started = time.perf_counter()
        result = solve(network, objective, gap=gap, method=method, max_iterations=max_iterations)
        seconds.append(time.perf_counter() - started)
    row = {
        "network": name,
        "objective": objective,
        "method": method,
        "gap_target": gap,
        "best_s": min(seconds),
        "median_s": float(np.median(seconds)),
        "iterations": result.iterations,
        "gap": result.gap,
        "converged": result.converged,
        "tstt": result.tstt,
    }
    if name == "siouxfalls" and objective == "ue":
        row["tstt_vs_best_known"] = result.tstt / SIOUX_FALLS_UE_TSTT - 1.0
    return row


def time_routes(name: str, k: int, repeats: int) -> dict:
    seconds = []
    for _ in range(repeats):
        network = fresh(name)
        started = time.perf_counter()
        paths = k_shortest_paths(network, k)
        seconds.append(time.perf_counter() - started)
    return {
        "network": name,
        "k": k,
        "best_s": min(seconds),
        "median_s": float(np.median(seconds)),
        "paths": paths.num_paths,
        "od_pairs": len(paths.offsets) - 1,
    }


def best_response(name: str, routes: str, num_agents: int | None, days: int, seed: int) -> dict:
    """Last-day metrics of scripted myopic drivers (see the module docstring)."""
    core = envs.make_vec(
        "routing-v0", 1, network=name, num_agents=num_agents, routes=routes, max_days=days + 1
    )
    obs, _ = core.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = np.zeros((1, core.num_agents), dtype=np.int64)
    first = 2 * core.network.num_zones
    for day in range(days):
        obs, *_, info = core.step(actions)
        times = obs[..., first : first + core.k]
        own = np.take_along_axis(times, actions[..., None], axis=2)[..., 0]
        move = (times.min(-1) < own * (1 - 1e-9)) & (
            rng.random(actions.shape) < 0.2 / (1 + day / 10)
        )
        actions = np.where(move, times.argmin(-1), actions)
    row = {"network": name, "routes": routes, "drivers": core.num_agents, "days": days}
    row.update({key: float(value[0]) for key, value in info["metrics"].items()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--networks", nargs="+", default=["siouxfalls", "anaheim"], choices=sorted(SHIPPED)
    )
    parser.add_argument(
        "--methods", nargs="+", default=["bfw", "cfw", "fw"], choices=["bfw", "cfw", "fw"]
    )
    parser.add_argument("--gap", type=float, default=1e-4, help="relative gap to reach")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--fw-max-iterations",
        type=int,
        default=3000,
        help="cap for plain Frank-Wolfe, which may need far more iterations",
    )
    parser.add_argument(
        "--k", type=int, default=3, help="routes per OD pair for the route-set timing"
    )
    parser.add_argument(
        "--days", type=int, default=300, help="days of the scripted best-response drivers"
    )
    parser.add_argument(
        "--drivers", type=int, default=None, help="drivers (default: the registered ids')"
    )
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()

    rows = []
    for name in args.networks:
        for objective in ("ue", "so"):
            for method in args.methods:
                cap = args.fw_max_iterations if method == "fw" else 100_000
                rows.append(time_solve(name, objective, method, args.gap, args.repeats, cap))
    routes = [time_routes(name, args.k, args.repeats) for name in args.networks]
    drivers = {"braess": 6, "siouxfalls": 1000, "anaheim": 2000}
    dynamics = [
        best_response(name, kind, args.drivers or drivers[name], args.days, seed=0)
        for name in args.networks
        for kind in ("equilibrium", "free_flow")
    ]

    print(
        f"# Equilibrium solvers to relative gap {args.gap:g} ({platform.processor() or platform.machine()}, "
        f"numpy {np.__version__}, best / median of {args.repeats})\n"
    )
    print("| network | objective | method | best s | median s | iterations | gap | TSTT | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        note = "" if r["converged"] else f"not converged (cap {args.fw_max_iterations})"
        if "tstt_vs_best_known" in r:
            note = (
                note + " " if note else ""
            ) + f"{100 * r['tstt_vs_best_known']:+.3f}% vs best-known"
        print(
            f"| {r['network']} | {r['objective'].upper()} | {r['method']} | {r['best_s']:.3f} | "
            f"{r['median_s']:.3f} | {r['iterations']} | {r['gap']:.2e} | {r['tstt']:,.0f} | {note} |"
        )
    print(f"\n# Route sets ({args.k} shortest loop-free paths per OD pair, Yen)\n")
    print("| network | OD pairs | paths | best s | median s |")
    print("|---|---|---|---|---|")
    for r in routes:
        print(
            f"| {r['network']} | {r['od_pairs']} | {r['paths']} | {r['best_s']:.3f} | {r['median_s']:.3f} |"
        )
    print(
        f"\n# Scripted best-response drivers after {args.days} days (k = 3; a reference, not a learner)\n"
    )
    print(
        "| network | routes | drivers | TSTT / UE TSTT | relative gap | route gap | TSTT / SO TSTT |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in dynamics:
        print(
            f"| {r['network']} | {r['routes']} | {r['drivers']} | {r['ue_ratio']:.4f} | "
            f"{r['relative_gap']:.4f} | {r['route_gap']:.4f} | {r['price_of_anarchy']:.4f} |"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"solvers": rows, "routes": routes, "best_response": dynamics}, handle, indent=2
            )


if __name__ == "__main__":
    main()
