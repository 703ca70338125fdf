"""Learned indirect reciprocity: seed the learners with discriminators, then leave them alone.

Independent learners (IPPO) in the donor game do not find discrimination on their own: at
the start nobody conditions on reputations, so a good one is worth nothing, and everyone
learns to defect. Anastassacos et al. (2021, "Cooperation and Reputation Dynamics with
Reinforcement Learning", AAMAS) seed a population of learners with fixed agents that steer
it towards a cooperative equilibrium. This benchmark trains each condition of
``benchmarks/donor_seeded.yaml`` in three stages per seed:

1. ``seeded``: ``--seeded`` of the 12 donors are scripted discriminators
   (``seeded_discriminators``), the others learn, for ``--steps`` env steps;
2. ``alone``: all 12 donors are learners that start from stage 1's policy
   (``init_policy``) and keep learning for ``--steps``: does the learned norm hold once
   nobody enforces it but the learners themselves?
3. ``control``: all 12 learn from scratch for ``2 * --steps``.

Figures are the learners' greedy cooperation rate on the grid's evaluation episodes: at the
end of each stage, and at the start of stage 2 (stage 1's policy among learners only). The
issue's targets: at least 0.8 with reputations visible, at most 0.3 with them hidden, read at
the end of stage 2. Runs go through the launchers (``--jobs`` at once); finished runs are not
trained again.

    python -m benchmarks.donor_seeded --jobs 2 --save --plot
    python -m benchmarks.donor_seeded --conditions stern_visible --seeds 0 --steps 100000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.grid import add_launcher_arguments, grid_from_dict  # noqa: E402
from benchmarks.learning_runs import markdown_table, run_learning_grid  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GRID = ROOT / "benchmarks" / "donor_seeded.yaml"
OUT = ROOT / "benchmarks" / "results" / "donor" / "seeded"
STAGES = ("seeded", "alone", "control")
TARGET_VISIBLE, TARGET_HIDDEN = 0.8, 0.3


def stage_grid(data: dict, stage: str, args, seeds: list[int], init: dict | None = None):
    """The grid of one stage: the conditions of ``data`` with the stage's keys."""
    seeded = args.seeded if stage == "seeded" else 0
    steps = 2 * args.steps if stage == "control" else args.steps
    envs = []
    for env in data["envs"]:
        if args.conditions and env["label"] not in args.conditions:
            continue
        entry = {**env, "kwargs": {**(env.get("kwargs") or {}), "seeded_discriminators": seeded}}
        if init is not None:  # one grid per seed: each condition starts from its own policy
            entry["overrides"] = [f"init_policy={init[(env['label'], seeds[0])]}"]
        envs.append(entry)
    runs = os.path.join(args.log_dir or data["runs_dir"], stage)
    overrides = {**data.get("overrides", {}), "total_env_steps": steps}
    grid = {**data, "envs": envs, "seeds": seeds, "overrides": overrides}
    grid.update(name=f"{data['name']}_{stage}", runs_dir=runs, out=runs)
    return grid_from_dict(grid, source=str(GRID), last_overrides=args.extra)


def run_stages(args) -> list[dict[str, Any]]:
    with open(args.grid) as f:
        data = yaml.safe_load(f)
    seeds = list(args.seeds) if args.seeds else list(range(int(data["seeds"])))

    def label(cell):
        return cell.env.label

    records = []
    first = run_learning_grid(stage_grid(data, "seeded", args, seeds), args, label)
    records += [{**r, "stage": "seeded"} for r in first]
    init = {(r["label"], r["seed"]): r["run_dir"] for r in first if "error" not in r}
    for seed in seeds:
        done = {k: v for k, v in init.items() if k[1] == seed}
        wanted = [c for c in data["envs"] if (c["label"], seed) in done]
        if not wanted:
            continue
        sub = {**data, "envs": wanted}
        grid = stage_grid(sub, "alone", args, [seed], init)
        records += [{**r, "stage": "alone"} for r in run_learning_grid(grid, args, label)]
    control = run_learning_grid(stage_grid(data, "control", args, seeds), args, label)
    records += [{**r, "stage": "control"} for r in control]
    return records


def curve(record: dict, name: str = "cooperation_rate") -> list[tuple[int, float]]:
    return [(p["env_steps"], p[name]) for p in record.get("curve", []) if name in p]


def figures(records: list[dict], labels: list[str]) -> dict[str, dict[str, Any]]:
    """Per condition and stage, the seeds' cooperation at the stage's start and end."""
    out: dict[str, dict[str, Any]] = {}
    for label in labels:
        row: dict[str, Any] = {}
        for stage in STAGES:
            runs = [r for r in records if r["label"] == label and r["stage"] == stage]
            ok = [r for r in runs if curve(r)]
            row[stage] = {
                "seeds": [r["seed"] for r in ok],
                "failed": [r["seed"] for r in runs if not curve(r)],
                "start": [curve(r)[0][1] for r in ok],
                "end": [curve(r)[-1][1] for r in ok],
                "good_share_end": [r["final"].get("good_reputation_share") for r in ok],
            }
        out[label] = row
    return out


def by_round(run_dir: str, episodes: int = 256, seed: int = 12345) -> dict[str, list[float]]:
    """The run's final greedy policy among learners only (its own env settings): the share of
    donations to good and to bad recipients in each round, and the mean fraction given."""
    import torch

    from agents.policy import Policy
    from algorithms.runs.config import load_run_config, make_env

    cfg = load_run_config(run_dir)
    core = make_env(cfg, episodes)
    policy = Policy.load(os.path.join(run_dir, "policy.pt"))
    obs, _ = core.reset(seed=seed)
    levels = np.append(core.donation_levels, 0.0)  # the punishment action gives nothing
    out: dict[str, list[float]] = {"to_good": [], "to_bad": [], "fraction": []}
    for _ in range(core.num_rounds):
        good = core.good[np.arange(core.num_envs)[:, None], core.recipients][:, : core.num_agents]
        with torch.no_grad():
            actions, _ = policy.act(obs, greedy=True)
        gives = levels[actions] > 0
        out["to_good"].append(float(gives[good].mean()) if good.any() else float("nan"))
        out["to_bad"].append(float(gives[~good].mean()) if (~good).any() else float("nan"))
        out["fraction"].append(float(levels[actions].mean()))
        obs, *_ = core.step(actions)
    return out


def mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def tabulate(table: dict[str, dict[str, Any]]) -> str:
    header = [
        "condition",
        "seeds",
        "seeded: end (with seeds)",
        "alone: start",
        "alone: end",
        "control: end",
        "target (alone: end)",
    ]
    rows = []
    for label, row in table.items():
        end = row["alone"]["end"]
        if label.endswith("_hidden"):
            target = f"<= {TARGET_HIDDEN}: " + (
                "yes" if end and max(end) <= TARGET_HIDDEN else "no"
            )
        elif label.endswith("_visible"):
            target = f">= {TARGET_VISIBLE}: " + (
                "yes" if end and min(end) >= TARGET_VISIBLE else "no"
            )
        else:
            target = "reported"
        rows.append(
            [
                label,
                len(row["alone"]["seeds"]),
                mean_sd(row["seeded"]["end"]),
                mean_sd(row["alone"]["start"]),
                mean_sd(end),
                mean_sd(row["control"]["end"]),
                target,
            ]
        )
    return markdown_table(header, rows)


def plot(records: list[dict], labels: list[str], steps: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = -(-len(labels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, label in zip(axes.flat, labels):
        for stage, colour, offset in (("seeded", "C0", 0), ("alone", "C2", steps)):
            for r in (r for r in records if r["label"] == label and r["stage"] == stage):
                xs, ys = zip(*curve(r)) if curve(r) else ((), ())
                ax.plot(np.add(xs, offset), ys, color=colour, alpha=0.6, lw=1)
        for r in (r for r in records if r["label"] == label and r["stage"] == "control"):
            if curve(r):
                xs, ys = zip(*curve(r))
                ax.plot(xs, ys, color="C3", alpha=0.6, lw=1, ls="--")
        ax.axvline(steps, color="grey", lw=0.8)
        ax.set_title(label, fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("env steps")
        ax.set_ylabel("cooperation (greedy)")
    for ax in list(axes.flat)[len(labels) :]:
        ax.axis("off")
    handles = [
        plt.Line2D([], [], color="C0", label="seeded (learners + discriminators)"),
        plt.Line2D([], [], color="C2", label="alone (from the seeded policy)"),
        plt.Line2D([], [], color="C3", ls="--", label="control (alone from scratch)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grid", default=str(GRID), help="grid file (%(default)s)")
    parser.add_argument("--conditions", nargs="+", help="condition labels (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds (default: the grid's)")
    parser.add_argument("--seeded", type=int, default=4, help="scripted discriminators (4 of 12)")
    parser.add_argument("--steps", type=int, default=500_000, help="env steps per stage")
    parser.add_argument("--log-dir", help="where run directories go (default: the grid's)")
    parser.add_argument(
        "--extra", nargs="*", default=[], metavar="key=value", help="train.py overrides, last"
    )
    parser.add_argument("--save", action="store_true", help="write the results to --out")
    parser.add_argument(
        "--out", type=Path, default=OUT, help=f"results folder ({OUT.relative_to(ROOT)})"
    )
    parser.add_argument("--plot", action="store_true", help="with --save: curves.png")
    parser.add_argument(
        "--by-round", metavar="RUN_DIR", help="print a run's cooperation by round; no training"
    )
    add_launcher_arguments(parser)
    args = parser.parse_args(argv)
    if args.by_round:
        for key, values in by_round(args.by_round).items():
            print(f"{key:9s}", " ".join(f"{v:.2f}" for v in values))
        return
    records = run_stages(args)
    labels = list(dict.fromkeys(r["label"] for r in records))
    table = figures(records, labels)
    text = tabulate(table)
    print(text)
    if args.save:
        out = args.out
        out.mkdir(parents=True, exist_ok=True)
        settings = {"seeded": args.seeded, "steps_per_stage": args.steps, "grid": args.grid}
        payload = {"settings": settings, "figures": table, "runs": records}
        (out / "results.json").write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
        (out / "results.md").write_text(f"# Donor game: seeded, then alone\n\n{text}\n")
        if args.plot:
            plot(records, labels, args.steps, out / "curves.png")
        print(f"saved to {out}")


if __name__ == "__main__":
    main()
