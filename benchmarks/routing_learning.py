"""Learning benchmark of issue 6: do learning drivers find the user equilibrium (and, altruistic, the system optimum)?

Targets: selfish IPPO drivers on Braess (routing-braess-v0, 6 drivers) end near the
user-equilibrium split (2/2/2, TSTT 552; the system optimum is 3/3/0, TSTT 498); on Sioux
Falls (routing-siouxfalls-v0, 1000 drivers) their flows end near user equilibrium; drivers
rewarded with the mean travel time of everyone (``reward="altruistic"``) move towards the
system optimum. After training, each run's final policy (``policy.pt``) drives
``--days``-day episodes greedily, and the table gives, over the last ``--tail`` days, the
TSTT, its ratio to the UE TSTT (``ue_ratio``) and to the SO TSTT (``price_of_anarchy``), the
relative gap, and for Braess the route split (drivers per route on the last day). The
episode means of the trainer's own greedy evaluation (which include the first, exploratory
days) are kept in the results file.

Criterion (selfish drivers): the relative gap of their flows to user equilibrium (over the
whole network) must be at most ``GAP_FRACTION`` (1/2) of the gap of the system-optimum flows,
so that the system optimum itself fails it; a TSTT band does not do that (on Sioux Falls
UE/SO = 1.040 lies inside UE +- 5%). Route sets are each OD pair's k shortest paths under
free-flow times (``ROUTE_SETS``), never the equilibrium's routes; Sioux Falls gets k = 8,
because with 3 free-flow routes even the best split the route sets allow (the "restricted
UE" reference row: each OD pair split over its routes as at the equilibrium restricted to
them, rounded to whole drivers) has a gap above the pass mark.

Criterion (altruistic drivers), the mirror image: the relative gap of their flows to the system
optimum (``so_relative_gap``: the gap under marginal link costs) must be at most
``GAP_FRACTION`` of the user-equilibrium flows' gap to it, so that UE itself fails.

    python benchmarks/routing_learning.py                                  # all four conditions, seed 0
    python benchmarks/routing_learning.py --conditions braess_selfish braess_altruistic --seeds 0 1 2
    python benchmarks/routing_learning.py --save                           # + benchmarks/results/routing/

The runs are the grid ``benchmarks/routing_learning.yaml`` (:mod:`benchmarks.grid`: a condition
is a network x a reward), run through the launchers (a process pool, ``--jobs`` at once, or
``--launcher ray``) into ``--log-dir`` (the grid's ``runs_dir`` by default); a finished run is
not trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np
import torch
import yaml
from omegaconf import OmegaConf

import envs
from agents.policy import Policy
from benchmarks.grid import Cell
from benchmarks.learning_runs import (
    ROOT,
    add_learning_arguments,
    load_learning_grid,
    markdown_table,
    print_or_save,
    run_learning_grid,
)
from envs.routing import UserEquilibriumRoutes, reference, relative_gap

CONDITIONS = ("braess_selfish", "braess_altruistic", "siouxfalls_selfish", "siouxfalls_altruistic")
METRICS = ("tstt", "ue_ratio", "price_of_anarchy", "relative_gap", "route_gap")
#: Route sets per network label (env kwargs added to the grid's): k shortest free-flow paths.
ROUTE_SETS = {"braess": {"routes": "free_flow"}, "siouxfalls": {"routes": "free_flow", "k": 8}}
#: A selfish run passes if its relative gap is at most this fraction of the SO flows' gap.
GAP_FRACTION = 0.5


def so_gap(network) -> float:
    """The relative gap to user equilibrium of the system-optimum link flows."""
    return float(relative_gap(network, reference(network, "so").link_flows, "ue"))


def ue_so_gap(network) -> float:
    """The relative gap to the system optimum of the user-equilibrium link flows."""
    return float(relative_gap(network, reference(network, "ue").link_flows, "so"))


def ue_target(res: dict[str, float | str]) -> str:
    """The selfish criterion's verdict: relative gap at most ``GAP_FRACTION`` of the SO gap."""
    mark = GAP_FRACTION * res["so_gap"]
    return f"gap <= {mark:.4f}: {'yes' if res['relative_gap'] <= mark else 'no'}"


def so_target(res: dict[str, float | str]) -> str:
    """The altruistic criterion's verdict: gap to SO at most ``GAP_FRACTION`` of UE's gap to SO."""
    mark = GAP_FRACTION * res["ue_so_gap"]
    return f"SO gap <= {mark:.4f}: {'yes' if res['so_relative_gap'] <= mark else 'no'}"


def target(label: str, res: dict[str, float | str]) -> str:
    """The verdict of a condition's criterion (altruistic: against SO; else against UE)."""
    return so_target(res) if label.endswith("altruistic") else ue_target(res)


def route_set_envs(grid_file: str) -> list[dict]:
    """The grid file's env entries with ``ROUTE_SETS``' keyword arguments added by label."""
    with open(grid_file) as f:
        entries = (yaml.safe_load(f) or {}).get("envs") or []
    return [
        {**e, "kwargs": {**(e.get("kwargs") or {}), **ROUTE_SETS.get(e.get("label"), {})}}
        for e in entries
    ]


def play(env, act, days: int, tail: int, seed: int) -> dict[str, float | str]:
    """Drive ``days`` days with ``act(obs, mask) -> actions``; metrics over the last ``tail`` days.

    Also the flows' relative gap to the system optimum (``so_relative_gap``), the UE and SO
    TSTT, the SO flows' relative gap to UE (``so_gap``) and the UE flows' to SO
    (``ue_so_gap``), and for a one-OD network (Braess) the drivers per route on the last day
    of copy 0. ``env`` must last more than ``days`` days (an ended episode would be
    reset before its last routes could be read).
    """
    obs, _ = env.reset(seed=seed)
    history = {name: [] for name in METRICS}
    to_so = []
    for day in range(days):
        obs, _, _, _, info = env.step(act(obs, env.action_mask()))
        for name in METRICS:
            history[name].append(info["metrics"][name])
        if day >= days - tail:
            to_so.append([relative_gap(env.network, flows, "so") for flows in env.link_flow])
    out: dict[str, float | str] = {name: float(np.mean(v[-tail:])) for name, v in history.items()}
    out["so_relative_gap"] = float(np.mean(to_so))
    out["ue_tstt"], out["so_tstt"] = float(env.ue.tstt), float(env.so.tstt)
    out["so_gap"] = so_gap(env.network)
    out["ue_so_gap"] = ue_so_gap(env.network)
    if env.network.num_od_pairs == 1:
        last = env.last_routes[0]
        out["split"] = "/".join(
            str(int((last == r).sum())) for r in range(env.paths.incidence.shape[0])
        )
    return out


def drive(
    run_dir: Path, days: int, tail: int, copies: int, seed: int, greedy: bool
) -> dict[str, float | str]:
    """Play a run's final policy (``policy.pt``) on its own env settings, greedily or sampling.

    The final policy, not ``policy_best.pt``: the best greedy *return* of selfish drivers can
    belong to a non-equilibrium split with a lower TSTT that learning later leaves.

    Sampling matters where drivers with the same observation share a network: their greedy
    actions coincide (all of an OD pair on one route), while the population they learned as
    is a mixture.
    """
    cfg = OmegaConf.load(run_dir / "config.yaml")
    env = envs.make_vec(
        str(cfg.env.id), copies, **{**OmegaConf.to_container(cfg.env.kwargs), "max_days": days + 1}
    )
    policy = Policy.load(run_dir / "policy.pt")
    try:
        generator = torch.Generator().manual_seed(seed)
        return play(
            env,
            lambda obs, mask: policy.act(obs, mask, greedy=greedy, generator=generator)[0],
            days,
            tail,
            seed,
        )
    finally:
        env.close()


def condition(cell: Cell) -> str:
    """A run's condition: ``<network>_<reward>``, e.g. ``braess_selfish``."""
    return f"{cell.env.label}_{cell.algo.label}"


def random_routes(
    env_id: str, days: int, tail: int, copies: int, seed: int, **kwargs
) -> dict[str, float | str]:
    """Reference: every driver picks one of its valid routes uniformly at random every day."""
    env = envs.make_vec(env_id, copies, **{**kwargs, "max_days": days + 1})
    rng = np.random.default_rng(seed)

    def act(obs, mask):
        return (rng.random(mask.shape) * mask).argmax(axis=-1)

    try:
        return play(env, act, days, tail, seed)
    finally:
        env.close()


def restricted_equilibrium(env_id: str, seed: int, **kwargs) -> dict[str, float | str]:
    """Reference: every day each OD pair's drivers split as at the UE restricted to its routes
    (rounded to whole drivers): the best the route sets and the drivers allow."""
    env = envs.make_vec(env_id, 1, **{**kwargs, "max_days": 2})
    policy = UserEquilibriumRoutes(env)
    try:
        return play(env, lambda obs, mask: policy(obs, env), 1, 1, seed)
    finally:
        env.close()


def _figures(res: dict[str, float | str]) -> list[float | str]:
    """A driven result's table cells, from TSTT to the route split."""
    keys = (
        "tstt",
        "ue_tstt",
        "so_tstt",
        "ue_ratio",
        "price_of_anarchy",
        "relative_gap",
        "route_gap",
        "so_relative_gap",
    )
    return [*(res[k] for k in keys), res.get("split", "-")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--conditions", nargs="+", choices=sorted(CONDITIONS), default=list(CONDITIONS)
    )
    add_learning_arguments(parser, "routing_learning.yaml")
    parser.add_argument("--days", type=int, default=50, help="days driven by the trained policy")
    parser.add_argument("--tail", type=int, default=10, help="last days averaged")
    parser.add_argument("--copies", type=int, default=8, help="env copies driven (averaged)")
    parser.add_argument(
        "--save", action="store_true", help="write benchmarks/results/routing/<--name>.{json,md}"
    )
    parser.add_argument("--name", default="learning", help="results file name (without extension)")
    parser.add_argument(
        "--redrive",
        metavar="JSON",
        help="drive the runs of a saved results file again (no training); with --save, overwrite it",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.tail <= args.days:
        raise SystemExit(f"--tail must be in [1, --days={args.days}], got {args.tail}")

    grid = load_learning_grid(args, envs=route_set_envs(args.grid))
    if args.redrive:
        with open(args.redrive) as f:
            saved = json.load(f)
        records = saved["runs"]
        args.conditions = list(dict.fromkeys(r["label"] for r in records))
        args.seeds, args.extra, args.name = saved["seeds"], saved["extra"], Path(args.redrive).stem
    else:
        records = run_learning_grid(
            grid, args, label=condition, select=lambda cell: condition(cell) in args.conditions
        )
        args.seeds = grid.seeds
    header = [
        "condition",
        "seed",
        "play",
        "TSTT",
        "UE TSTT",
        "SO TSTT",
        "ue_ratio",
        "price_of_anarchy",
        "relative_gap",
        "route_gap",
        "SO relative gap",
        "split (last day)",
        "target",
    ]
    rows = []
    for record in records:
        if "error" in record:
            rows.append([record["label"], record["seed"], "failed", *["-"] * 10])
            continue
        run_dir = ROOT / record["run_dir"]
        for play_mode in ("greedy", "sampled"):
            record[f"driven_{play_mode}"] = res = drive(
                run_dir,
                args.days,
                args.tail,
                args.copies,
                seed=10_000 + record["seed"],
                greedy=play_mode == "greedy",
            )
            verdict = target(record["label"], res)
            rows.append([record["label"], record["seed"], play_mode, *_figures(res), verdict])
    references = {}
    for env in grid.envs:
        network = env.label
        if not any(name.startswith(f"{network}_") for name in args.conditions):
            continue
        references[network] = res = random_routes(
            env.id, args.days, args.tail, args.copies, seed=99, **env.kwargs
        )
        rows.append([f"{network} random routes", "-", "-", *_figures(res), "reference"])
        references[f"{network}_restricted_ue"] = res = restricted_equilibrium(
            env.id, seed=99, **env.kwargs
        )
        verdict = f"{ue_target(res)}; {so_target(res)}"
        rows.append([f"{network} restricted UE", "-", "-", *_figures(res), verdict])
        net = envs.make_vec(env.id, 1, **env.kwargs).network
        for name in ("so", "ue"):  # the equilibria's own gaps: ~0 (solved to REFERENCE_GAP)
            flows = reference(net, name).link_flows
            gaps = [f"{relative_gap(net, flows, o):.4f}" for o in ("ue", "so")]
            row = [f"{network} {name.upper()} flows", "-", "-", *["-"] * 5]
            rows.append([*row, gaps[0], "-", gaps[1], "-", "-"])
    payload = {
        "references": references,
        "seeds": args.seeds,
        "extra": args.extra,
        "days": args.days,
        "tail": args.tail,
        "runs": records,
    }
    table = markdown_table(header, rows)
    title = f"Route choice: learned assignments (last {args.tail} of {args.days} days)"
    print_or_save(args, "routing", title, table, payload, "driven_greedy")


if __name__ == "__main__":
    main()
