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
- ``leaderboard.md`` / ``leaderboard.html``: per task the mean final return over seeds with a
  95% Student-t interval; overall the IQM (and mean) of min-max normalised scores with 95%
  stratified-bootstrap intervals, and the probability of improvement between every pair of
  algorithms (Gorsane et al. 2022; :mod:`benchmarks.scores`); the failed runs;
- ``plots/<task>.png``: sample-efficiency curves (evaluation return against env steps, mean
  over seeds with its 95% interval) per task;
- ``gifs/<task>.gif``: an episode of the best run's best policy per task (algorithms/runs/render.py).

A run's score is its absolute metric (the best policy's mean return over
``eval.absolute_episodes`` episodes, as marl-eval) or, with ``score: final``, the mean return
of its last evaluation. Normalisation bounds per task are marl-eval's (the lowest and highest
episode return any run recorded on the task) unless the grid gives ``bounds``.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import yaml

import envs
from algorithms.runs.files import write_text_atomic
from benchmarks import grid as grid_module
from benchmarks.grid import (
    Cell,
    EnvEntry,
    Grid,
    RunRow,
    add_launcher_arguments,
    grid_from_dict,
    launcher_from_args,
    run_grid,
    slug,
)
from benchmarks.run_dirs import eval_entry, eval_steps, write_json
from benchmarks.scores import (
    Interval,
    iqm,
    mean_confidence_interval,
    min_max_normalise,
    probability_of_improvement_ci,
    stratified_bootstrap_ci,
    task_bounds,
)

COMMAND = "python -m benchmarks.leaderboard"
STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}img{max-width:48%;margin:4px}"
    "pre{white-space:pre-wrap;font-size:85%}"
)


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


def run_score(run: dict, score: str = "absolute") -> float:
    """A run's score: the mean absolute-metric return, or the last evaluation's mean return."""
    if score == "absolute" and run.get("absolute_metrics", {}).get("return"):
        return float(np.mean(run["absolute_metrics"]["return"]))
    steps = eval_steps(run)
    if not steps:
        raise ValueError("a run without evaluations has no score")
    return float(np.mean(steps[-1]["return"]))


def _episode_returns(run: dict) -> list[list[float]]:
    lists = [s["return"] for s in eval_steps(run)]
    if run.get("absolute_metrics", {}).get("return"):
        lists.append(run["absolute_metrics"]["return"])
    return lists


@dataclass
class TaskSummary:
    """One task's results: raw and normalised scores and the curves, per algorithm."""

    env: EnvEntry
    scores: dict[str, list[float]]
    normalised: dict[str, list[float]]
    bounds: tuple[float, float]
    curves: dict[
        str, tuple[np.ndarray, np.ndarray]
    ]  # algo -> (steps [K], per-seed mean return [S, K])
    best: tuple[str, int] | None  # (algorithm label, seed) of the best run


def summarise(grid: Grid, results: dict) -> list[TaskSummary]:
    """Scores, normalisation and sample-efficiency data per task of the grid."""
    summaries = []
    for env in grid.envs:
        env_name, task_name = env.names
        algos = results.get(env_name, {}).get(task_name, {})
        scores: dict[str, list[float]] = {}
        curves = {}
        episode_returns: list[list[float]] = []
        best, best_score = None, -np.inf
        for algo in grid.algorithms:
            runs = algos.get(algo.label, {})
            seeds = [s for s in grid.seeds if f"seed_{s}" in runs]
            if not seeds:
                continue
            scores[algo.label] = [run_score(runs[f"seed_{s}"], grid.score) for s in seeds]
            for s, value in zip(seeds, scores[algo.label]):
                if value > best_score:
                    best, best_score = (algo.label, s), value
            steps = [eval_steps(runs[f"seed_{s}"]) for s in seeds]
            length = min(len(s) for s in steps)
            if length:
                x = np.mean([[p["step_count"] for p in s[:length]] for s in steps], axis=0)
                y = np.array([[np.mean(p["return"]) for p in s[:length]] for s in steps])
                curves[algo.label] = (x, y)
            for s in seeds:
                episode_returns.extend(_episode_returns(runs[f"seed_{s}"]))
        if env.id in grid.bounds:
            bounds = grid.bounds[env.id]
        elif episode_returns:
            bounds = task_bounds(episode_returns)
        else:
            bounds = (0.0, 1.0)
        normalised = {
            a: [float(v) for v in min_max_normalise(v, *bounds)] for a, v in scores.items()
        }
        summaries.append(TaskSummary(env, scores, normalised, bounds, curves, best))
    return summaries


# ---------------------------------------------------------------------- the report
class Report:
    """Markdown and HTML written side by side from the same calls."""

    def __init__(self, title: str):
        self.md = [f"# {title}", ""]
        self.html = [
            "<!DOCTYPE html>",
            "<html><head><meta charset='utf-8'>",
            f"<title>{html.escape(title)}</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
        ]

    def heading(self, text: str) -> None:
        self.md += [f"## {text}", ""]
        self.html.append(f"<h2>{html.escape(text)}</h2>")

    def para(self, text: str, code: bool = False) -> None:
        self.md += ([f"```\n{text}\n```"] if code else [text]) + [""]
        self.html.append(
            f"<pre>{html.escape(text)}</pre>" if code else f"<p>{_inline_html(text)}</p>"
        )

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[tuple[str, bool] | str]],
        numeric: bool = True,
    ) -> None:
        """A table; cells are text or ``(text, bold)``; ``numeric`` right-aligns all but the first column."""

        def cell(c):
            return c if isinstance(c, tuple) else (str(c), False)

        self.md.append("| " + " | ".join(header) + " |")
        self.md.append(
            "|" + "|".join(["---"] + ["---:" if numeric else "---"] * (len(header) - 1)) + "|"
        )
        for row in rows:
            texts = [f"**{t}**" if bold else t for t, bold in map(cell, row)]
            self.md.append(
                "| " + " | ".join(t.replace("|", "\\|").replace("\n", " ") for t in texts) + " |"
            )
        self.md.append("")
        self.html.append(
            "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
        )
        for row in rows:
            cells = (
                f"<b>{html.escape(t)}</b>" if bold else html.escape(t) for t, bold in map(cell, row)
            )
            self.html.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        self.html.append("</table>")

    def images(self, items: Sequence[tuple[str, str]]) -> None:
        self.md += [" ".join(f"![{alt}]({path})" for alt, path in items), ""]
        self.html.append(
            "<p>"
            + "".join(f"<img src='{html.escape(p)}' alt='{html.escape(a)}'>" for a, p in items)
            + "</p>"
        )

    def write(self, out: str) -> None:
        with open(os.path.join(out, "leaderboard.md"), "w") as f:
            f.write("\n".join(self.md).rstrip() + "\n")
        with open(os.path.join(out, "leaderboard.html"), "w") as f:
            f.write("\n".join(self.html + ["</body></html>"]) + "\n")


def copy_into_readme(path: str, name: str, lines: Sequence[str]) -> None:
    """Replace the block between ``<!-- leaderboard:NAME -->`` and ``<!-- /leaderboard:NAME -->``
    in the markdown file ``path`` (headings demoted to bold lines), so the file shows the tables
    the last regeneration wrote; a file without the markers is an error, not silently skipped."""
    start, end = f"<!-- leaderboard:{name} -->", f"<!-- /leaderboard:{name} -->"
    with open(path) as f:
        text = f.read()
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"{path} must hold one {start} ... {end} block for the leaderboard tables")
    body = [f"**{line[3:]}**" if line.startswith("## ") else line for line in lines]
    head, rest = text.split(start)
    tail = rest.split(end)[1]
    write_text_atomic(path, head + start + "\n" + "\n".join(body).strip() + "\n" + end + tail)


def _inline_html(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _fmt(interval: Interval, n: int | None = None) -> str:
    """An interval with decimals for about four significant digits (returns range from 0.01 to 1e5)."""
    magnitude = max(abs(v) for v in (interval.value, interval.low, interval.high) if np.isfinite(v))
    text = interval.format(
        3 if magnitude < 10 else 2 if magnitude < 100 else 1 if magnitude < 1000 else 0
    )
    return f"{text} (n={n})" if n is not None else text


def plot_task(summary: TaskSummary, path: str) -> None:
    """Sample-efficiency curves of one task: mean evaluation return over seeds, 95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (x, y) in summary.curves.items():
        mean = y.mean(axis=0)
        (line,) = ax.plot(x, mean, label=f"{label} ({y.shape[0]} seeds)")
        if y.shape[0] > 1:
            bands = [mean_confidence_interval(y[:, k]) for k in range(y.shape[1])]
            ax.fill_between(
                x,
                [b.low for b in bands],
                [b.high for b in bands],
                color=line.get_color(),
                alpha=0.12,
            )
    if summary.curves:  # few seeds give wide t-intervals: keep the view on the seeds' returns
        values = np.concatenate([y.ravel() for _, y in summary.curves.values()])
        low, high = float(values.min()), float(values.max())
        margin = 0.1 * (high - low) or 0.1 * max(abs(high), 1e-3)
        ax.set_ylim(low - margin, high + margin)
    ax.set_xlabel("env steps")
    ax.set_ylabel("greedy evaluation return")
    ax.set_title(summary.env.label, fontsize=10)
    ax.grid(alpha=0.3)
    if summary.curves:
        ax.legend(fontsize=8, title="mean over seeds, 95% CI", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
    grid: Grid, rows: Sequence[RunRow], gifs: bool = True, command: str | None = None
) -> dict:
    """results.json, the leaderboard (md, html), plots and GIFs; returns the results dict."""
    out = grid.out
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    results = collect(rows)
    write_json(
        os.path.join(out, "results.json"), results, indent=None
    )  # every episode's numbers: compact
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
        "the absolute metric (the best policy's mean return over eval.absolute_episodes greedy episodes)"
        if grid.score == "absolute"
        else "the mean greedy return of the last evaluation"
    )
    report.para(
        f"A run's score is {score_text}. Intervals are 95%: Student-t over seeds per task; "
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
    report.heading("Per task: mean final return (95% CI, n seeds)")
    table = []
    for s in summaries:
        means = {a: mean_confidence_interval(v) for a, v in s.scores.items()}
        top = max((m.value for m in means.values()), default=None)
        row: list = [s.env.label]
        for a in labels:
            row.append(
                (_fmt(means[a], len(s.scores[a])), means[a].value == top)
                if a in means
                else "failed"
            )
        row.append(f"[{s.bounds[0]:.3g}, {s.bounds[1]:.3g}]")
        table.append(row)
    report.table(["task", *labels, "normalisation bounds"], table)

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
    top = max((v[0].value for v in aggregates.values()), default=None)
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
                (_fmt(iqm_ci), iqm_ci.value == top),
                _fmt(mean_ci),
                covered,
                str(sum(len(t) for t in tasks)),
            ]
        )
    report.table(["algorithm", "IQM", "mean", "tasks", "runs"], aggregate_rows)
    summary = report.md[summary_start:]

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
        plot_task(s, os.path.join(out, "plots", name))
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
        report.images(gif_items)
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
