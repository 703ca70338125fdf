"""Joint steps/s of the torch cores (the accelerator path, DESIGN 3b) beside the CPU cores and peers.

One joint step is one step of one env copy with every agent acting; swarming rows also give
agent-steps/s (joint steps x agents). Random actions are drawn before the clock starts (on
the device for the torch cores); episodes auto-reset. Each figure is the best of
``--repeats`` windows of about ``--seconds`` (the machine may be shared).

- Foraging, ``8x8-2p-2f-coop`` and ``15x15-4p-4f``, at each ``--batch`` B: the torch core on
  ``--device``, the numba core with 1 thread and with all threads, and Jumanji's JAX LBF
  (registered ``LevelBasedForaging-v0``: 2 agents, 2 food, coop; so the 8x8 task only).
- Swarming (Vicsek, density 4), ``--swarms`` as ``AGENTSxCOPIES`` (default 100 agents x
  4096 copies and 10,000 agents x 16 copies): the torch core, the numpy core and VMAS
  ``flocking`` with as many agents, on the same device.
- End to end, ``--train-copies`` (default 1024) for each of ``--train-algos`` (default
  ``ippo``): env-frames/s of ``python train.py algo=<algo>`` on 8x8-2p-2f-coop at its
  defaults (collection and updates) with the learner on ``--device``, once on the torch core
  there (``env.device``: the rollout, or the value learners' replay, never leaves the device)
  and once on the numba core (numpy <-> torch and host <-> device on every step).

Optional peers (``jumanji``, ``vmas``) are skipped with the reason when they are missing or
fail. Nothing needs a GPU:

    python -m benchmarks.gpu_throughput                          # cuda if present, else cpu
    python -m benchmarks.gpu_throughput --device cpu --batch 256 1024 --swarms 100x256 10000x1
    python -m benchmarks.gpu_throughput --json results.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from collections.abc import Callable

import numba
import numpy as np
import torch

import envs

FORAGING = {
    "8x8-2p-2f-coop": "Foraging-8x8-2p-2f-coop-v3",
    "15x15-4p-4f": "Foraging-15x15-4p-4f-v3",
}


def best_rate(step: Callable[[], None], seconds: float, repeats: int, sync=lambda: None) -> float:
    """Calls of ``step`` per second: the best of ``repeats`` windows of about ``seconds``."""
    step()
    sync()  # warm-up: compilation, allocations
    best = 0.0
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or calls == 0:
            step()
            calls += 1
            if calls % 8 == 0:
                sync()
        sync()
        best = max(best, calls / (time.perf_counter() - start))
    return best


def synchronizer(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def torch_rate(env_id: str, copies: int, device: str, seconds: float, repeats: int, **kw) -> float:
    core = envs.make_vec(env_id, copies, device=device, **kw)
    core.reset(seed=0)
    gen = torch.Generator(device=core.device).manual_seed(0)
    shape = (8, copies, core.num_agents)
    pool = torch.randint(0, core.num_actions, shape, generator=gen, device=core.device)
    counter = iter(range(1 << 62))
    rate = best_rate(
        lambda: core.step(pool[next(counter) % 8]), seconds, repeats, synchronizer(device)
    )
    return rate * copies


def numpy_rate(env_id: str, copies: int, seconds: float, repeats: int, **kw) -> float:
    core = envs.make_vec(env_id, copies, **kw)
    core.reset(seed=0)
    pool = np.random.default_rng(0).integers(0, core.num_actions, (8, copies, core.num_agents))
    counter = iter(range(1 << 62))
    return best_rate(lambda: core.step(pool[next(counter) % 8]), seconds, repeats) * copies


def jumanji_rate(copies: int, seconds: float, repeats: int) -> float | str:
    """Joint steps/s of Jumanji's registered LBF (vmapped, jitted, auto-reset), or why not."""
    try:
        import jax
        import jumanji
        from jumanji.wrappers import VmapAutoResetWrapper
    except ImportError as err:
        return f"skipped: {err.name} is not installed (pip install jumanji)"
    try:
        env = VmapAutoResetWrapper(jumanji.make("LevelBasedForaging-v0"))
        keys = jax.random.split(jax.random.PRNGKey(0), copies)
        state, _ = jax.jit(env.reset)(keys)
        n = env.action_spec.shape[0] if hasattr(env.action_spec, "shape") else 2
        pool = jax.random.randint(jax.random.PRNGKey(1), (8, copies, n), 0, 6)
        step_fn = jax.jit(env.step)
        box = {"state": state, "i": 0}

        def step():
            box["state"], _ = step_fn(box["state"], pool[box["i"] % 8])
            box["i"] += 1

        def sync():
            jax.block_until_ready(box["state"])

        return best_rate(step, seconds, repeats, sync) * copies
    except Exception as err:  # an optional peer: report, do not fail the run
        return f"skipped: jumanji failed ({type(err).__name__}: {err})"


def vmas_rate(agents: int, copies: int, device: str, seconds: float, repeats: int) -> float | str:
    """Joint steps/s of VMAS ``flocking`` with ``agents`` agents, or why not."""
    try:
        import vmas
    except ImportError:
        return "skipped: vmas is not installed (pip install vmas)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = vmas.make_env(
                "flocking",
                num_envs=copies,
                device=device,
                continuous_actions=True,
                seed=0,
                n_agents=agents,
            )
        env.reset()
        gen = torch.Generator(device=device).manual_seed(0)
        pool = [
            [torch.rand(copies, 2, generator=gen, device=device) * 2 - 1 for _ in env.agents]
            for _ in range(8)
        ]
        counter = iter(range(1 << 62))
        return (
            best_rate(
                lambda: env.step(pool[next(counter) % 8]), seconds, repeats, synchronizer(device)
            )
            * copies
        )
    except Exception as err:  # an optional peer: report, do not fail the run
        return f"skipped: vmas failed ({type(err).__name__}: {err})"


def train_rate(
    algo: str, copies: int, device: str, on_device: bool, seconds: float, repeats: int
) -> float:
    """Env-frames/s of ``train.py algo=<algo>``'s ``train_iteration`` (one iteration: a rollout
    of every copy, and the updates it pays for)."""
    import train

    overrides = [f"algo={algo}", f"env.num_envs={copies}", f"device={device}"]
    learner = train.build(
        train.load_config(None, [*overrides, *([f"env.device={device}"] if on_device else [])])
    )[1]
    frames = learner.cfg.rollout_length * copies
    return frames * best_rate(learner.train_iteration, seconds, repeats, synchronizer(device))


def fmt(value) -> str:
    return value if isinstance(value, str) else f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[4096, 65536], help="foraging copies"
    )
    parser.add_argument(
        "--swarms", nargs="+", default=["100x4096", "10000x16"], help="AGENTSxCOPIES"
    )
    parser.add_argument(
        "--train-copies", type=int, nargs="*", default=[1024], help="end to end (none: skip)"
    )
    parser.add_argument(
        "--train-algos", nargs="+", default=["ippo"], help="learners timed end to end"
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one timed window")
    parser.add_argument("--repeats", type=int, default=3, help="windows per figure (best kept)")
    parser.add_argument("--skip-peers", action="store_true", help="measure only our cores")
    parser.add_argument("--torch-threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    most = numba.config.NUMBA_NUM_THREADS
    results = {
        "device": args.device,
        "numba_threads": most,
        "torch_threads": torch.get_num_threads(),
    }
    # every torch figure first: once numba's parallel kernels have run, its idle worker
    # threads can keep cores busy and slow whatever runs next in this process
    rows = [
        {"task": task, "copies": copies, "torch": None}
        for task in FORAGING
        for copies in args.batch
    ]
    swarms = [tuple(int(x) for x in spec.lower().split("x")) for spec in args.swarms]
    swarm_kw = [dict(num_agents=a, box_size=math.sqrt(a / 4)) for a, _ in swarms]  # density 4
    for row in rows:
        env_id = FORAGING[row["task"]]
        row["torch"] = torch_rate(env_id, row["copies"], args.device, args.seconds, args.repeats)
    swarm_torch = [
        torch_rate("swarming-vicsek-v0", c, args.device, args.seconds, args.repeats, **kw)
        for (_, c), kw in zip(swarms, swarm_kw)
    ]
    results["foraging"] = rows
    results["training"] = training = [
        {
            "algo": algo,
            "copies": c,
            "torch_core": train_rate(algo, c, args.device, True, args.seconds, args.repeats),
        }
        for algo in args.train_algos
        for c in args.train_copies
    ]
    for threads in sorted({1, most}):  # the parallel kernel last of all
        for row in rows:
            row[f"numba_{threads}t"] = numpy_rate(
                FORAGING[row["task"]], row["copies"], args.seconds, args.repeats, threads=threads
            )
    for row in rows:
        task, copies = row["task"], row["copies"]
        if args.skip_peers:
            row["jumanji"] = "skipped: --skip-peers"
        elif task != "8x8-2p-2f-coop":
            row["jumanji"] = "skipped: the registered Jumanji LBF is 8x8-2p-2f-coop"
        else:
            row["jumanji"] = jumanji_rate(copies, args.seconds, args.repeats)
        print("  " + json.dumps(row), flush=True)
    for row in training:  # the numba core with its default (all) threads, after the torch figures
        row["numba_core"] = train_rate(
            row["algo"], row["copies"], args.device, False, args.seconds, args.repeats
        )
        print("  " + json.dumps(row), flush=True)
    results["swarming"] = swarm_rows = []
    for (agents, copies), kw, rate in zip(swarms, swarm_kw, swarm_torch):
        row = {"agents": agents, "copies": copies, "torch": rate}
        row["numpy"] = numpy_rate("swarming-vicsek-v0", copies, args.seconds, args.repeats, **kw)
        row["vmas"] = (
            "skipped: --skip-peers"
            if args.skip_peers
            else vmas_rate(agents, copies, args.device, args.seconds, args.repeats)
        )
        swarm_rows.append(row)
        print("  " + json.dumps(row), flush=True)

    print(f"\nForaging, joint steps/s (torch on {args.device}; numba with 1 and {most} threads)")
    print("| task | copies | torch | numba 1 thread | numba all threads | Jumanji LBF |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        cells = [r["torch"], r["numba_1t"], r[f"numba_{most}t"], r["jumanji"]]
        print(f"| {r['task']} | {r['copies']:,} | " + " | ".join(fmt(c) for c in cells) + " |")
    print(f"\nSwarming (Vicsek, density 4), joint steps/s [agent-steps/s] (torch on {args.device})")
    print("| agents | copies | torch | numpy | VMAS flocking |")
    print("|---:|---:|---:|---:|---|")
    for r in swarm_rows:
        cells = [
            f"{fmt(v)} [{v * r['agents']:,.0f}]" if not isinstance(v, str) else v
            for v in (r["torch"], r["numpy"], r["vmas"])
        ]
        print(f"| {r['agents']:,} | {r['copies']:,} | " + " | ".join(cells) + " |")
    print(f"\nEnd to end (8x8-2p-2f-coop), env-frames/s (learner on {args.device})")
    print("| learner | copies | torch core on the device | numba core |")
    print("|---|---:|---:|---:|")
    for r in training:
        cells = f"{fmt(r['torch_core'])} | {fmt(r['numba_core'])}"
        print(f"| {r['algo']} | {r['copies']:,} | {cells} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
