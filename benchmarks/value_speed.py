"""Training throughput of the value learners beside IPPO's, in one run (issue 26's speed benchmark).

    python -m benchmarks.value_speed                          # IPPO, IQL, VDN, QMIX, 300k steps each
    python -m benchmarks.value_speed --env-steps 2000000 --algos ippo iql qmix --out speed.json
    python -m benchmarks.value_speed --algos ippo iql iql/k4 \
        --variant iql/k4=algo.env_steps_per_update=200,algo.target_update_interval=50
    python -m benchmarks.value_speed torch_threads=2 --algos ippo iql qmix --profile-updates 100

Each learner is built from its shipped 8x8 config (``configs/<algo>_foraging_8x8_2p_2f_coop.yaml``:
the settings the committed learning figures use) and trained by ``train_iteration`` alone (no
evaluation, no logging). The learners take turns, ``--chunk`` env steps each, so a change in the
machine's load falls on all of them alike, and the ratio to IPPO is the figure to compare across
machines. Throughput is env-frames per second (one frame: one step of one env copy) over the
whole span, the replay's filling phase included, as a training run sees it. The report names the
torch thread count, the CPU count and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

import train

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
TASK = "foraging_8x8_2p_2f_coop"


def build(label: str, seed: int, overrides: list[str]):
    """A learner from its shipped 8x8 config; ``label`` is an algorithm or ``algo/variant``."""
    algo = label.split("/")[0]
    cfg = train.load_config(
        os.path.join(CONFIGS, f"{algo}_{TASK}.yaml"), [f"seed={seed}", *overrides]
    )
    return train.build(cfg)[1]


def measure(
    algos: list[str],
    env_steps: int,
    chunk: int,
    seed: int,
    overrides: list[str],
    variants: dict[str, list[str]] | None = None,
    profile_updates: int = 0,
) -> dict:
    """Round-robin training of every learner to ``env_steps``; frames/s of each and the ratio to
    the first. ``variants`` maps an ``algo/name`` label to its own extra overrides. With
    ``profile_updates``, each value learner's next updates are then profiled (:func:`op_profile`)."""
    variants = variants or {}
    learners = {algo: build(algo, seed, [*overrides, *variants.get(algo, [])]) for algo in algos}
    seconds = dict.fromkeys(algos, 0.0)
    load_before = os.getloadavg()
    while any(learner.env_steps < env_steps for learner in learners.values()):
        for algo, learner in learners.items():
            goal = min(learner.env_steps + chunk, env_steps)
            start = time.perf_counter()
            while learner.env_steps < goal:
                learner.train_iteration()
            seconds[algo] += time.perf_counter() - start
    rates = {algo: learners[algo].env_steps / seconds[algo] for algo in algos}
    first = algos[0]
    report = {
        "env_steps": env_steps,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "learners": {
            algo: {
                "env_frames_per_s": rates[algo],
                "seconds": seconds[algo],
                f"ratio_to_{first}": rates[algo] / rates[first],
                "gradient_updates": getattr(learners[algo], "gradient_updates", None),
                "overrides": variants.get(algo, []),
            }
            for algo in algos
        },
    }
    if profile_updates:
        report["op_profile"] = {
            algo: op_profile(learner, profile_updates)
            for algo, learner in learners.items()
            if hasattr(learner, "update_from_replay")
        }
    return report


def op_profile(learner, updates: int, top: int = 12) -> list[dict]:
    """The ops that take a value learner's gradient updates their time: torch's profiler over
    ``updates`` updates from its replay (``update_from_replay``), the ``top`` ops by own CPU time,
    each as milliseconds per update and share of the profiled time."""
    from torch.profiler import ProfilerActivity, profile

    before = learner.gradient_updates
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        learner.update_from_replay(updates * learner.cfg.env_steps_per_update)
    done = learner.gradient_updates - before
    if not done:  # the replay still filling: nothing to profile
        return []
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops)
    return [
        {
            "op": e.key,
            "ms_per_update": e.self_cpu_time_total / 1e3 / done,
            "share": e.self_cpu_time_total / total,
        }
        for e in ops[:top]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every learner")
    parser.add_argument("--algos", nargs="+", default=["ippo", "iql", "vdn", "qmix"])
    parser.add_argument("--env-steps", type=int, default=300_000)
    parser.add_argument("--chunk", type=int, default=20_000, help="env steps per turn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="ALGO/NAME=KEY=V,KEY=V",
        help="overrides of one --algos label of the form algo/name (repeatable)",
    )
    parser.add_argument(
        "--profile-updates",
        type=int,
        default=0,
        metavar="N",
        help="after the timing, profile N gradient updates of each value learner by op",
    )
    parser.add_argument("--out", help="write the report as JSON here")
    args = parser.parse_args(argv)
    shipped = sorted(
        name.removesuffix(f"_{TASK}.yaml")
        for name in os.listdir(CONFIGS)
        if name.endswith(f"_{TASK}.yaml")
    )
    unknown = [a for a in args.algos if a.split("/")[0] not in shipped]
    if unknown:
        parser.error(
            f"--algos {' '.join(unknown)}: no configs/<algo>_{TASK}.yaml; choose from "
            f"{', '.join(shipped)} (config overrides go before --algos)"
        )
    variants = {}
    for spec in args.variant:
        label, _, keys = spec.partition("=")
        if "/" not in label or label not in args.algos or not keys:
            parser.error(
                f"--variant {spec!r}: expected ALGO/NAME=KEY=V[,KEY=V] with ALGO/NAME in --algos "
                f"({' '.join(args.algos)})"
            )
        variants[label] = keys.split(",")
    unknown = [a for a in args.algos if "/" in a and a not in variants]
    if unknown:
        parser.error(f"no --variant given for {', '.join(unknown)}")
    report = measure(
        args.algos,
        args.env_steps,
        args.chunk,
        args.seed,
        args.overrides,
        variants,
        args.profile_updates,
    )
    print(
        f"{args.env_steps} env steps each, torch threads {report['torch_threads']}, "
        f"{report['cpus']} CPUs, load {report['load_before'][0]:.1f} -> {report['load_after'][0]:.1f}"
    )
    for algo, row in report["learners"].items():
        ratio = next(v for k, v in row.items() if k.startswith("ratio_to_"))
        print(
            f"  {algo:6s} {row['env_frames_per_s']:9.0f} env-frames/s  ({ratio:.3f} x {args.algos[0]})"
        )
    for algo, ops in report.get("op_profile", {}).items():
        print(f"  {algo}: " + ", ".join(f"{o['op']} {o['share']:.0%}" for o in ops[:6]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
