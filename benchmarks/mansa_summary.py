"""MANSA's decisive figures as one machine-readable file, regenerated from result folders.

    python -m benchmarks.mansa_summary RESULTS_DIR [RESULTS_DIR ...] --out SUMMARY.json

Every ``results.json`` under the folders given (written by :mod:`benchmarks.mansa`) gives one
row per study folder, task, pairing and ``switch``: per seed MANSA's return (sampled switcher,
as its ``act`` plays; the greedy switcher's beside it), IL's and CL's alone, the CL share in
training (of steps for switch=act, of updates for switch=learn) and at evaluation, and the
control's return at the same call rate (switch=act: CL's action at random steps, from the
evaluation; switch=learn: the ``control`` training run, the centralised rule at random states).
Where a switch=act study has a ``control`` training run too (CL called at random states in
training), its return is ``train_control_return`` and the row's ``above_train_control`` says
whether MANSA beats it on the seed means: whether the switcher's choice of states mattered in
training. It informs the reading; ``target_met`` keeps the evaluation control.
``target_met`` is DESIGN 3's target on the seed means: MANSA >= CL alone - 0.05, a CL share
<= 5% in training, and MANSA above the control; None where a figure is missing. ``cost_met`` is
issue 19's cost target on the seed means of the training seconds: MANSA's below CL alone's
(None where one is missing). Wall-clock compares only runs that shared a machine and its load;
each folder's README says what ran beside what.

``protocol`` says which figures may decide it (issue 19): settings are chosen on seeds 0-4
(``tuning``); a fresh run on seeds 5-9 with them frozen (``held-out``) decides; a row mixing
both (seeds added after a miss) is ``mixed`` and decides nothing. ``decides`` is True only for
a held-out row with the target's five seeds (fewer is a diagnostic). A row whose MANSA ran with
a stand-in ``algo.demonstrator`` (uniform or il: random or IL's own actions at the called steps,
the controls for CL-to-IL transfer) is a control, not a design: its ``demonstrator`` says so,
and it neither decides nor has a target.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from benchmarks.mansa import override_value
from benchmarks.run_dirs import write_json

TARGET_SHARE, TARGET_GAP = 0.05, 0.05
#: issue 19's protocol: settings chosen on these seeds, the decision on the others
TUNING_SEEDS = range(5)
#: the target's number of seeds: a held-out row with fewer decides nothing
TARGET_SEEDS = 5
#: switch=act's control in mansa_eval.json: CL's greedy joint action at random steps
ACT_CONTROL = "cl_random_steps"


def _by_seed(runs: list[dict], method: str, env: str, pairing: str) -> dict[int, dict]:
    return {
        r["seed"]: r
        for r in runs
        if r["method"] == method and r["env"] == env and r["pairing"] == pairing
    }


def seed_figures(mansa: dict, il: dict | None, cl: dict | None, control: dict | None) -> dict:
    """One seed's figures (None where the run is missing)."""
    learn = mansa.get("switch") == "learn"
    share = mansa.get("train_cl_update_share") if learn else None
    train_control = control.get("final_greedy_return") if control else None
    control_return = (
        train_control if learn else mansa.get("final_part_returns", {}).get(ACT_CONTROL)
    )
    return {
        "seed": mansa["seed"],
        "mansa_return": mansa.get("final_sampled_switcher_return", mansa["final_greedy_return"]),
        "mansa_greedy_switcher_return": mansa["final_greedy_return"],
        "il_return": il["final_greedy_return"] if il else None,
        "cl_return": cl["final_greedy_return"] if cl else None,
        "cl_share_train": share if share is not None else mansa.get("train_cl_fraction"),
        "cl_share_eval": mansa.get("eval_sampled_cl_fraction", mansa.get("eval_cl_fraction")),
        "control_return": control_return,
        "train_control_return": train_control,
        "cl_time_share": mansa.get("cl_time_share"),
        "mansa_seconds": mansa.get("train_seconds"),
        "cl_seconds": cl.get("train_seconds") if cl else None,
    }


def seed_means(seeds: list[dict], keys: tuple[str, ...]) -> dict[str, float] | None:
    """The mean over seeds of each key; None if there are no seeds or a figure is missing."""
    if not seeds or any(s[k] is None for s in seeds for k in keys):
        return None
    return {k: float(np.mean([s[k] for s in seeds])) for k in keys}


def target_met(seeds: list[dict]) -> bool | None:
    """The target on the seed means; None if a figure it needs is missing."""
    mean = seed_means(seeds, ("mansa_return", "cl_return", "cl_share_train", "control_return"))
    if mean is None:
        return None
    return bool(
        mean["mansa_return"] >= mean["cl_return"] - TARGET_GAP
        and mean["cl_share_train"] <= TARGET_SHARE
        and mean["mansa_return"] > mean["control_return"]
    )


def above_train_control(seeds: list[dict]) -> bool | None:
    """MANSA's mean return above its random-state training control's; None if one is missing."""
    mean = seed_means(seeds, ("mansa_return", "train_control_return"))
    return None if mean is None else bool(mean["mansa_return"] > mean["train_control_return"])


def cost_met(seeds: list[dict]) -> bool | None:
    """MANSA's mean training seconds below CL alone's; None if a figure is missing."""
    mean = seed_means(seeds, ("mansa_seconds", "cl_seconds"))
    return None if mean is None else bool(mean["mansa_seconds"] < mean["cl_seconds"])


def protocol(seeds: list[dict]) -> str:
    """``tuning`` (seeds 0-4 only), ``held-out`` (none of them) or ``mixed``."""
    tuning = {s["seed"] in TUNING_SEEDS for s in seeds}
    if tuning == {True}:
        return "tuning"
    return "held-out" if tuning == {False} else "mixed"


def demonstrator(run: dict) -> str:
    """Who played MANSA's called steps: ``algo.demonstrator`` from the run's overrides (cl if unset)."""
    return override_value(run.get("overrides", []), "algo.demonstrator", "cl")


def study_rows(runs: list[dict], study: str) -> list[dict]:
    """The rows of one results.json (failed runs left out)."""
    runs = [r for r in runs if "error" not in r]
    rows = []
    keys = sorted({(r["env"], r["pairing"]) for r in runs if r["method"] == "mansa"})
    for env, pairing in keys:
        mansa = _by_seed(runs, "mansa", env, pairing)
        il, cl, control = (_by_seed(runs, m, env, pairing) for m in ("il", "cl", "control"))
        variants = sorted({(r.get("switch") or "act", demonstrator(r)) for r in mansa.values()})
        for switch, demo in variants:
            seeds = [
                seed_figures(r, il.get(seed), cl.get(seed), control.get(seed))
                for seed, r in sorted(mansa.items())
                if ((r.get("switch") or "act"), demonstrator(r)) == (switch, demo)
            ]
            design = demo == "cl"  # else a control of transfer, not a MANSA design
            seeds_protocol = protocol(seeds)
            held_out = seeds_protocol == "held-out" and len(seeds) >= TARGET_SEEDS
            rows.append(
                {
                    "study": study,
                    "task": env,
                    "pairing": pairing,
                    "switch": switch,
                    "demonstrator": demo,
                    "seeds": seeds,
                    "protocol": seeds_protocol,
                    "decides": design and held_out,
                    "target_met": target_met(seeds) if design else None,
                    "cost_met": cost_met(seeds) if design else None,
                    "above_train_control": above_train_control(seeds) if design else None,
                }
            )
    return rows


def summary(folders: list[str]) -> list[dict]:
    """Every row of every results.json under ``folders``, by study folder path."""
    rows = []
    for folder in folders:
        for root, _, files in sorted(os.walk(folder)):
            if "results.json" in files:
                with open(os.path.join(root, "results.json")) as f:
                    runs = json.load(f)
                rows += study_rows(runs, os.path.relpath(root, folder))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", help="result folders, searched for results.json")
    parser.add_argument("--out", required=True, help="the summary file to write")
    args = parser.parse_args(argv)
    rows = summary(args.folders)
    write_json(args.out, rows)
    met = sum(r["target_met"] is True for r in rows)
    deciding = [r for r in rows if r["decides"]]
    decided = sum(r["target_met"] is True for r in deciding)
    cheaper = sum(r["cost_met"] is True for r in deciding)
    print(
        f"wrote {args.out}: {len(rows)} rows, target met in {met}; "
        f"{len(deciding)} held-out rows decide, target met in {decided}, cost target in {cheaper}"
    )


if __name__ == "__main__":
    sys.exit(main())
