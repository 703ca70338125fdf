"""How large MANSA's sub-learners' Q-values grow: a check for off-policy divergence (value pairing).

    python -m benchmarks.mansa_q_growth --env-steps 900000 --evaluate 100      # MANSA's defaults (in-sample CL targets)
    python -m benchmarks.mansa_q_growth --env-steps 900000 algo.cl_bootstrap=greedy   # Q-learning targets: diverge
    python -m benchmarks.mansa_q_growth --env-steps 900000 algo.cl_bootstrap=greedy algo.switcher.mode=il algo.cl=vdn

Trains one MANSA run (a one-run grid through the launchers: IQL + QMIX, 32 copies of
Foraging-8x8-2p-2f-coop-v3, seed 0, ``MANSAConfig``'s defaults unless overridden) and prints,
every ``--every`` env steps, the mean Q of the taken joint action (``losses/<side>/q_taken``
in the run's metrics.jsonl) of the CL and IL learners. A learner that learns from another's
steps can diverge: its Q-values then grow without bound until a gradient norm overflows, and
the run stops naming the side (``cl/grad_norm``). With ``switcher.mode=il`` the CL learner
never acts and learns only from IQL's steps. (benchmarks/results/mansa/value_2m/README.md has
the runs.) A finished run is read back, not trained again.
"""

from __future__ import annotations

import argparse

from benchmarks.grid import add_launcher_arguments, grid_from_dict, launcher_from_args, run_grid
from benchmarks.launchers import Launcher, SerialLauncher
from benchmarks.mansa import SIDES, learners_alone
from benchmarks.run_dirs import greedy_return, load_learner, metrics_rows

GRID = {
    "name": "mansa_q_growth",
    "seeds": [0],
    "envs": ["Foraging-8x8-2p-2f-coop-v3"],
    "algorithms": [{"name": "mansa", "overrides": ["algo.il=iql", "algo.cl=qmix"]}],
    "overrides": {
        "env.num_envs": 32,
        "eval.every_env_steps": 0,
        "eval.absolute_episodes": 0,
        "log.tensorboard": False,
    },
}


def q_growth(
    overrides: list[str],
    env_steps: int,
    every: int,
    evaluate_episodes: int = 0,
    launcher: Launcher | None = None,
    runs_dir: str = "runs/mansa_q_growth",
) -> tuple[list[dict], str | None, dict | None]:
    """Q of the taken action per side at every ``every`` env steps, the error that stopped the run
    (if any), and with ``evaluate_episodes`` (and no error) the final figures of :func:`final_returns`."""
    data = {**GRID, "runs_dir": runs_dir, "out": runs_dir}
    rest = []
    for item in overrides:  # the env and the seed are the grid's cell: they go there
        key, _, value = item.partition("=")
        if key == "env.id":
            data["envs"] = [value]
        elif key == "seed":
            data["seeds"] = [int(value)]
        else:
            rest.append(item)
    grid = grid_from_dict(data, last_overrides=[*rest, f"total_env_steps={env_steps}"])
    (row,) = run_grid(grid, launcher or SerialLauncher(), log=lambda _: None)
    points, next_point = [], every
    updates = [r for r in metrics_rows(row.cell.spec.run_dir) if "charts/SPS" in r]
    for metrics in updates:
        if metrics["env_steps"] >= next_point:
            points.append(
                {
                    "env_steps": metrics["env_steps"],
                    **{side: metrics.get(f"losses/{side}/q_taken") for side in SIDES},
                }
            )
            next_point += every
    if not row.record.done:
        return points, f"stopped at {row.record.env_steps:,} steps: {row.record.error}", None
    if not evaluate_episodes:
        return points, None, None
    final = final_returns(row.cell.spec.run_dir, evaluate_episodes)
    final["train_cl_fraction"] = updates[-1]["mansa/cl_fraction_total"]
    return points, None, final


def final_returns(run_dir: str, episodes: int) -> dict:
    """Greedy returns of MANSA's joint policy (learners greedy, switcher sampled: ``act``'s default)
    and of its IL and CL learners alone, on the same episodes (``final``), rebuilt from the run's
    last checkpoint."""
    import numpy as np

    learner, cfg = load_learner(run_dir)
    players = {"mansa": learner.act, **learners_alone(learner)}
    returns = {
        name: float(np.mean(greedy_return(act, cfg, episodes, needs_state=True)["return"]))
        for name, act in players.items()
    }
    return {"final": returns}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "overrides", nargs="*", help="train.py overrides on top of the grid's (KEY=VALUE)"
    )
    parser.add_argument("--env-steps", type=int, default=900_000)
    parser.add_argument(
        "--every", type=int, default=32_000, help="env steps between printed points"
    )
    parser.add_argument(
        "--evaluate",
        type=int,
        default=0,
        metavar="EPISODES",
        help="at the end, greedy returns of MANSA, its IL and its CL over this many episodes",
    )
    add_launcher_arguments(parser, jobs=1)
    parser.add_argument("--runs-dir", default="runs/mansa_q_growth", help="where the run goes")
    args = parser.parse_args(argv)
    points, error, final = q_growth(
        args.overrides,
        args.env_steps,
        args.every,
        args.evaluate,
        launcher_from_args(args),
        args.runs_dir,
    )
    print("env steps | CL q_taken | IL q_taken")
    for p in points:  # a side that has not updated yet has no Q to show
        cl, il = ("-" if p[side] is None else f"{p[side]:.4g}" for side in ("cl", "il"))
        print(f"{p['env_steps']:>9,} | {cl:>10} | {il:>10}")
    if error:
        print(error)
    if final:
        print(
            "final greedy return: "
            + ", ".join(f"{k} {v:.3f}" for k, v in final["final"].items())
            + f"; CL calls in training {100 * final['train_cl_fraction']:.2f}%"
        )


if __name__ == "__main__":
    main()
