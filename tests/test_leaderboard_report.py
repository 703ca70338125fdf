"""The leaderboard's page from small synthetic results: each plot type, the marks, the flags."""

import matplotlib.image
import numpy as np
import pytest

from benchmarks.grid import grid_from_dict
from benchmarks.leaderboard_plots import plot_aggregate, plot_curves
from benchmarks.leaderboard_report import Report, top_marks
from benchmarks.leaderboard_summary import run_figures, summarise, task_tables
from benchmarks.scores import Interval

ALGOS = ["ippo", "mappo", "iql", "qmix", "mfq"]


def synthetic_curves(rng, algos=ALGOS, seeds=3, points=6):
    x = np.linspace(0, 30_000, points)
    return {
        a: (x, rng.normal(size=(seeds, points)).cumsum(axis=1) + 10 * k)
        for k, a in enumerate(algos)
    }


def test_curves_are_small_multiples_one_panel_per_algorithm(tmp_path):
    rng = np.random.default_rng(0)
    sizes = {}
    for count in (1, 4, 5):
        path = tmp_path / f"{count}.png"
        plot_curves("task", synthetic_curves(rng, ALGOS[:count]), str(path))
        sizes[count] = matplotlib.image.imread(path).shape[:2]
    # up to four panels side by side, then a second row: a fifth algorithm makes the figure taller
    assert sizes[1][1] < sizes[4][1] == sizes[5][1]
    assert sizes[4][0] < sizes[5][0]
    plot_curves("no runs", {}, str(tmp_path / "empty.png"))
    assert matplotlib.image.imread(tmp_path / "empty.png").size > 0


def test_the_aggregate_plot_draws_each_algorithm(tmp_path):
    aggregates = {
        a: (Interval(0.1 * k, 0.1 * k - 0.05, 0.1 * k + 0.05), Interval(0.1 * k, np.nan, np.nan))
        for k, a in enumerate(ALGOS)
    }
    plot_aggregate(aggregates, str(tmp_path / "aggregate.png"))
    plot_aggregate(dict(list(aggregates.items())[:2]), str(tmp_path / "two.png"))
    tall, short = (
        matplotlib.image.imread(tmp_path / n).shape[0] for n in ("aggregate.png", "two.png")
    )
    assert tall > short


def test_only_a_clear_best_is_bold_and_overlapping_ones_tie():
    clear = {"a": Interval(5, 4, 6), "b": Interval(2, 1, 3.9), "c": Interval(1, 0, 2)}
    assert top_marks(clear) == ({"a"}, set())
    close = {"a": Interval(5, 4, 6), "b": Interval(3, 2, 4.2), "c": Interval(1, 0, 2)}
    assert top_marks(close) == (set(), {"a", "b"})
    one_seed = {"a": Interval(5, np.nan, np.nan), "b": Interval(1, 0, 2)}
    assert top_marks(one_seed) == (set(), {"a", "b"})  # no interval: no claim to be best
    assert top_marks({"a": Interval(1, 0, 2)}) == ({"a"}, set())
    assert top_marks({}) == (set(), set())


def run(means, absolute, step=1000):
    entry = {
        f"step_{k}": {"step_count": k * step, "return": [m - 1, m + 1]} for k, m in enumerate(means)
    }
    entry["absolute_metrics"] = {"return": [absolute] * 4}
    return entry


def test_final_and_best_side_by_side_and_an_untrained_best_is_flagged():
    assert run_figures(run([5.0, 1.0, 2.0], 4.5)).untrained
    figures = run_figures(run([1.0, 3.0, 3.0, 2.0], 2.9))
    assert (figures.final, figures.best, figures.best_step) == (2.0, 2.9, 1000)
    with pytest.raises(ValueError, match="no final return"):
        run_figures({"absolute_metrics": {"return": [1.0]}})

    grid = grid_from_dict(
        {"name": "g", "envs": ["donor-v0"], "algorithms": ["ippo", "vdn", "mansa"], "seeds": [0, 1]}
    )
    results = {
        "donor": {
            "v0": {
                # trained, the greedy policy got worse than the untrained one in both seeds
                "ippo": {"seed_0": run([3953, 31, 30], 3950), "seed_1": run([3000, 40, 20], 3001)},
                "vdn": {
                    "seed_0": run([10, 30000, 35000], 35100),
                    "seed_1": run([10, 34000, 9], 34900),
                },
                "mansa": {"seed_0": run([10, 20000, 24000], 24000), "seed_1": run([5, 1, 9], 9)},
            }
        }
    }
    report = Report("t")
    task_tables(report, summarise(grid, results), ["ippo", "vdn", "mansa"], "absolute", {"mansa"})
    rows = {line.split(" | ")[0][2:]: line for line in report.md if line.startswith("| ")}
    assert rows["algorithm"].startswith(
        "| algorithm | seeds | final | best (scored) | best policy from"
    )
    assert "untrained (step 0) in 2 of 2 seeds" in rows["ippo"]
    assert rows["ippo"].split(" | ")[2].startswith("25.0")  # final: (30 + 20) / 2
    assert rows["ippo"].split(" | ")[3].startswith("3476")  # best: the absolute metric
    assert "steps 2k, 1k" in rows["vdn"]
    assert "final policy (no best policy kept)" in rows["mansa"]
    # vdn has the top best mean, but its interval overlaps mansa's (two seeds: wide t-intervals)
    assert "= " in rows["vdn"] and "**" not in rows["vdn"]
