"""The leaderboard's figures: sample-efficiency small multiples per task, and the aggregate.

Eight learners' curves with their confidence bands in one panel hide each other (a 3-seed
Student-t band is wide), so each learner gets its own small panel on shared axes: its seeds as
thin lines, their mean as a thick one with the 95% band, and the other learners' means in grey
behind it for comparison. Panel titles name the learners, so no legend sits on the curves.
The aggregate figure draws each learner's IQM and mean with their bootstrap intervals
(the layout of rliable's interval plots).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from benchmarks.scores import Interval, mean_confidence_interval

#: panels per row of a task's figure
COLUMNS = 4


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colours(count: int) -> list[str]:
    """tab10 without its grey, which the other learners' curves use."""
    palette = [c for c in _pyplot().get_cmap("tab10").colors if len(set(c)) > 1]
    return [palette[k % len(palette)] for k in range(count)]


def _steps_label(x: float, _pos=None) -> str:
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def plot_curves(title: str, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str) -> None:
    """One task's sample-efficiency curves as small multiples, written to ``path`` (PNG).

    Args:
        title: the task's label.
        curves: algorithm -> (env steps ``[K]``, per-seed mean evaluation return ``[S, K]``).
        path: where the figure goes.
    """
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    labels = list(curves) or ["no finished runs"]
    cols = min(COLUMNS, len(labels))
    rows = math.ceil(len(labels) / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(2.9 * cols + 0.4, 2.2 * rows + 0.9),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for ax, label, colour in zip(axes.flat, labels, _colours(len(labels))):
        if label not in curves:
            ax.text(0.5, 0.5, label, ha="center", va="center", transform=ax.transAxes)
            continue
        for other, (x, y) in curves.items():
            if other != label:
                ax.plot(x, y.mean(axis=0), color="0.8", lw=1, zorder=1)
        x, y = curves[label]
        mean = y.mean(axis=0)
        for seed_curve in y:
            ax.plot(x, seed_curve, color=colour, lw=0.6, alpha=0.45, zorder=2)
        if y.shape[0] > 1:
            bands = [mean_confidence_interval(y[:, k]) for k in range(y.shape[1])]
            ax.fill_between(
                x, [b.low for b in bands], [b.high for b in bands], color=colour, alpha=0.18, lw=0
            )
        ax.plot(x, mean, color=colour, lw=2.2, zorder=3)
        ax.set_title(f"{label} ({y.shape[0]} seeds)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(FuncFormatter(_steps_label))
        ax.tick_params(labelsize=8)
    for ax in axes.flat[len(labels) :]:
        ax.axis("off")
    if curves:  # few seeds give wide t-intervals: keep the view on the seeds' returns
        values = np.concatenate([y.ravel() for _, y in curves.values()])
        low, high = float(values.min()), float(values.max())
        margin = 0.08 * (high - low) or 0.1 * max(abs(high), 1e-3)
        axes[0, 0].set_ylim(low - margin, high + margin)
    for ax in axes[-1]:
        ax.set_xlabel("env steps", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("eval return", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.text(
        0.5,
        0.005,
        "thick: mean over seeds, band: its 95% t-interval (clipped to the seeds' range), "
        "thin: each seed, grey: the other learners' means",
        ha="center",
        va="bottom",
        fontsize=7,
        color="0.35",
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_aggregate(aggregates: Mapping[str, tuple[Interval, Interval]], path: str) -> None:
    """Each algorithm's IQM and mean of normalised scores with their 95% intervals (PNG)."""
    plt = _pyplot()
    labels = list(aggregates)
    fig, axes = plt.subplots(1, 2, figsize=(8, 0.45 * max(len(labels), 1) + 1.3), sharey=True)
    ys = np.arange(len(labels))[::-1]
    for ax, index, name in zip(axes, (0, 1), ("IQM", "mean")):
        for y, label, colour in zip(ys, labels, _colours(len(labels))):
            interval = aggregates[label][index]
            if np.isfinite(interval.low) and np.isfinite(interval.high):
                ax.barh(
                    y,
                    interval.high - interval.low,
                    left=interval.low,
                    height=0.6,
                    color=colour,
                    alpha=0.6,
                )
            ax.plot([interval.value] * 2, [y - 0.3, y + 0.3], color="k", lw=1.5)
        ax.set_title(f"{name} of normalised scores", fontsize=9)
        ax.set_xlabel("normalised score (95% stratified-bootstrap CI)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0].set_yticks(ys, labels)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
