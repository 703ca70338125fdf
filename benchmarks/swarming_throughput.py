"""Agent-steps/s of the swarming env against VMAS ``flocking``, in one process, and its scaling.

Two tables:

1. **Against VMAS** at 1, 32 and 1024 env copies. VMAS ``flocking`` (default 4 agents, a
   scripted target and 5 obstacles in a 2 x 2 arena, torch on CPU) against our Vicsek core
   with the same 4 agents in a 2 x 2 box, and with our default 100 agents in a 5 x 5 box.
   An agent-step is one agent acting once: ``copies * agents * steps / s``. Random actions,
   drawn before the clock starts; episodes auto-reset in ours (VMAS flocking never ends).
2. **Scaling** with N = 100, 1,000 and 10,000 agents in one copy at density 4 (L = sqrt(N/4)):
   milliseconds per step and microseconds per agent-step, which stays roughly flat when the
   neighbour search is O(N).

Each figure is the best of ``--repeats`` timed windows of about ``--seconds`` each (the
machine may be shared; the best window is the least disturbed one).

    python benchmarks/swarming_throughput.py                    # both tables
    python benchmarks/swarming_throughput.py --seconds 0.5 --repeats 2
    python benchmarks/swarming_throughput.py --skip-vmas        # only our figures

VMAS is optional (``pip install vmas``, the ``bench`` extra); without it the first table
has our columns only. The learning half of issue 4 (IPPO / MF-AC reaching order 0.9) runs
through ``train.py``, not here.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable

import numpy as np

import envs

COPIES = (1, 32, 1024)
SCALING_AGENTS = (100, 1_000, 10_000)
VMAS_AGENTS = 4


def best_rate(step: Callable[[], None], seconds: float, repeats: int) -> float:
    """Calls of ``step`` per second: the best of ``repeats`` windows of about ``seconds``."""
    step()  # warm-up (allocations, caches)
    best = 0.0
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds or calls == 0:
            step()
            calls += 1
        best = max(best, calls / elapsed)
    return best


def ours_rate(copies: int, agents: int, box: float, seconds: float, repeats: int) -> float:
    """Agent-steps/s of our batched Vicsek core with random discrete actions."""
    core = envs.make_vec("swarming-vicsek-v0", num_envs=copies, num_agents=agents, box_size=box)
    core.reset(seed=0)
    pool = np.random.default_rng(0).integers(0, core.num_actions, size=(8, copies, agents))
    counter = iter(range(1 << 62))

    def step():
        core.step(pool[next(counter) % 8])

    return best_rate(step, seconds, repeats) * copies * agents


def vmas_rate(copies: int, seconds: float, repeats: int) -> float | None:
    """Agent-steps/s of VMAS ``flocking`` (continuous actions, random in [-1, 1]) on CPU."""
    try:
        import torch
        import vmas
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = vmas.make_env(
            "flocking", num_envs=copies, device="cpu", continuous_actions=True, seed=0
        )
    env.reset()
    generator = torch.Generator().manual_seed(0)
    pool = [
        [torch.rand(copies, 2, generator=generator) * 2 - 1 for _ in env.agents] for _ in range(8)
    ]
    counter = iter(range(1 << 62))

    def step():
        env.step(pool[next(counter) % 8])

    return best_rate(step, seconds, repeats) * copies * len(env.agents)


def versus_vmas(seconds: float, repeats: int, skip_vmas: bool) -> list[dict]:
    rows = []
    for copies in COPIES:
        row = {
            "copies": copies,
            "vmas_flocking_4": None if skip_vmas else vmas_rate(copies, seconds, repeats),
            "ours_4_agents": ours_rate(copies, VMAS_AGENTS, 2.0, seconds, repeats),
            "ours_100_agents": ours_rate(copies, 100, 5.0, seconds, repeats),
        }
        rows.append(row)
        print(f"  measured {copies} copies", flush=True)
    return rows


def scaling(seconds: float, repeats: int) -> list[dict]:
    rows = []
    for agents in SCALING_AGENTS:
        rate = ours_rate(1, agents, float(np.sqrt(agents / 4)), seconds, repeats)
        rows.append(
            {"agents": agents, "ms_per_step": 1e3 * agents / rate, "us_per_agent_step": 1e6 / rate}
        )
    return rows


def print_tables(vs: list[dict], scale: list[dict], torch_threads: int | None) -> None:
    def rate(x):
        return "n/a" if x is None else f"{x:,.0f}"

    def ratio(a, b):
        return "n/a" if a is None or b is None else f"{a / b:.1f}x"

    print(f"\nAgent-steps/s, VMAS flocking vs ours (torch threads: {torch_threads})")
    print(
        "| copies | VMAS flocking (4 agents) | ours, 4 agents, 2x2 | ratio | ours, 100 agents, 5x5 | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for r in vs:
        v = r["vmas_flocking_4"]
        print(
            f"| {r['copies']} | {rate(v)} | {rate(r['ours_4_agents'])} | {ratio(r['ours_4_agents'], v)} "
            f"| {rate(r['ours_100_agents'])} | {ratio(r['ours_100_agents'], v)} |"
        )
    print("\nScaling, one copy, density 4")
    print("| agents | ms / step | us / agent-step |")
    print("|---:|---:|---:|")
    for r in scale:
        print(f"| {r['agents']:,} | {r['ms_per_step']:.2f} | {r['us_per_agent_step']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one timed window")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed windows per figure (the best is kept)"
    )
    parser.add_argument("--skip-vmas", action="store_true", help="measure only our env")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch CPU threads for VMAS (numpy here uses one core)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch_threads = None
    if not args.skip_vmas:
        try:
            import torch

            torch.set_num_threads(args.torch_threads)
            torch_threads = torch.get_num_threads()
        except ImportError:
            pass
    vs = versus_vmas(args.seconds, args.repeats, args.skip_vmas)
    scale = scaling(args.seconds, args.repeats)
    print_tables(vs, scale, torch_threads)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"versus_vmas": vs, "scaling": scale, "torch_threads": torch_threads}, f, indent=2
            )


if __name__ == "__main__":
    main()
