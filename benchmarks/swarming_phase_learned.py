"""Learned policies' phi(eta) against the exact Vicsek rule's (issue 23).

The grid ``benchmarks/swarming_phase.yaml`` (Vicsek headings; ``swarming_phase_kuramoto.yaml``
for Kuramoto phases) trains IPPO, MF-AC and Dec-POMFC through the launchers (continuous turns
up to pi, each episode at a noise drawn from a range). Each run's
final policy (``policy.pt``) and best policy (``policy_best.pt``) then play greedily at every
noise of :data:`benchmarks.swarming_phase.NOISES`, by the protocol of ``swarming_phase.py``
(N = 100, rho = 4, 16 copies from the same random starts, 400 steps, the order averaged over the
second half), beside the exact rule in the same action space. The issue's target: every learned
curve within 0.03 of the exact rule at every eta; ``gap`` is a curve's largest shortfall.

    python benchmarks/swarming_phase_learned.py --jobs 2            # train, then print
    python benchmarks/swarming_phase_learned.py --jobs 2 --save     # + results/swarming_phase/learned_vicsek/
    python benchmarks/swarming_phase_learned.py --grid benchmarks/swarming_phase_kuramoto.yaml --save

A finished run is not trained again (:mod:`benchmarks.grid`). ``--diagnose`` compares each
learner's seed-0 greedy turn with the rule's on the same states (the flock steered by the rule).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np

import envs
from agents.policy import Policy
from benchmarks.learning_runs import (
    add_learning_arguments,
    load_learning_grid,
    markdown_table,
    run_learning_grid,
)
from benchmarks.swarming_phase import (
    NOISES,
    OUT,
    SPACES,
    TASK,
    order_curve,
    policy_curve,
    policy_space,
)
from envs.swarming.policies import vicsek_actions, vicsek_turns

TARGET = 0.03  # the largest allowed shortfall against the exact rule
EXACT = "exact rule, continuous +-pi"


def gap(curve: list[float], exact: list[float]) -> float:
    """The largest shortfall of ``curve`` below the exact rule's over the noises."""
    return float(max(e - c for c, e in zip(curve, exact)))


def turn_errors(path: str, model: str, eta: float, copies: int = 8, steps: int = 200) -> dict:
    """How a policy file's greedy turn differs from the exact rule's, in its own action space,
    over the second half of ``steps`` with the flock steered by the exact rule (so that every
    policy is asked about the same states).

    Returns ``offset``: the circular mean of (learned - rule), a turn common to every agent
    (the order parameter is blind to it, but a flock that turns together circles in place);
    ``residual``: the mean absolute difference once the offset is taken out; ``ratio``: the median
    learned / rule turn where the rule turns more than 1 rad; ``share``: how often it does."""
    policy = Policy.load(path)
    space = policy_space(policy)
    core = envs.make_vec(f"swarming-{model}-v0", copies, noise=eta, **TASK, **space)
    obs, _ = core.reset(seed=1)
    rule, learned = [], []
    for t in range(steps):
        turn = vicsek_turns(core)
        mask = core.action_mask() if core.is_discrete else None
        if t >= steps // 2:
            actions = np.asarray(policy.act(obs, mask, None, greedy=True)[0])
            rule.append(turn.ravel())
            learned.append(core.turns[actions] if core.is_discrete else actions[..., 0])
        obs, *_ = core.step(vicsek_actions(core))
    rule, learned = np.concatenate(rule), np.concatenate(learned).ravel()
    error = np.angle(np.exp(1j * (learned - rule)))
    offset = float(np.angle(np.exp(1j * error).mean()))
    big = np.abs(rule) > 1.0
    return {
        "offset": offset,
        "residual": float(np.abs(np.angle(np.exp(1j * (error - offset)))).mean()),
        "ratio": float(np.median(learned[big] / rule[big])) if big.any() else float("nan"),
        "share": float(big.mean()),
    }


def table(records: list[dict], exact: list[float], algos: list[str]) -> str:
    rows: list[list] = [["exact rule", "-", *exact, "-", "-"]]
    for algo in algos:
        for which in ("final", "best"):
            runs = [r for r in records if r["label"] == algo and which in r.get("phase", {})]
            if not runs:
                rows.append([f"{algo} ({which})", 0, *["-"] * len(NOISES), "-", "-"])
                continue
            curves = np.array([r["phase"][which] for r in runs])
            gaps = [gap(c, exact) for c in curves]
            met = sum(g <= TARGET for g in gaps)
            rows.append(
                [
                    f"{algo} ({which})",
                    len(runs),
                    *(f"{m:.3f} ± {s:.3f}" for m, s in zip(curves.mean(0), curves.std(0))),
                    ", ".join(f"{g:.3f}" for g in gaps),
                    f"{met}/{len(runs)}",
                ]
            )
    header = ["policy", "seeds", *(f"eta {n:g}" for n in NOISES)]
    return markdown_table([*header, "gap per seed", f"gap <= {TARGET}"], rows)


def plot(records: list[dict], exact: list[float], algos: list[str], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, which in zip(axes, ("final", "best")):
        ax.plot(NOISES, exact, color="black", linestyle="--", label="exact rule")
        for algo in algos:
            runs = [r["phase"][which] for r in records if r["label"] == algo and "phase" in r]
            if runs:
                curves = np.array(runs)
                line = ax.plot(NOISES, curves.mean(0), marker="o", markersize=3, label=algo)[0]
                ax.fill_between(
                    NOISES, curves.min(0), curves.max(0), alpha=0.2, color=line.get_color()
                )
        ax.set(xlabel="noise eta", title=f"{which} policy (mean, min-max over seeds)")
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="order parameter (stationary mean)", ylim=(0, 1.02))
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_learning_arguments(parser, "swarming_phase.yaml")
    parser.add_argument("--steps", type=int, default=400, help="steps per episode (400)")
    parser.add_argument("--copies", type=int, default=16, help="env copies per point (16)")
    parser.add_argument("--algos", nargs="+", help="learners (default: the grid's)")
    parser.add_argument(
        "--tag", default="", help="results folder learned_<model>_<tag>/ (another budget, say)"
    )
    parser.add_argument("--diagnose", action="store_true", help="print the turn comparison")
    parser.add_argument("--save", action="store_true", help=f"write {OUT}/learned_<model>[_<tag>]/")
    args = parser.parse_args(argv)

    grid = load_learning_grid(args, **({"algorithms": args.algos} if args.algos else {}))
    model = grid.envs[0].id.split("-")[1]  # swarming-<model>-v0
    algos = [a.label for a in grid.algorithms]
    records = run_learning_grid(grid, args, label=lambda cell: cell.algo.label)
    space, rule = SPACES[EXACT]
    exact = order_curve(model, space, rule, args.steps, args.copies, seed=0)
    for record in records:
        if "error" in record:
            continue
        record["phase"] = {
            which: policy_curve(os.path.join(record["run_dir"], name), args.steps, args.copies, 0)[
                1
            ]
            for which, name in (("final", "policy.pt"), ("best", "policy_best.pt"))
        }
    text = table(records, exact, algos)
    print(text)
    if args.diagnose:
        for algo in algos:
            run = next(r for r in records if r["label"] == algo and r["seed"] == 0)
            for eta in (1.0, 2.0, 4.0):
                e = turn_errors(os.path.join(run["run_dir"], "policy.pt"), model, eta)
                print(
                    f"{algo} seed 0, eta {eta:g}: common turn {e['offset']:+.2f} rad, then "
                    f"{e['residual']:.3f} rad from the rule; learned / rule turn {e['ratio']:.2f} "
                    f"where the rule turns > 1 rad ({e['share']:.0%} of its turns)"
                )
    if args.save:
        out = OUT / "_".join(["learned", model, *([args.tag] if args.tag else [])])
        out.mkdir(parents=True, exist_ok=True)
        payload = {"model": model, "noises": NOISES, "exact": exact, "target": TARGET}
        payload["runs"] = records
        payload["args"] = {k: v for k, v in vars(args).items() if k != "save"}
        (out / "results.json").write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
        (out / "results.md").write_text(text + "\n")
        plot(records, exact, algos, out / "phase.png")
        print(f"saved to {out}")


if __name__ == "__main__":
    main()
