"""The leaderboard's statistics: the Gorsane et al. (2022) protocol, after rliable.

Reporting a few seeds' mean hides how unsure the comparison is. Gorsane et al. (2022,
"Towards a Standardised Performance Evaluation Protocol for Cooperative MARL") adopt the
tools of Agarwal et al. (2021, rliable) and marl-eval implements them; this module does the
same in plain numpy, so the leaderboard needs neither package:

- :func:`min_max_normalise`: scores put on a common [0, 1] scale per task (marl-eval takes
  each task's bounds as the minimum and maximum over every recorded episode return of every
  algorithm, seed and evaluation step; :func:`task_bounds` computes them).
- :func:`iqm`: the interquartile mean, the mean of the middle 50% of the pooled
  (run x task) scores; robust to outlier runs, less noisy than the median.
- :func:`stratified_bootstrap_ci`: a percentile confidence interval for an aggregate,
  resampling runs with replacement *within each task* (tasks are fixed, runs are random).
- :func:`probability_of_improvement`: P(X > Y), the chance that a run of algorithm X on a
  task beats a run of Y (ties count half), averaged over tasks; its interval comes from an
  independent stratified bootstrap of both sides (:func:`probability_of_improvement_ci`).
- :func:`mean_confidence_interval`: the per-task mean over seeds with a Student-t interval
  (marl-eval uses 1.96 standard errors; with 3-10 seeds the t quantile is the honest one).

Scores may be ragged: ``scores[t]`` holds the runs of task ``t`` (a failed run leaves a task
with fewer). A 2-D array ``[runs, tasks]`` is accepted as well, as rliable takes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit

#: ``scores[t]``: the runs' scores on task ``t`` (or a ``[runs, tasks]`` array).
TaskScores = Sequence[Sequence[float]] | np.ndarray


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval ``[low, high]`` (NaN where undefined)."""

    value: float
    low: float
    high: float

    def format(self, digits: int = 3) -> str:
        """``"0.812 [0.700, 0.901]"``, or just the value when the interval is undefined."""
        if np.isnan(self.low) or np.isnan(self.high):
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def _per_task(scores: TaskScores) -> list[np.ndarray]:
    """Scores as one 1-D float array per task; a 2-D array is read as ``[runs, tasks]``."""
    if isinstance(scores, np.ndarray):
        if scores.ndim != 2:
            raise ValueError(f"a score array must be 2-D [runs, tasks], got shape {scores.shape}")
        columns = [scores[:, t].astype(np.float64) for t in range(scores.shape[1])]
    else:
        columns = [np.asarray(task, dtype=np.float64).ravel() for task in scores]
    if not columns:
        raise ValueError("scores must hold at least one task")
    for t, column in enumerate(columns):
        if column.size == 0:
            raise ValueError(f"task {t} has no runs; drop it before aggregating")
        if not np.all(np.isfinite(column)):
            raise ValueError(f"task {t} has a non-finite score: {column.tolist()}")
    return columns


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean along ``axis``: drop the lowest and highest 25%, average the rest.

    As ``scipy.stats.trim_mean(values, 0.25)`` (rliable's ``aggregate_iqm``): with ``n``
    values, ``floor(n / 4)`` are cut from each end.
    """
    values = np.sort(np.asarray(values, dtype=np.float64), axis=axis)
    n = values.shape[axis]
    if n == 0:
        raise ValueError("iqm of an empty array")
    cut = n // 4
    return np.take(values, np.arange(cut, n - cut), axis=axis).mean(axis=axis)


def pooled_iqm(scores: TaskScores) -> float:
    """The IQM of all (run, task) scores pooled together: the leaderboard's aggregate."""
    return float(iqm(np.concatenate(_per_task(scores))))


def min_max_normalise(values: np.ndarray | float, low: float, high: float) -> np.ndarray:
    """``(values - low) / (high - low)``; all zeros when ``high == low`` (every run scored the same)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"normalisation bounds must be finite, got low={low}, high={high}")
    if high < low:
        raise ValueError(f"normalisation bounds must have low <= high, got low={low}, high={high}")
    values = np.asarray(values, dtype=np.float64)
    if high == low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def task_bounds(returns: Sequence[Sequence[float]]) -> tuple[float, float]:
    """marl-eval's normalisation bounds for one task: min and max over every episode return given.

    ``returns`` holds lists of episode returns (every evaluation point and the absolute
    metric of every run of every algorithm on the task).
    """
    flat = (
        np.concatenate([np.asarray(r, dtype=np.float64).ravel() for r in returns])
        if returns
        else np.empty(0)
    )
    if flat.size == 0:
        raise ValueError("task_bounds needs at least one episode return")
    return float(flat.min()), float(flat.max())


def mean_confidence_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of ``values`` with a Student-t interval (undefined, NaN, for fewer than 2 values)."""
    _check_confidence(confidence)
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("mean_confidence_interval needs at least one value")
    mean = float(values.mean())
    if values.size < 2:
        return Interval(mean, float("nan"), float("nan"))
    half = (
        stdtrit(values.size - 1, 0.5 + confidence / 2) * values.std(ddof=1) / np.sqrt(values.size)
    )
    return Interval(mean, float(mean - half), float(mean + half))


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def _check_reps(reps: int) -> None:
    if not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")


def _resample(columns: list[np.ndarray], reps: int, rng: np.random.Generator) -> np.ndarray:
    """``[reps, total runs]``: each task's runs redrawn with replacement from that task only."""
    parts = [column[rng.integers(column.size, size=(reps, column.size))] for column in columns]
    return np.concatenate(parts, axis=1)


def stratified_bootstrap_ci(
    scores: TaskScores,
    statistic: Callable[[np.ndarray], np.ndarray] = iqm,
    *,
    reps: int = 50_000,
    confidence: float = 0.95,
    seed: int = 0,
    chunk: int = 5_000,
) -> Interval:
    """An aggregate of ``scores`` with its stratified-bootstrap percentile interval.

    Args:
        scores: per-task runs (ragged allowed) or a ``[runs, tasks]`` array.
        statistic: maps pooled scores ``[..., M]`` to ``[...]`` along the last axis
            (:func:`iqm` by default; ``np.mean``-like functions taking ``axis=-1`` work).
        reps: bootstrap resamples (rliable uses 50,000 for aggregates).
        confidence: interval coverage.
        seed: the resampling seed (the same seed gives the same interval).
        chunk: resamples drawn at once (bounds memory).
    """
    _check_confidence(confidence)
    _check_reps(reps)
    columns = _per_task(scores)
    rng = np.random.default_rng(seed)
    point = float(statistic(np.concatenate(columns), axis=-1))
    draws = np.concatenate(
        [
            np.asarray(
                statistic(_resample(columns, min(chunk, reps - done), rng), axis=-1),
                dtype=np.float64,
            )
            for done in range(0, reps, chunk)
        ]
    )
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(point, float(low), float(high))


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 for samples ``x [..., n]`` and ``y [..., m]`` (along the last axes)."""
    diff = x[..., :, None] - y[..., None, :]
    return np.greater(diff, 0).mean(axis=(-2, -1)) + 0.5 * np.equal(diff, 0).mean(axis=(-2, -1))


def _paired_tasks(x: TaskScores, y: TaskScores) -> tuple[list[np.ndarray], list[np.ndarray]]:
    xs, ys = _per_task(x), _per_task(y)
    if len(xs) != len(ys):
        raise ValueError(
            f"both algorithms need scores on the same tasks: got {len(xs)} and {len(ys)} tasks"
        )
    return xs, ys


def probability_of_improvement(x: TaskScores, y: TaskScores) -> float:
    """P(X > Y) averaged over tasks: per task, the Mann-Whitney U statistic over ``n * m`` pairs."""
    xs, ys = _paired_tasks(x, y)
    return float(np.mean([_improvement(a, b) for a, b in zip(xs, ys)]))


def probability_of_improvement_ci(
    x: TaskScores,
    y: TaskScores,
    *,
    reps: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """:func:`probability_of_improvement` with an independent stratified-bootstrap interval.

    Runs of X and of Y are redrawn independently, each within its task (rliable's
    ``StratifiedIndependentBootstrap``; it uses 2,000 resamples for this statistic).
    """
    _check_confidence(confidence)
    _check_reps(reps)
    xs, ys = _paired_tasks(x, y)
    rng = np.random.default_rng(seed)
    draws = np.zeros(reps)
    for a, b in zip(xs, ys):
        draws += _improvement(
            a[rng.integers(a.size, size=(reps, a.size))],
            b[rng.integers(b.size, size=(reps, b.size))],
        )
    draws /= len(xs)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(probability_of_improvement(xs, ys), float(low), float(high))
