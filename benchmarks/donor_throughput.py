"""Throughput of the donor-game batched core: env steps per second at several batch sizes.

One env step is one round of one copy (every agent donates once). The script steps the core
with pre-drawn uniform random actions (so policy cost is not measured), auto-reset included,
and reports batched steps/s, env steps/s (B x that) and agent steps/s (N x env steps/s).
With ``--view`` it also times the PettingZoo ParallelEnv view (one copy, dict in / dict out).

Usage::

    python benchmarks/donor_throughput.py                      # B = 1 and 1024, donor-v0
    python benchmarks/donor_throughput.py --num-envs 1 64 1024 --seconds 5 --view
    python benchmarks/donor_throughput.py --env-id donor-generations-v0 --set punishment=True
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import time

import numpy as np

import envs


def parse_value(text: str):
    """``--set key=value`` values: Python literals where they parse, strings otherwise."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def time_core(env_id: str, num_envs: int, seconds: float, kwargs: dict, seed: int = 0) -> dict:
    """Step ``make_vec(env_id, num_envs)`` for about ``seconds``; return the rates."""
    core = envs.make_vec(env_id, num_envs=num_envs, **kwargs)
    core.reset(seed=seed)
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, core.num_actions, size=(64, num_envs, core.num_agents))
    for i in range(5):  # warm up
        core.step(pool[i])
    steps = 0
    start = time.perf_counter()
    while True:
        for i in range(len(pool)):
            core.step(pool[i])
        steps += len(pool)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    rate = steps / elapsed
    return {
        "what": "core",
        "env_id": env_id,
        "num_envs": num_envs,
        "num_agents": core.num_agents,
        "batched_steps_per_s": rate,
        "env_steps_per_s": rate * num_envs,
        "agent_steps_per_s": rate * num_envs * core.num_agents,
    }


def time_view(env_id: str, seconds: float, kwargs: dict, seed: int = 0) -> dict:
    """Step the PettingZoo view (one copy) for about ``seconds``."""
    env = envs.make(env_id, **kwargs)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n_actions = env.action_space(env.possible_agents[0]).n
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if not env.agents:
            env.reset()
        env.step({a: int(rng.integers(n_actions)) for a in env.agents})
        steps += 1
    rate = steps / (time.perf_counter() - start)
    return {
        "what": "pettingzoo view",
        "env_id": env_id,
        "num_envs": 1,
        "num_agents": len(env.possible_agents),
        "batched_steps_per_s": rate,
        "env_steps_per_s": rate,
        "agent_steps_per_s": rate * len(env.possible_agents),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="donor-v0")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 1024])
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per configuration")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="env keyword arguments"
    )
    parser.add_argument("--view", action="store_true", help="also time the PettingZoo view")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    kwargs = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set takes KEY=VALUE, got {item!r}")
        kwargs[key] = parse_value(value)

    results = [time_core(args.env_id, b, args.seconds, kwargs) for b in args.num_envs]
    if args.view:
        results.append(time_view(args.env_id, args.seconds, kwargs))
    print(
        f"{args.env_id} {kwargs or ''} on {platform.processor() or platform.machine()}, "
        f"numpy {np.__version__}"
    )
    print(
        f"{'what':>16} {'B':>6} {'N':>4} {'batched steps/s':>16} {'env steps/s':>14} {'agent steps/s':>14}"
    )
    for r in results:
        print(
            f"{r['what']:>16} {r['num_envs']:>6} {r['num_agents']:>4} {r['batched_steps_per_s']:>16,.0f} "
            f"{r['env_steps_per_s']:>14,.0f} {r['agent_steps_per_s']:>14,.0f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
