"""Random-action throughput of our foraging env against lbforaging 2.0.0, in one process.

Prints joint steps/s (one joint step = one step of one env copy with every agent acting)
for lbforaging, our PettingZoo view (B=1) and our batched core at several batch sizes,
and each one's ratio to lbforaging. Episodes auto-reset (lbforaging: reset on done).

    python benchmarks/throughput.py                 # the three standard tasks
    python benchmarks/throughput.py --seconds 1     # quicker, noisier
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import envs

TASKS = {
    # name: (our id, lbforaging constructor kwargs)
    "8x8-2p-2f-coop": (
        "Foraging-8x8-2p-2f-coop-v3",
        dict(field_size=(8, 8), players=2, max_num_food=2, force_coop=True),
    ),
    "10x10-3p-3f": (
        "Foraging-10x10-3p-3f-v3",
        dict(field_size=(10, 10), players=3, max_num_food=3, force_coop=False),
    ),
    "15x15-4p-5f": (
        "Foraging-15x15-4p-5f-v3",
        dict(field_size=(15, 15), players=4, max_num_food=5, force_coop=False),
    ),
}


def timed(step, seconds: float) -> float:
    """Calls of ``step`` per second over about ``seconds`` (after a short warm-up)."""
    for _ in range(20):
        step()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            step()
        calls += 20
    return calls / elapsed


def lbforaging_rate(kwargs: dict, seconds: float) -> float:
    from lbforaging.foraging.environment import ForagingEnv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = ForagingEnv(
            min_player_level=1,
            max_player_level=2,
            min_food_level=1,
            max_food_level=None,
            sight=kwargs["field_size"][0],
            max_episode_steps=50,
            **kwargs,
        )
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n = kwargs["players"]

    def step():
        _, _, done, trunc, _ = env.step(rng.integers(0, 6, n).tolist())
        if done or trunc:
            env.reset()

    return timed(step, seconds)


def view_rate(env_id: str, seconds: float) -> float:
    env = envs.make(env_id)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    agents = env.possible_agents

    def step():
        if not env.agents:
            env.reset()
        env.step(dict(zip(agents, rng.integers(0, 6, len(agents)).tolist())))

    return timed(step, seconds)


def core_rate(env_id: str, num_envs: int, seconds: float) -> float:
    core = envs.make_vec(env_id, num_envs)
    core.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, 6, (num_envs, core.num_agents)) for _ in range(16)]
    i = 0

    def step():
        nonlocal i
        core.step(actions[i % 16])
        i += 1

    return timed(step, seconds) * num_envs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell")
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[1, 64, 1024], help="batch sizes of the core"
    )
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    args = parser.parse_args()
    header = ["task", "lbforaging", "view B=1"] + [f"core B={b}" for b in args.batch]
    print("joint steps/s (ratio to lbforaging)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in args.tasks:
        env_id, lbf_kwargs = TASKS[name]
        base = lbforaging_rate(lbf_kwargs, args.seconds)
        cells = [f"{base:,.0f}", f"{(v := view_rate(env_id, args.seconds)):,.0f} ({v / base:.1f}x)"]
        for b in args.batch:
            rate = core_rate(env_id, b, args.seconds)
            cells.append(f"{rate:,.0f} ({rate / base:.0f}x)")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
