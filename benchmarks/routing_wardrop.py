"""Do learned drivers reach Wardrop's equilibrium when their routes do not come from it (issue 23)?

Route sets are each OD pair's k shortest paths under free-flow times (Braess: its 3 routes;
Sioux Falls: k = 8, the env's default 1000 drivers), never the equilibrium's routes. Learners:
policy mirror ascent (``algo=pma``) with the four reward variants of the env (``selfish``: own
travel time; ``cooperative``: the mean over one's OD pair; ``social``: half own, half everyone's;
``altruistic``: everyone's), and IQL and IPPO with selfish rewards. Drivers see their OD pair
only (``observe_times=false``, the static congestion game), except where a condition says.

Figures per run, at its end (:func:`benchmarks.pma_routing.run_curves`): the relative gap to
the user equilibrium (UE) of the trainer's final greedy evaluation (``greedy``: 50-day
episodes, the number the target reads), of the last training episode (``sampled``) and, for
PMA, of the flows its policies put on the network in expectation (``mean_field``); the same
three as TSTT over the system optimum's (``*_poa``, the price of anarchy of the flows).
Target (selfish drivers): greedy relative gap <= ``GAP_TARGET`` in every seed. The reward
variants have no target: their TSTT is set against the system optimum (SO) and the UE.

    python benchmarks/routing_wardrop.py --jobs 2                    # every condition, seeds 0-4
    python benchmarks/routing_wardrop.py --only pma --seeds 0        # one learner, one seed
    python benchmarks/routing_wardrop.py --summarise-only --save     # tables and plot
    python benchmarks/routing_wardrop.py --only siouxfalls_iql_selfish --seeds 2 3 4 --jobs 2 \
        --with-committed --save        # add seeds to a row; the others from curves.json
    python benchmarks/routing_wardrop.py --only siouxfalls_iql_anneal_selfish --seeds 5 6 7 8 9 \
        --jobs 2 --runs-dir runs/routing_iql_anneal   # IQL, rate annealed, held-out seeds
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np

from benchmarks.learning_runs import markdown_table
from benchmarks.pma_routing import ROOT, launch, make_parser, specs, summarise

RESULTS = os.path.join(ROOT, "benchmarks", "results", "routing", "wardrop")
GAP_TARGET = 0.02
REWARDS = ("selfish", "cooperative", "social", "altruistic")
BLIND = ("env.kwargs.routes=free_flow", "env.kwargs.observe_times=false")
PMA = {
    "braess": ("configs/pma_routing_braess.yaml", (*BLIND, "algo.drop_obs_tail=0")),
    "siouxfalls": ("configs/pma_routing_siouxfalls_free_flow.yaml", ()),
}
#: condition -> (network, algorithm, config file, extra overrides), as benchmarks.pma_routing's
CONDITIONS = {
    f"{network}_pma_{reward}": (network, "pma", config, (*extra, f"env.kwargs.reward={reward}"))
    for network, (config, extra) in PMA.items()
    for reward in REWARDS
    # one OD pair: its group is everyone, so cooperative is altruistic
    if not (network == "braess" and reward == "cooperative")
}
CONDITIONS["braess_iql_selfish"] = ("braess", "iql", "configs/iql_routing_braess.yaml", ())
CONDITIONS["braess_ippo_selfish"] = (
    "braess",
    "ippo",
    "configs/ippo_routing_braess_learn.yaml",
    BLIND,
)
# one shared network with the drivers' ids, the PMA runs' budget (about 20 minutes a run here)
CONDITIONS["siouxfalls_ippo_selfish"] = (
    "siouxfalls",
    "ippo",
    "configs/ippo_routing_siouxfalls_learn.yaml",
    (
        *BLIND,
        "env.kwargs.k=8",
        "algo.net.agent_id=true",
        "total_env_steps=12800",
        "eval.every_env_steps=3200",
    ),
)

# the same at twice the budget: the first row's gap was still falling at its end
CONDITIONS["siouxfalls_ippo_2x_selfish"] = (
    *CONDITIONS["siouxfalls_ippo_selfish"][:3],
    tuple(
        "total_env_steps=25600" if o == "total_env_steps=12800" else o
        for o in CONDITIONS["siouxfalls_ippo_selfish"][3]
    ),
)

# IPPO on the one-shot day, as IQL and PMA learn it: a driver sees its OD pair only, so with
# gamma 0.99 the advantage of today's route sums the next days' travel times, which today's route
# does not change; with gamma 0 it is today's time against the critic's
CONDITIONS["siouxfalls_ippo_oneshot_selfish"] = (
    *CONDITIONS["siouxfalls_ippo_selfish"][:3],
    (*CONDITIONS["siouxfalls_ippo_selfish"][3], "algo.gamma=0"),
)

CONDITIONS["siouxfalls_iql_selfish"] = (
    "siouxfalls",
    "iql",
    "configs/iql_routing_siouxfalls.yaml",
    (),
)

# IQL with the learning rate annealed to 0 over the run (as IPPO's): near-tied routes' Q-values
# stop moving, so the greedy day stops flipping
CONDITIONS.update(
    {
        f"{network}_iql_anneal_selfish": (
            *CONDITIONS[f"{network}_iql_selfish"][:3],
            ("algo.anneal_lr=true",),
        )
        for network in ("braess", "siouxfalls")
    }
)

# the target reads the greedy day: evaluate greedily (IPPO's default, "auto", samples)
CONDITIONS = {k: (*v[:3], (*v[3], "eval.actions=greedy")) for k, v in CONDITIONS.items()}


def reward_of(label: str) -> str:
    return next((r for r in REWARDS if label.endswith(f"_{r}")), "selfish")


def table(summary: dict) -> str:
    """The markdown table of final figures: mean [worst] over seeds."""

    def cell(final: dict, kind: str) -> str:
        if kind not in final:
            return "-"
        values = final[kind]["values"]
        return f"{np.mean(values):.4f} [{max(values):.4f}]"

    header = (
        *("condition", "learner", "reward", "seeds", "greedy gap", "sampled gap"),
        *("mean-field gap", "greedy TSTT/SO", "sampled TSTT/SO", "mean-field TSTT/SO", "target"),
    )
    rows = []
    for label, data in summary.items():
        final, reward = data["final"], reward_of(label)
        greedy = final["greedy"]["values"]
        verdict = (
            f"gap <= {GAP_TARGET} in {sum(g <= GAP_TARGET for g in greedy)}/{len(greedy)}"
            if reward == "selfish"
            else "-"
        )
        kinds = ("greedy", "sampled", "mean_field", "greedy_poa", "sampled_poa", "mean_field_poa")
        figures = [cell(final, kind) for kind in kinds]
        rows.append([label, CONDITIONS[label][1], reward, len(data["seeds"]), *figures, verdict])
    return markdown_table(header, rows)


def references() -> dict:
    """Each network's UE and SO TSTT (full network, solved to the solver's gap)."""
    import envs

    out = {}
    for network in PMA:
        core = envs.make_vec(f"routing-{network}-v0", 1)
        ue, so = float(core.ue.tstt), float(core.so.tstt)
        out[network] = {"ue_tstt": ue, "so_tstt": so, "ue_over_so": ue / so}
    return out


def plot(summary: dict, refs: dict, path: str) -> None:
    """Per network: the greedy relative gap to UE of the selfish learners over training, and the
    greedy TSTT over SO's of every reward variant (mean, min-max over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(PMA), figsize=(12, 8))
    for column, network in enumerate(PMA):
        for row, kind in enumerate(("greedy", "greedy_poa")):
            ax = axes[row, column]
            for n, (label, data) in enumerate(summary.items()):
                if CONDITIONS[label][0] != network:
                    continue
                if kind == "greedy" and reward_of(label) != "selfish":
                    continue
                series = [dict(c[kind]) for c in data["curves"].values() if c.get(kind)]
                steps = sorted(set.intersection(*(set(s) for s in series)))
                values = np.array([[s[x] for x in steps] for s in series])
                colour = plt.cm.tab20(n % 20)
                ax.plot(steps, values.mean(0), color=colour, label=label)
                ax.fill_between(steps, values.min(0), values.max(0), color=colour, alpha=0.15)
            if kind == "greedy":
                ax.axhline(GAP_TARGET, color="grey", lw=0.8, ls="--", label="target")
                ax.set_yscale("symlog", linthresh=1e-3)
                ax.set_ylim(0.0, 1.0)
                ax.set_title(f"{network}: greedy relative gap to UE", fontsize=9)
            else:
                ax.axhline(1.0, color="black", lw=0.8, label="SO")
                ax.axhline(refs[network]["ue_over_so"], color="grey", lw=0.8, ls=":", label="UE")
                ax.set_ylim(0.98, 1.3)
                ax.set_title(f"{network}: greedy TSTT / SO TSTT", fontsize=9)
            ax.set_xscale("symlog", linthresh=1e3)  # learners' budgets differ 16-fold
            ax.set_xlim(left=0.0)
            ax.set_xlabel("env steps (days x env copies; linear below 1000)")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, "routing_wardrop", RESULTS)
    parser.add_argument(
        "--with-committed",
        action="store_true",
        help="take the seeds whose run folders are not in --runs-dir from the committed "
        "curves.json (a row grown over sessions); a seed run here wins",
    )
    args = parser.parse_args(argv)
    if not args.summarise_only:
        launch(args, specs(args.runs_dir, args.seeds, args.only, CONDITIONS))
    committed = None
    if args.with_committed:  # seeds run in earlier sessions, whose run folders are gone
        with open(os.path.join(RESULTS, "curves.json")) as f:
            committed = json.load(f)
    summary = summarise(args.runs_dir, CONDITIONS, committed)
    text = table(summary)
    print(text)
    if args.save:
        refs = references()
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "summary.json"), "w") as f:
            brief = {k: {"seeds": d["seeds"], "final": d["final"]} for k, d in summary.items()}
            json.dump({"references": refs, "conditions": brief}, f, indent=1)
        with open(os.path.join(RESULTS, "curves.json"), "w") as f:
            json.dump({label: d["curves"] for label, d in summary.items()}, f)
        with open(os.path.join(RESULTS, "results.md"), "w") as f:
            f.write(f"# Learned drivers against Wardrop (generated)\n\n{text}\n")
        plot(summary, refs, os.path.join(RESULTS, "curves.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
