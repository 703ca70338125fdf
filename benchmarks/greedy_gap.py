"""Greedy against stochastic evaluation of a finished run, and how often the greedy policy freezes.

On Level-Based Foraging a feed-forward policy evaluated greedily can freeze: the agents pick
actions that change nothing (two agents claiming the same cell both stay; an agent loads food
it cannot lift alone), the joint observation repeats, so do the greedy actions, until the
time limit. The exploring policy (epsilon-greedy, Boltzmann or the sampled PPO policy) breaks
such loops by chance. This script measures both returns on the same episodes and the share of
greedy episodes with a frozen stretch (observations unchanged for ``--frozen`` steps in a row)::

    python -m benchmarks.greedy_gap runs/<name> [--episodes 200] [--frozen 10]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

import train
from algorithms.runs.evaluation import evaluate
from benchmarks.run_dirs import load_learner


def greedy_census(
    learner, cfg, episodes: int, seed: int, frozen: int, ties: list | None = None
) -> tuple[float, float]:
    """Greedy play of ``episodes`` episodes (episode k seeded ``seed + k``, as :func:`evaluate` seeds
    them): the mean return, and the share of episodes in which the joint observation stays the
    same for ``frozen`` steps in a row.

    ``ties``: if a list and the learner has a feed-forward stochastic policy, each step that
    repeats the previous observation appends the policy's probability of the greedy action,
    one per agent (how near a tie the greedy choice that keeps the episode frozen is)."""
    policy = learner.policy() if ties is not None and learner.on_policy else None
    if policy is not None and policy.spec.recurrent:
        policy = None
    env = train.make_env(cfg, episodes)
    obs, _ = env.reset(seed=seed)
    hidden = None
    run = np.zeros(episodes, dtype=np.int64)
    longest = np.zeros(episodes, dtype=np.int64)
    returns = np.zeros(episodes)
    done = np.zeros(episodes, dtype=bool)
    while not done.all():
        mask = env.action_mask() if env.is_discrete else None
        state = env.state() if learner.needs_state else None
        actions, hidden = learner.act(obs, mask, state, hidden, greedy=True)
        if policy is not None and run.any():  # the copies whose observation just repeated
            with torch.no_grad():
                obs_t = torch.as_tensor(obs[run > 0], dtype=torch.float32)
                dist, _ = policy.distribution(obs_t, torch.as_tensor(mask[run > 0]))
            ties.extend(dist.probs.max(dim=-1).values.reshape(-1).tolist())
        new, _, _, _, info = env.step(actions)
        ended = info.get("_final", np.zeros(episodes, dtype=bool))
        # an ended copy has already been reset: its new observation says nothing about freezing
        same = (new.reshape(episodes, -1) == obs.reshape(episodes, -1)).all(axis=1) & ~ended & ~done
        run = np.where(same, run + 1, 0)
        longest = np.maximum(longest, run)
        first_end = ended & ~done
        if first_end.any():
            returns[first_end] = np.asarray(info["episode"]["return"])[first_end]
        done |= ended
        obs = new
    env.close()
    return float(returns.mean()), float((longest >= frozen).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("run", help="a train.py run directory (runs/<name>)")
    parser.add_argument(
        "--episodes", type=int, default=200, help="evaluation episodes (the same layouts for both)"
    )
    parser.add_argument("--seed", type=int, default=10_000, help="episode k is seeded seed + k")
    parser.add_argument(
        "--frozen",
        type=int,
        default=10,
        help="steps of unchanged observations that count as frozen",
    )
    args = parser.parse_args(argv)
    learner, cfg = load_learner(args.run)
    ties: list[float] = []
    greedy, share = greedy_census(learner, cfg, args.episodes, args.seed, args.frozen, ties)
    sampled = evaluate(
        lambda o, m, s, h: learner.act(o, m, s, h, greedy=False),
        lambda b: train.make_env(cfg, b),
        args.episodes,
        args.seed,
        needs_state=learner.needs_state,
    )
    print(
        f"{cfg.algo.name} on {cfg.env.id}, {learner.env_steps:,} env steps, {args.episodes} episodes:"
    )
    print(f"  greedy return      {greedy:.3f}")
    print(
        f"  stochastic return  {np.mean(sampled['return']):.3f}  (the learner's act(greedy=False): its exploring policy)"
    )
    print(f"  greedy episodes with >= {args.frozen} frozen steps: {share:.1%}")
    if ties:
        probs = np.asarray(ties)
        print(
            f"  at repeated observations the greedy action has probability {probs.mean():.3f} "
            f"(median {np.median(probs):.3f}; below 0.6 in {(probs < 0.6).mean():.1%} of agent-steps)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
