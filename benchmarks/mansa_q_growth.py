"""How large MANSA's sub-learners' Q-values grow: a check for off-policy divergence (value pairing).

    python -m benchmarks.mansa_q_growth --env-steps 900000 --evaluate 100      # MANSA's defaults (in-sample CL targets)
    python -m benchmarks.mansa_q_growth --env-steps 900000 algo.cl_cfg.bootstrap=greedy   # Q-learning targets: diverge
    python -m benchmarks.mansa_q_growth --env-steps 900000 algo.cl_cfg.bootstrap=greedy algo.switcher.mode=il algo.cl=vdn

Trains one MANSA run (the value pairing, the MANSA grid's settings unless overridden:
IQL + QMIX, 32 copies of Foraging-8x8-2p-2f-coop-v3, cost 0.01, budget 2 per episode,
rollout_length 10) and prints, every ``--every`` env steps, the mean Q of the taken joint
action (``losses/<side>/q_taken``) of the CL and IL learners. A learner that learns from
another's steps can diverge: its Q-values then grow without bound until a gradient norm
overflows, and the run stops naming the side (``cl/grad_norm``). With
``switcher.mode=il`` the CL learner never acts and learns only from IQL's steps.
(benchmarks/results/mansa/value_2m/README.md has the runs.)
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.mansa import MANSA_DEFAULTS, SIDES, learners_alone

GRID = (
    "env.id=Foraging-8x8-2p-2f-coop-v3",
    "env.num_envs=32",
    "seed=0",
    "algo=mansa",
    "algo.il=iql",
    "algo.cl=qmix",
    *(f"algo.{kv}" for kv in MANSA_DEFAULTS),
    "algo.rollout_length=10",
)


def q_growth(
    overrides: list[str], env_steps: int, every: int, evaluate_episodes: int = 0
) -> tuple[list[dict], str | None, dict | None]:
    """Q of the taken action per side at every ``every`` env steps, the error that stopped the run
    (if any), and with ``evaluate_episodes`` (and no error) the final figures of :func:`final_returns`."""
    from algorithms import NonFiniteLossError
    from train import build, load_config

    cfg = load_config(None, [*GRID, *overrides])
    _, learner = build(cfg)
    points, next_point = [], every
    try:
        while learner.env_steps < env_steps:
            metrics = learner.train_iteration()
            if learner.env_steps >= next_point:
                points.append(
                    {
                        "env_steps": learner.env_steps,
                        **{side: metrics.get(f"losses/{side}/q_taken") for side in SIDES},
                    }
                )
                next_point += every
    except NonFiniteLossError as error:
        return points, f"stopped at {learner.env_steps:,} steps: {error}", None
    return (
        points,
        None,
        final_returns(learner, cfg.env.id, evaluate_episodes) if evaluate_episodes else None,
    )


def final_returns(learner, env_id: str, episodes: int) -> dict:
    """Greedy returns of MANSA's joint policy (learners greedy, switcher sampled: ``act``'s default)
    and of its IL and CL learners alone, on the same
    episodes (``final``), and the CL share of training steps."""
    import numpy as np

    import envs
    from agents.evaluation import evaluate

    players = {"mansa": learner.act, **learners_alone(learner)}
    returns = {
        name: float(
            np.mean(
                evaluate(
                    act, lambda b: envs.make_vec(env_id, b), episodes, seed=10_000, needs_state=True
                )["return"]
            )
        )
        for name, act in players.items()
    }
    return {"final": returns, "train_cl_fraction": learner.cl_calls / max(learner.env_steps, 1)}


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
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    points, error, final = q_growth(args.overrides, args.env_steps, args.every, args.evaluate)
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
