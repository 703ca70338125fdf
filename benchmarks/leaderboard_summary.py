"""The leaderboard's per-task figures: scores, normalisation, curves, final and best returns.

A run is scored on its absolute metric (the kept best policy re-evaluated, as marl-eval) or,
with ``score: final``, on its last evaluation; the per-task tables show both side by side, and
flag a best policy that is the untrained one (evaluated at step 0, before any update): on a
task where training makes the greedy policy worse, the absolute metric rewards not learning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from benchmarks.grid import EnvEntry, Grid
from benchmarks.leaderboard_report import Report, fmt, marked, top_marks
from benchmarks.run_dirs import eval_steps
from benchmarks.scores import mean_confidence_interval, min_max_normalise, task_bounds


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


@dataclass(frozen=True)
class RunFigures:
    """What the per-task table shows of one run."""

    final: float  # the last evaluation's mean return (the final policy)
    best: float | None  # the absolute metric: the kept best policy re-evaluated; None if absent
    best_step: int  # env steps of the evaluation point with the highest mean (first on ties)

    @property
    def untrained(self) -> bool:
        """The best policy is the one evaluated before any training (step 0)."""
        return self.best_step == 0


def run_figures(run: dict) -> RunFigures:
    """A run's final and best returns, and where its best policy came from.

    train.py keeps the policy of the evaluation point with the highest mean return (the first,
    on ties) and re-evaluates it for the absolute metric; that point is read back from the steps.
    """
    steps = eval_steps(run)
    if not steps:
        raise ValueError("a run without evaluations has no final return")
    means = [float(np.mean(p["return"])) for p in steps]
    absolute = run.get("absolute_metrics", {}).get("return")
    return RunFigures(
        final=means[-1],
        best=float(np.mean(absolute)) if absolute else None,
        best_step=int(steps[int(np.argmax(means))]["step_count"]),
    )


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
    runs: dict[str, list[RunFigures]] = field(default_factory=dict)  # algo -> per seed


def summarise(grid: Grid, results: dict) -> list[TaskSummary]:
    """Scores, normalisation and sample-efficiency data per task of the grid."""
    summaries = []
    for env in grid.envs:
        env_name, task_name = env.names
        algos = results.get(env_name, {}).get(task_name, {})
        scores: dict[str, list[float]] = {}
        figures: dict[str, list[RunFigures]] = {}
        curves = {}
        episode_returns: list[list[float]] = []
        best, best_score = None, -np.inf
        for algo in grid.algorithms:
            runs = algos.get(algo.label, {})
            seeds = [s for s in grid.seeds if f"seed_{s}" in runs]
            if not seeds:
                continue
            scores[algo.label] = [run_score(runs[f"seed_{s}"], grid.score) for s in seeds]
            figures[algo.label] = [run_figures(runs[f"seed_{s}"]) for s in seeds]
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
        summaries.append(TaskSummary(env, scores, normalised, bounds, curves, best, figures))
    return summaries


def _steps(step: int) -> str:
    return (
        f"{step / 1e6:.3g}M" if step >= 1e6 else f"{step / 1e3:.3g}k" if step >= 1e3 else str(step)
    )


def _best_origin(figures: list[RunFigures], kept: bool) -> str:
    """Where the best policies came from: flags the untrained (step-0) one, or its absence."""
    if not kept or all(f.best is None for f in figures):
        return "final policy (no best policy kept)"
    untrained = sum(f.untrained for f in figures)
    if untrained:
        return f"untrained (step 0) in {untrained} of {len(figures)} seeds"
    return "steps " + ", ".join(_steps(f.best_step) for f in figures)


def task_tables(
    report: Report,
    summaries: Sequence[TaskSummary],
    labels: Sequence[str],
    score: str,
    without_best: set[str],
) -> None:
    """Per task: each algorithm's final and best (absolute) return side by side, labelled."""
    report.heading("Per task: final and best policy's return (mean over seeds, 95% CI)")
    scored = "final" if score == "final" else "best"
    report.para(
        "**final**: the last evaluation's mean return, the policy training ended with. "
        "**best**: the absolute metric, the policy of the best evaluation point re-evaluated over "
        "eval.absolute_episodes episodes (marl-eval); it is flagged where that policy is the "
        f"untrained one evaluated at step 0. The {scored} column (scored) ranks the algorithms: "
        "**bold** where the top mean's interval clears every other one's, `=` where intervals "
        "overlap the top one's (tied for best)."
    )
    for s in summaries:
        report.heading(
            f"{s.env.label} (normalisation bounds [{s.bounds[0]:.3g}, {s.bounds[1]:.3g}])", 3
        )
        finals = {a: mean_confidence_interval([f.final for f in s.runs[a]]) for a in s.runs}
        bests = {
            a: mean_confidence_interval([f.best for f in s.runs[a]])
            for a in s.runs
            if all(f.best is not None for f in s.runs[a])
        }
        ranked = finals if scored == "final" else bests
        bold, tied = top_marks(ranked)
        rows = []
        for a in labels:
            if a not in s.runs:  # failed or not run yet: the unfinished runs' table says which
                rows.append([a, "0", "no run finished", "no run finished", ""])
                continue
            cells = [
                marked(v[a], a, bold, tied) if v is ranked else fmt(v[a]) if a in v else "n/a"
                for v in (finals, bests)
            ]
            origin = _best_origin(s.runs[a], a not in without_best)
            rows.append([a, str(len(s.runs[a])), *cells, origin])
        headers = [f"{c} (scored)" if c == scored else c for c in ("final", "best")]
        report.table(["algorithm", "seeds", *headers, "best policy from"], rows)
