"""Final greedy returns of IQL, VDN, QMIX and MF-Q on Level-Based Foraging, with env steps and wall-clock.

    python -m benchmarks.value_based                                   # the issue's grid (long)
    python -m benchmarks.value_based --env-steps 200000 --seeds 0 1 2 --jobs 2 --out benchmarks/results/value_based
    python -m benchmarks.value_based --merge a/results.json b/results.json   # tabulate runs made apart

Each run trains one learner with its config defaults (EPyMARL's; ``--set key=value`` changes
one for every run) through the Learner interface exactly as ``train.py`` drives it, with
``torch`` on one thread, then plays ``--eval-episodes`` greedy episodes on fixed seeds. Runs go
to a process pool (``--jobs``). Written to ``--out``: ``results.json`` (every run, with its
learning curve) and ``results.md`` (mean and spread over seeds per env and learner). The
reference is the EPyMARL benchmark (Papoudakis et al. 2021), where IQL, VDN and QMIX reach a
normalised return of about 1.0 on Foraging-8x8-2p-2f-coop-v3 (their runs: millions of env
steps); random play earns about 0.004 there.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields

import numpy as np

ALGOS = ("iql", "vdn", "qmix", "mfq")
ENVS = ("Foraging-8x8-2p-2f-coop-v3", "Foraging-10x10-3p-3f-v3")
#: EPyMARL's reported final normalised returns on 8x8-2p-2f-coop (about 1.0 for all three)
REFERENCE = {("Foraging-8x8-2p-2f-coop-v3", a): "~1.0 (EPyMARL)" for a in ("iql", "vdn", "qmix")}


def parse_value(text: str):
    """``key=value`` values: bool, int, float or str."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def check_overrides(overrides: dict, algos: list[str], parser: argparse.ArgumentParser) -> None:
    """Refuse a --set key that none of the chosen learners has (it would be silently dropped)."""
    from algorithms import get_algorithm
    from envs.hints import closest_hint

    known = {f.name for a in algos for f in fields(get_algorithm(a)[0])}
    for key in overrides:
        if key not in known:
            parser.error(
                f"--set {key}: no chosen learner ({', '.join(algos)}) has this key{closest_hint(key, known)}"
            )


def run_one(job: dict) -> dict:
    """Train one (env, algo, seed) and evaluate it greedily; returns figures and the learning curve."""
    import torch

    torch.set_num_threads(1)
    import envs
    from agents.evaluation import evaluate
    from algorithms import get_algorithm

    config_cls, learner_cls = get_algorithm(job["algo"])
    known = {f.name for f in fields(config_cls)}
    overrides = {k: v for k, v in job["overrides"].items() if k in known}
    cfg = config_cls(**overrides)
    env_id = job["env"]
    learner = learner_cls(cfg, envs.make_vec(env_id, job["num_envs"]), "cpu", job["seed"])

    def greedy(episodes: int) -> float:
        results = evaluate(
            learner.act, lambda b: envs.make_vec(env_id, b), episodes, 10_000 + job["seed"]
        )
        return float(np.mean(results["return"]))

    curve, train_time, next_eval = [], 0.0, job["eval_every"]
    returns: list[float] = []
    while learner.env_steps < job["env_steps"]:
        tick = time.perf_counter()
        learner.train_iteration()
        train_time += time.perf_counter() - tick
        returns.extend(learner.episodes.drain().get("return", []))
        if job["eval_every"] and learner.env_steps >= next_eval:
            curve.append(
                {
                    "env_steps": learner.env_steps,
                    "greedy_return": greedy(job["curve_episodes"]),
                    "train_return": float(np.mean(returns[-200:])) if returns else None,
                    "train_seconds": train_time,
                }
            )
            next_eval += job["eval_every"]
    final = greedy(job["eval_episodes"])
    return {
        **{k: job[k] for k in ("env", "algo", "seed", "num_envs")},
        "overrides": overrides,
        "env_steps": learner.env_steps,
        "gradient_updates": learner.gradient_updates,
        "train_seconds": train_time,
        "sps": learner.env_steps / max(train_time, 1e-9),
        "final_greedy_return": final,
        "curve": curve,
    }


def random_returns(env_ids: list[str], episodes: int = 200) -> str:
    """Markdown lines: the mean return of uniformly random valid actions on each env (the floor)."""
    import envs
    from agents.evaluation import evaluate

    lines = []
    for env_id in env_ids:
        rng = np.random.default_rng(0)

        def act(obs, mask, state, hidden, rng=rng):
            return (rng.random(mask.shape) * mask).argmax(-1), hidden

        mean = np.mean(
            evaluate(act, lambda b, e=env_id: envs.make_vec(e, b), episodes, 10_000)["return"]
        )
        lines.append(f"- random valid actions on {env_id}: {mean:.3f} ({episodes} episodes)")
    return "\n".join(lines) + "\n"


def _setting(run: dict) -> str:
    """The overrides a run used, as text ("defaults" when none)."""
    return " ".join(f"{k}={v}" for k, v in sorted(run.get("overrides", {}).items())) or "defaults"


def _mean_std(values: list[float]) -> str:
    values = np.asarray(values, dtype=float)
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.3f} ± {std:.3f}"


def summarise(runs: list[dict]) -> str:
    """A markdown table per (env, algo, setting, env steps): the final greedy return over seeds (mean ± sample
    std, min..max), the best greedy evaluation (EPyMARL reports maximum returns), and the
    exploring (epsilon_finish) training return of the last curve point."""
    header = (
        "| env | algo | setting | seeds | final greedy return: mean ± std (min..max) | best greedy evaluation "
        "| training return (exploring) | env steps | wall-clock per run (s) | env steps/s | reference |"
    )
    lines = [header, "|" + "---|" * 11]
    keys = sorted(
        {(r["env"], r["algo"], _setting(r), r["env_steps"]) for r in runs},
        key=lambda k: (k[0], ALGOS.index(k[1]) if k[1] in ALGOS else 99, k[3], k[2]),
    )
    for env_id, algo, setting, steps in keys:
        group = [
            r
            for r in runs
            if (r["env"], r["algo"], _setting(r), r["env_steps"]) == (env_id, algo, setting, steps)
        ]
        finals = np.array([r["final_greedy_return"] for r in group])
        curves = [r.get("curve") or [] for r in group]
        best = (
            _mean_std(
                [
                    max([c["greedy_return"] for c in curve] + [r["final_greedy_return"]])
                    for r, curve in zip(group, curves)
                ]
            )
            if all(curves)
            else ""
        )
        trained = [
            curve[-1]["train_return"]
            for curve in curves
            if curve and curve[-1].get("train_return") is not None
        ]
        training = _mean_std(trained) if len(trained) == len(group) else ""
        seconds = np.mean([r["train_seconds"] for r in group])
        sps = np.mean([r["sps"] for r in group])
        lines.append(
            f"| {env_id} | {algo} | {setting} | {len(group)} | {_mean_std(finals)} "
            f"({finals.min():.3f}..{finals.max():.3f}) | {best} | {training} | {group[0]['env_steps']:,} "
            f"| {seconds:.0f} | {sps:,.0f} | {REFERENCE.get((env_id, algo), '')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--envs", nargs="+", default=list(ENVS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--env-steps", type=int, default=1_000_000, help="env steps per run")
    parser.add_argument("--num-envs", type=int, default=32, help="env copies stepped together")
    parser.add_argument(
        "--eval-episodes", type=int, default=100, help="greedy episodes of the final evaluation"
    )
    parser.add_argument(
        "--eval-every", type=int, default=50_000, help="learning-curve points (0: none)"
    )
    parser.add_argument(
        "--curve-episodes", type=int, default=32, help="greedy episodes per curve point"
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for every learner that has the key (e.g. epsilon_anneal_steps=100000)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    parser.add_argument("--out", default="benchmarks/results/value_based", help="output directory")
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="RESULTS_JSON",
        help="train nothing: merge these results.json files into --out and tabulate them",
    )
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.merge:
        runs = []
        for path in args.merge:
            with open(path) as f:
                runs.extend(json.load(f))
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(runs, f, indent=1)
        table = summarise(runs) + "\n" + random_returns(sorted({r["env"] for r in runs}))
        with open(os.path.join(args.out, "results.md"), "w") as f:
            f.write(f"{len(runs)} runs merged from {', '.join(args.merge)}\n\n{table}")
        print(table)
        return

    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set takes KEY=VALUE, got {item!r}")
        overrides[key.removeprefix("algo.")] = parse_value(value)
    check_overrides(overrides, args.algos, parser)
    jobs = [
        {
            "env": e,
            "algo": a,
            "seed": s,
            "num_envs": args.num_envs,
            "env_steps": args.env_steps,
            "eval_episodes": args.eval_episodes,
            "eval_every": args.eval_every,
            "curve_episodes": args.curve_episodes,
            "overrides": overrides,
        }
        for e in args.envs
        for a in args.algos
        for s in args.seeds
    ]
    runs = []
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for run in pool.map(run_one, jobs):
            runs.append(run)
            print(
                f"{run['env']} {run['algo']} seed {run['seed']}: greedy {run['final_greedy_return']:.3f} after "
                f"{run['env_steps']:,} steps, {run['train_seconds']:.0f} s ({run['sps']:,.0f} steps/s)",
                flush=True,
            )
            with open(os.path.join(args.out, "results.json"), "w") as f:
                json.dump(runs, f, indent=1)
    table = summarise(runs) + "\n" + random_returns(args.envs)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(
            f"{len(runs)} runs, {time.perf_counter() - start:.0f} s in all, {args.jobs} parallel jobs\n\n{table}"
        )
    print(table)


if __name__ == "__main__":
    main()
