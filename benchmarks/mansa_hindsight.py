"""Return against the share of steps learned centrally: hindsight picks against random picks.

    python benchmarks/mansa_hindsight.py                       # every task folder: table and plot
    python benchmarks/mansa_hindsight.py 2s-8x8-2p-3f-coop     # one task

Issue 19's diagnostic for the on-policy ``switch=learn`` pairing: at a given share of steps
learned with MAPPO's central critic, does it matter *which* steps? Each task folder under
``benchmarks/results/mansa_hindsight/`` holds rate folders with two training runs per seed,
written by :mod:`benchmarks.mansa` (the commands are in the README there):

- ``mansa``: ``switcher.mode=hindsight``, the central rule on the rollout's ``rate`` share of
  steps where the two critics' advantages disagree most (the learned switcher's own signal,
  picked with the whole rollout in view);
- ``control``: the central rule at random steps at the same rate (``switcher.mode=random``).

IPPO and MAPPO alone (shares 0 and 1) come from the task's earlier study (``REFERENCES``, seeds
0-1) and its ``alone`` folder (later seeds), the same seeds as the rates. Writes ``summary.md``
and ``return_by_share.png`` in the task folder.
"""

from __future__ import annotations

import glob
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "mansa_hindsight")
#: per task, the earlier study whose IPPO and MAPPO runs (seeds 0-1) are the ends of the curve
REFERENCES = {
    "2s-8x8-2p-2f-coop": os.path.join("mansa", "learn_policy_2s", "rollout32"),
    "2s-8x8-2p-3f-coop": os.path.join("mansa", "learn_policy_2p3f"),
}
LABELS = {"mansa": "hindsight (most disputed steps)", "control": "random steps"}


def load(task: str) -> tuple[dict, dict]:
    """``({(method, rate): [runs]}, {"il" | "cl": [runs]})`` from a task's rate folders and its
    references."""
    folder = os.path.join(RESULTS, task)
    picked: dict = {}
    for path in sorted(glob.glob(os.path.join(folder, "rate_*", "results.json"))):
        rate = float(os.path.basename(os.path.dirname(path)).removeprefix("rate_"))
        with open(path) as f:
            for run in json.load(f):
                picked.setdefault((run["method"], rate), []).append(run)
    seeds = {r["seed"] for runs in picked.values() for r in runs}
    alone = []
    reference = os.path.join(HERE, "results", REFERENCES[task], "results.json")
    for path in (reference, os.path.join(folder, "alone", "results.json")):
        if os.path.exists(path):
            with open(path) as f:
                alone += [r for r in json.load(f) if r["method"] in ("il", "cl")]
    alone = [r for r in alone if r["seed"] in seeds]
    return picked, {m: [r for r in alone if r["method"] == m] for m in ("il", "cl")}


def table(picked: dict, alone: dict) -> str:
    rows = [
        "| steps learned centrally | rate | seeds | return (100 greedy episodes), mean | per seed | central share measured | wall-clock (s) |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]

    def row(name, rate, runs, share, timed=True):
        runs = sorted(runs, key=lambda r: r["seed"])
        returns = [r["final_greedy_return"] for r in runs]
        # the reference runs come from an earlier study, on another machine
        seconds = f"{np.mean([r['train_seconds'] for r in runs]):.0f}" if timed else "-"
        per_seed = " / ".join(f"{v:.3f}" for v in returns)
        rows.append(
            f"| {name} | {rate} | {len(runs)} | {np.mean(returns):.3f} | {per_seed} | {share} | {seconds} |"
        )

    row("none (IPPO alone)", 0, alone["il"], "0%", timed=False)
    for (method, rate), runs in sorted(picked.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        share = np.mean([r["train_cl_update_share"] for r in runs])
        row(LABELS[method], rate, runs, f"{100 * share:.2f}%")
    row("all (MAPPO alone)", 1, alone["cl"], "100%", timed=False)
    return "\n".join(rows)


def plot(picked: dict, alone: dict, path: str, task: str = "2s-8x8-2p-2f-coop") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ends = {m: np.mean([r["final_greedy_return"] for r in alone[m]]) for m in alone}
    for n, method in enumerate(LABELS):
        rates = sorted(rate for m, rate in picked if m == method)
        if not rates:
            continue
        returns = {x: [r["final_greedy_return"] for r in picked[(method, x)]] for x in rates}
        means = [ends["il"], *(np.mean(returns[x]) for x in rates), ends["cl"]]
        ax.plot([0.0, *rates, 1.0], means, "o-", color=f"C{n}", label=LABELS[method])
        for x in rates:
            ax.plot([x] * len(returns[x]), returns[x], ".", color=f"C{n}", alpha=0.5)
    ax.axvline(0.05, color="grey", lw=0.8, ls=":", label="issue 19's 5% budget")
    ax.set_xlabel("share of steps learned with the central critic")
    ax.set_ylabel("final greedy return (100 episodes)")
    ax.set_title(f"{task}, IPPO's actor, 2M steps", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    tasks = (argv if argv is not None else sys.argv[1:]) or sorted(REFERENCES)
    for task in tasks:
        if task not in REFERENCES:
            raise SystemExit(f"unknown task {task!r}; tasks: {', '.join(sorted(REFERENCES))}")
        if not os.path.isdir(os.path.join(RESULTS, task)):
            continue
        picked, alone = load(task)
        text = table(picked, alone)
        print(f"{task}\n{text}")
        with open(os.path.join(RESULTS, task, "summary.md"), "w") as f:
            f.write(
                f"# {task}: return by central share (generated by benchmarks/mansa_hindsight.py)"
                f"\n\n{text}\n"
            )
        plot(picked, alone, os.path.join(RESULTS, task, "return_by_share.png"), task)
    return 0


if __name__ == "__main__":
    sys.exit(main())
