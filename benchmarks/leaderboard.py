"""Run a grid of envs x algorithms x seeds through train.py and write the leaderboard.

    python -m benchmarks.leaderboard benchmarks/leaderboard.yaml             # the committed grid
    python -m benchmarks.leaderboard benchmarks/leaderboard.yaml --launcher ray [--address auto]
    python -m benchmarks.leaderboard --envs Foraging-8x8-2p-2f-coop-v3 donor-v0 --algos ippo mappo \\
        --seeds 0 1 2 --set total_env_steps=200000 --out my_results
    python -m benchmarks.leaderboard benchmarks/leaderboard.yaml --report-only   # tables from finished runs

The grid (its YAML format is in :mod:`benchmarks.grid`) runs through the launchers of
:mod:`benchmarks.launchers`: a local process pool (``--launcher process``, the default,
``--jobs`` at once), Ray (``--launcher ray``: a local instance, or the cluster at
``--address``), or this process (``--launcher serial``). A failed run is reported with its
error and the others go on; running the same grid again skips finished runs and resumes
interrupted ones.

Outputs in ``out``:

- ``results.json``: every finished run's evaluations merged in the marl-eval layout
  (``{env_name: {task_name: {algorithm: {"seed_k": {"step_i": ..., "absolute_metrics": ...}}}}}``);
- ``runs.json``: every run's status, error, env steps and wall time;
- ``leaderboard.md`` / ``leaderboard.html``: overall the IQM (and mean) of min-max normalised
  scores with 95% stratified-bootstrap intervals and their plot (``plots/aggregate.png``); per
  task each algorithm's final and best (absolute) return side by side with 95% Student-t
  intervals, flagging best policies that are the untrained one (:mod:`benchmarks.leaderboard_summary`);
  the probability of improvement between every pair of algorithms (Gorsane et al. 2022;
  :mod:`benchmarks.scores`); the failed runs. A best mean is bold only where its interval
  clears the others' (:mod:`benchmarks.leaderboard_report`);
- ``plots/<task>.png``: sample-efficiency curves (evaluation return against env steps), one
  small panel per algorithm with its seeds, mean and 95% band (:mod:`benchmarks.leaderboard_plots`);
- ``gifs/<task>.gif``: an episode of the best run's best policy per task (algorithms/runs/render.py).

A run's score is its absolute metric (the best policy's mean return over
``eval.absolute_episodes`` episodes, as marl-eval) or, with ``score: final``, the mean return
of its last evaluation. Normalisation bounds per task are marl-eval's (the lowest and highest
episode return any run recorded on the task) unless the grid gives ``bounds``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import yaml

import envs
from algorithms.runs.rundir import BEST_POLICY_FILE
from benchmarks import grid as grid_module
from benchmarks.grid import (
    Cell,
    Grid,
    RunRow,
    add_launcher_arguments,
    grid_from_dict,
    launcher_from_args,
    run_grid,
    slug,
)
from benchmarks.leaderboard_plots import plot_aggregate, plot_curves
from benchmarks.leaderboard_report import Report, copy_into_readme, fmt, marked, top_marks
from benchmarks.leaderboard_summary import TaskSummary, summarise, task_tables
from benchmarks.run_dirs import eval_entry, write_json
from benchmarks.scores import (
    iqm,
    probability_of_improvement_ci,
    stratified_bootstrap_ci,
)

COMMAND = "python -m benchmarks.leaderboard"
#: the aggregate figure, in the output folder
AGGREGATE = "plots/aggregate.png"


# ---------------------------------------------------------------------- results


def collect(rows: Sequence[RunRow]) -> dict:
    """The finished runs' evaluations merged in the marl-eval layout (algorithms by grid label)."""
    results: dict = {}
    for row in rows:
        if not row.record.done:
            continue
        env_name, task_name = row.cell.env.names
        algos = results.setdefault(env_name, {}).setdefault(task_name, {})
        algos.setdefault(row.cell.algo.label, {})[f"seed_{row.cell.seed}"] = eval_entry(
            row.cell.spec.run_dir
        )
    return results


# ---------------------------------------------------------------------- the report
def render_best(
    grid: Grid, summary: TaskSummary, cells: dict[tuple[str, str, int], Cell], path: str
) -> str | None:
    """Write a GIF of the best run's best policy on its task; returns an error message or None."""
    import envs
    from algorithms.runs.render import render_episode

    envs.import_env_modules(grid.imports, os.getcwd())
    label, seed = summary.best
    cell = cells[(summary.env.label, label, seed)]
    try:
        render_episode(
            None,
            checkpoint=cell.spec.run_dir,
            best=True,
            out=path,
            max_steps=grid.render.get("max_steps", 100),
            seed=int(grid.render.get("seed", 0)),
        )
    except Exception as err:  # noqa: BLE001 - a GIF is a nicety; report and go on
        return f"{type(err).__name__}: {err}"
    return None


def write_report(
    grid: Grid,
    rows: Sequence[RunRow],
    gifs: bool = True,
    command: str | None = None,
    results: dict | None = None,
    without_best: set[str] | None = None,
) -> dict:
    """results.json, the leaderboard (md, html), plots and GIFs; returns the results dict.

    ``results``: the merged evaluations to report instead of collecting them from the run
    directories (a committed results.json); ``without_best``: the algorithms whose runs kept no
    best policy (found from the run directories when not given).
    """
    out = grid.out
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    if results is None:
        results = collect(rows)
        write_json(
            os.path.join(out, "results.json"), results, indent=None
        )  # every episode's numbers: compact
    if without_best is None:
        without_best = {
            r.cell.algo.label
            for r in rows
            if r.record.done
            and not os.path.exists(os.path.join(r.cell.spec.run_dir, BEST_POLICY_FILE))
        }
    summaries = summarise(grid, results)
    labels = [a.label for a in grid.algorithms]
    finished = sum(r.record.done for r in rows)
    failed = [r for r in rows if r.record.status == "failed"]
    unfinished = [r for r in rows if not r.record.done and r.record.status != "failed"]

    report = Report(f"Leaderboard: {grid.name}")
    regenerate = command or (f"{COMMAND} {grid.source}" if grid.source else COMMAND)
    report.para(
        f"Regenerate with `{regenerate}`. {finished} of {len(rows)} runs finished, {len(failed)} failed"
        + (f", {len(unfinished)} not finished" if unfinished else "")
        + f"; seeds {grid.seeds}."
    )
    score_text = (
        "the absolute metric (the best policy's mean return over eval.absolute_episodes held-out episodes)"
        if grid.score == "absolute"
        else "the mean return of the last evaluation"
    )
    report.para(
        f"A run's score is {score_text}. Evaluations act as train.py's eval.actions says (by "
        "default on-policy learners with discrete actions sample their actions, the others act "
        "greedily). Intervals are 95%: Student-t over seeds per task; "
        f"stratified bootstrap ({grid.reps} resamples) for the aggregates and 2000 for the probability "
        "of improvement (Gorsane et al. 2022, after rliable)."
    )
    overrides = [
        ("every run", grid.overrides),
        *((env.label, env.overrides) for env in grid.envs),
        *((algo.label, algo.overrides) for algo in grid.algorithms),
        ("the command line's --set (applied last)", grid.last_overrides),
    ]
    overrides = [(where, items) for where, items in overrides if items]
    if overrides:
        report.para("train.py overrides, in the order they apply:")
        report.table(
            ["applies to", "overrides"],
            [[where, " ".join(items)] for where, items in overrides],
            numeric=False,
        )

    summary_start = len(report.md)
    report.heading("Overall: IQM of min-max normalised scores (95% stratified-bootstrap CI)")
    aggregates, per_algo = {}, {}
    for a in labels:
        tasks = [s.normalised[a] for s in summaries if a in s.normalised]
        if tasks:
            per_algo[a] = {s.env.label: s.normalised[a] for s in summaries if a in s.normalised}
            aggregates[a] = (
                stratified_bootstrap_ci(tasks, iqm, reps=grid.reps, seed=0),
                stratified_bootstrap_ci(tasks, np.mean, reps=grid.reps, seed=0),
                tasks,
            )
    bold, tied = top_marks({a: v[0] for a, v in aggregates.items()})
    aggregate_rows = []
    for a in labels:
        if a not in aggregates:
            aggregate_rows.append([a, "no finished runs", "", "0", "0"])
            continue
        iqm_ci, mean_ci, tasks = aggregates[a]
        covered = f"{len(tasks)}" + (
            "" if len(tasks) == len(summaries) else f" of {len(summaries)}"
        )
        aggregate_rows.append(
            [
                a,
                marked(iqm_ci, a, bold, tied),
                fmt(mean_ci),
                covered,
                str(sum(len(t) for t in tasks)),
            ]
        )
    report.para(
        f"Scores are each task's {grid.score} return, min-max normalised with the task's bounds; "
        "**bold**: the top IQM's interval clears every other one's; `=`: tied for best."
    )
    report.table(["algorithm", "IQM", "mean", "tasks", "runs"], aggregate_rows)
    if aggregates:
        plot_aggregate({a: v[:2] for a, v in aggregates.items()}, os.path.join(out, AGGREGATE))
        report.images([("IQM and mean of normalised scores", AGGREGATE)])
    task_tables(report, summaries, labels, grid.score, without_best)
    summary = [line for line in report.md[summary_start:] if not line.startswith("![")]

    if len(per_algo) > 1:
        report.heading("Probability of improvement P(row > column) (95% CI)")
        report.para(
            "Over the tasks both algorithms finished; 0.5 means neither tends to beat the other; "
            "bold where the whole interval lies above 0.5."
        )
        pi_rows = []
        for x, x_tasks in per_algo.items():
            row = [x]
            for y, y_tasks in per_algo.items():
                shared = [t for t in x_tasks if t in y_tasks]
                if x == y or not shared:
                    row.append("")
                    continue
                pi = probability_of_improvement_ci(
                    [x_tasks[t] for t in shared], [y_tasks[t] for t in shared]
                )
                row.append((pi.format(2), pi.low > 0.5))
            pi_rows.append(row)
        report.table(["", *per_algo], pi_rows)

    report.heading("Sample efficiency")
    plots = []
    for s in summaries:
        name = f"{slug(s.env.label)}.png"
        plot_curves(s.env.label, s.curves, os.path.join(out, "plots", name))
        plots.append((s.env.label, f"plots/{name}"))
    report.images(plots)

    if gifs and grid.render.get("enabled", True):
        report.heading("Best run per task")
        cells = {(c.env.label, c.algo.label, c.seed): c for c in (r.cell for r in rows)}
        os.makedirs(os.path.join(out, "gifs"), exist_ok=True)
        gif_items, notes = [], []
        for s in summaries:
            if s.best is None:
                continue
            name = f"{slug(s.env.label)}.gif"
            error = render_best(grid, s, cells, os.path.join(out, "gifs", name))
            if error:
                notes.append(f"{s.env.label}: no GIF ({error})")
            else:
                gif_items.append((f"{s.env.label}: {s.best[0]} seed {s.best[1]}", f"gifs/{name}"))
        report.para("; ".join(f"{alt}" for alt, _ in gif_items) or "no GIFs")
        report.images(gif_items, css="gif")
        for note in notes:
            report.para(note)

    if failed or unfinished:
        report.heading("Runs that did not finish")
        report.table(
            ["run", "status", "error"],
            [
                [r.cell.spec.name, r.record.status, (r.record.error.splitlines() or [""])[0]]
                for r in failed + unfinished
            ],
            numeric=False,
        )
    report.write(out)
    if grid.readme:
        copy_into_readme(
            grid.readme,
            grid.name,
            [
                f"Copied from `{os.path.join(out, 'leaderboard.md')}` by `{regenerate}`.",
                "",
                *summary,
            ],
        )
    return results


# ---------------------------------------------------------------------- command line
def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description=__doc__.split("\n\n")[0],
        epilog=__doc__ + "\n" + grid_module.__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("grid", nargs="?", help="grid YAML file (or give --envs and --algos)")
    parser.add_argument(
        "--envs", nargs="+", metavar="ENV_ID", help="env ids (replace the file's envs)"
    )
    parser.add_argument(
        "--algos", nargs="+", metavar="ALGO", help="algorithms (replace the file's)"
    )
    parser.add_argument(
        "--seeds", nargs="+", type=int, metavar="SEED", help="seeds (replace the file's)"
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="key=value",
        help="train.py overrides for every run (applied after the grid file's)",
    )
    envs.add_import_option(parser, "in every run")
    add_launcher_arguments(parser)
    parser.add_argument("--out", help="where results go (default benchmarks/results/<name>)")
    parser.add_argument(
        "--runs-dir", help="where run directories go (default runs/leaderboard/<name>)"
    )
    parser.add_argument("--name", help="the grid's name")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the report from finished runs; train nothing",
    )
    parser.add_argument("--no-gifs", action="store_true", help="skip the best-run GIFs")
    return parser.parse_args(argv)


def grid_from_args(args: argparse.Namespace) -> Grid:
    """The grid of a YAML file, with the command line's replacements and additions."""
    if args.grid:
        if not os.path.isfile(args.grid):
            raise ValueError(f"grid file {args.grid} does not exist")
        with open(args.grid) as f:
            data = yaml.safe_load(f) or {}
    elif args.envs and args.algos:
        data = {}
    else:
        raise ValueError("give a grid file, or --envs and --algos")
    if args.envs:
        data["envs"] = list(args.envs)
    if args.algos:
        data["algorithms"] = list(args.algos)
    if args.seeds:
        data["seeds"] = list(args.seeds)
    for key in ("out", "name"):
        if getattr(args, key):
            data[key] = getattr(args, key)
    if args.runs_dir:
        data["runs_dir"] = args.runs_dir
    if args.imports:
        data["imports"] = [*(data.get("imports") or []), *args.imports]
    bad = [item for item in args.set if "=" not in item]
    if bad:
        raise ValueError(f"--set takes key=value train.py overrides, got {bad}")
    return grid_from_dict(data, source=args.grid, last_overrides=args.set)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        grid = grid_from_args(args)
        launcher = None if args.report_only else launcher_from_args(args)
    except (ValueError, TypeError, RuntimeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        rows = run_grid(grid, launcher)
    except KeyboardInterrupt:
        print(
            "interrupted: finished runs are kept; run the same command again to continue",
            file=sys.stderr,
        )
        return 130
    import torch

    torch.set_num_threads(1)  # the GIFs' small policy networks: more threads only contend
    words = [
        w
        for w in (sys.argv[1:] if argv is None else argv)
        if w not in ("--report-only", "--no-gifs")
    ]
    write_report(grid, rows, gifs=not args.no_gifs, command=" ".join([COMMAND, *words]))
    failed = [r for r in rows if not r.record.done]
    print(
        f"wrote {os.path.join(grid.out, 'leaderboard.md')} ({len(rows) - len(failed)} runs finished, "
        f"{len(failed)} not)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
