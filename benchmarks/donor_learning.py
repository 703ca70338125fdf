"""Learning benchmark of issue 5: do learners sustain indirect reciprocity in the donor game?

The target: IPPO (and MF-AC) agents that observe their recipients' reputations under stern
judging reach a cooperation rate of at least 0.8, while the same agents with everything about
the recipient hidden (``observe_reputation=False, trace_length=0``) fall to at most 0.2; the
image-scoring case is reported too. Each condition is trained over the seeds; the table
gives the cooperation rate (the share of decisions with a positive donation), the share of
agents in good standing and the final resources, for the final greedy policy (``final``) and
the sampling policy over the last updates (``train``). marl-eval's absolute metric (the
policy with the best greedy return, re-evaluated) is kept in the results file but not
tabulated: here it is often the untrained policy, whose greedy action happens to donate. References: the scripted discriminator (donate fully to good recipients only),
always-cooperate and always-defect, on the same env settings.

    python benchmarks/donor_learning.py                                # IPPO, seed 0
    python benchmarks/donor_learning.py --algos ippo mfac --seeds 0 1 2 --save
    python benchmarks/donor_learning.py --conditions stern_visible --extra total_env_steps=50000

The runs are the grid ``benchmarks/donor_learning.yaml`` (:mod:`benchmarks.grid`: one env
entry per condition, ``--algos`` the learners), run through the launchers (a process pool,
``--jobs`` at once, or ``--launcher ray``) into ``--log-dir`` (the grid's ``runs_dir`` by
default); a finished run is not trained again. The env parameters the issue leaves free
(episode length, donation levels) are the env's defaults; the results file records the
conditions' env settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import envs
from benchmarks.grid import EnvEntry
from benchmarks.learning_runs import (
    add_learning_arguments,
    aggregate,
    load_learning_grid,
    markdown_table,
    print_or_save,
    run_learning_grid,
    scripted_reference,
)
from envs.donor.policies import AlwaysCooperate, AlwaysDefect, Discriminator

CONDITIONS = ("stern_visible", "stern_hidden", "image_visible")
ALGOS = ("ippo", "mfac")
TARGET_VISIBLE, TARGET_HIDDEN = 0.8, 0.2
TITLE = "Donor game: learned cooperation"


def references(conditions: list[EnvEntry], episodes: int) -> dict[str, dict[str, float]]:
    """Scripted discriminator / always-cooperate / always-defect on each condition's env settings."""
    out: dict[str, dict[str, float]] = {}
    for env in conditions:

        def make(copies: int, env=env):
            return envs.make_vec(env.id, copies, **env.kwargs)

        policies = {"ALLC": AlwaysCooperate, "ALLD": AlwaysDefect}
        if env.kwargs.get("observe_reputation", True):
            policies["DISC"] = Discriminator
        for short, cls in policies.items():
            cache: dict = {}

            def act(obs, env, cls=cls, cache=cache):
                return cache.setdefault("p", cls(env))(obs)

            out[f"{short} {env.label}"] = scripted_reference(act, make, episodes)
    return out


def tabulate(labels: list[str], records: list[dict], refs: dict[str, dict[str, float]]) -> str:
    """The markdown table of the runs (mean ± std over seeds per condition) and the references."""
    header = [
        "condition",
        "seeds",
        "coop final",
        "coop train",
        "good share final",
        "final resources final",
        "target",
    ]
    rows = []
    for label in labels:
        final, final_sd, n = aggregate(records, label, "final", "cooperation_rate")
        train, _, _ = aggregate(records, label, "train", "cooperation_rate")
        good, _, _ = aggregate(records, label, "final", "good_reputation_share")
        wealth, _, _ = aggregate(records, label, "final", "final_resources")
        if label.endswith("hidden"):
            target = f"<= {TARGET_HIDDEN}: {'yes' if final <= TARGET_HIDDEN else 'no'}"
        elif label.endswith("stern_visible"):
            target = f">= {TARGET_VISIBLE}: {'yes' if final >= TARGET_VISIBLE else 'no'}"
        else:
            target = "reported"
        rows.append([label, n, f"{final:.3f} ± {final_sd:.3f}", train, good, wealth, target])
    for name, ref in refs.items():
        rows.append(
            [
                name,
                "-",
                ref["cooperation_rate"],
                "-",
                ref["good_reputation_share"],
                ref["final_resources"],
                "reference",
            ]
        )
    return markdown_table(header, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--algos", nargs="+", choices=ALGOS, default=["ippo"])
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    add_learning_arguments(parser, "donor_learning.yaml")
    parser.add_argument("--reference-episodes", type=int, default=64)
    parser.add_argument(
        "--save", action="store_true", help="write benchmarks/results/donor/<--name>.{json,md}"
    )
    parser.add_argument("--name", default="learning", help="results file name (without extension)")
    parser.add_argument(
        "--retable", metavar="JSON", help="rewrite the table of a saved results file; no training"
    )
    args = parser.parse_args(argv)
    if args.retable:
        with open(args.retable) as f:
            saved = json.load(f)
        table = tabulate(
            list(dict.fromkeys(r["label"] for r in saved["runs"])),
            saved["runs"],
            saved["references"],
        )
        Path(args.retable).with_suffix(".md").write_text(f"# {TITLE}\n\n{table}\n")
        print(table)
        return

    grid = load_learning_grid(args, algorithms=args.algos)
    chosen = [env for env in grid.envs if env.label in args.conditions]
    refs = references(chosen, args.reference_episodes)
    records = run_learning_grid(
        grid,
        args,
        label=lambda cell: f"{cell.algo.label}-{cell.env.label}",
        select=lambda cell: cell.env.label in args.conditions,
    )
    labels = [f"{a.label}-{env.label}" for a in grid.algorithms for env in chosen]
    table = tabulate(labels, records, refs)
    payload = {
        "conditions": {
            f"{a.label}-{env.label}": {"env_id": env.id, "kwargs": env.kwargs}
            for a in grid.algorithms
            for env in chosen
        },
        "seeds": grid.seeds,
        "extra": args.extra,
        "runs": records,
        "references": refs,
    }
    print_or_save(args, "donor", TITLE, table, payload, "final")


if __name__ == "__main__":
    main()
