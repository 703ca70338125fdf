"""The leaderboard statistics against hand-computed values and their invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.scores import (
    Interval,
    iqm,
    mean_confidence_interval,
    min_max_normalise,
    pooled_iqm,
    probability_of_improvement,
    probability_of_improvement_ci,
    stratified_bootstrap_ci,
    task_bounds,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def test_iqm_is_scipys_quarter_trimmed_mean():
    from scipy.stats import trim_mean

    values = np.random.default_rng(0).normal(size=(5, 23))
    np.testing.assert_allclose(iqm(values, axis=-1), trim_mean(values, 0.25, axis=-1))
    np.testing.assert_allclose(iqm(values, axis=0), trim_mean(values, 0.25, axis=0))


def test_iqm_hand_computed():
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)  # keeps 3, 4, 5, 6
    assert iqm([1, 2, 3, 4, 100]) == pytest.approx(3.0)  # n=5: one cut from each end
    assert iqm([7.0]) == pytest.approx(7.0)
    np.testing.assert_allclose(iqm(np.array([[1, 2, 3, 4], [0, 0, 10, 10]]), axis=-1), [2.5, 5.0])


def test_pooled_iqm_pools_runs_of_all_tasks():
    # tasks [1, 2] and [3, 4, 5, 6, 7, 8]: the pooled 1..8 has IQM 4.5
    assert pooled_iqm([[1, 2], [3, 4, 5, 6, 7, 8]]) == pytest.approx(4.5)
    assert pooled_iqm(np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0], [4.0, 8.0]])) == pytest.approx(
        4.5
    )


def test_min_max_normalise_hand_computed():
    np.testing.assert_allclose(min_max_normalise([0.0, 5.0, 10.0], 0.0, 10.0), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(min_max_normalise([-92.0, -83.0], -92.0, -83.0), [0.0, 1.0])
    np.testing.assert_allclose(min_max_normalise([3.0, 3.0], 3.0, 3.0), [0.0, 0.0])
    with pytest.raises(ValueError, match="low <= high"):
        min_max_normalise([1.0], 2.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        min_max_normalise([1.0], 0.0, np.inf)


def test_task_bounds_span_every_episode():
    assert task_bounds([[0.2, 0.9], [0.1], [0.5, 1.0, 0.7]]) == (0.1, 1.0)
    with pytest.raises(ValueError):
        task_bounds([])


def test_mean_confidence_interval_is_student_t():
    interval = mean_confidence_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, df=2) * s (=1) / sqrt(n)
    assert interval.value == pytest.approx(2.0)
    assert (interval.low, interval.high) == pytest.approx((2.0 - half, 2.0 + half))
    single = mean_confidence_interval([0.4])
    assert single.value == 0.4 and np.isnan(single.low) and np.isnan(single.high)
    assert single.format() == "0.400"
    with pytest.raises(ValueError, match="confidence"):
        mean_confidence_interval([1.0, 2.0], confidence=1.5)


def test_bootstrap_of_two_runs_has_the_hand_computed_interval():
    # resampling [0, 1] twice: means 0 (p=1/4), 0.5 (1/2), 1 (1/4): the 95% interval is [0, 1]
    interval = stratified_bootstrap_ci([[0.0, 1.0]], np.mean, reps=4000, seed=1)
    assert interval == Interval(0.5, 0.0, 1.0)
    # a 50% interval keeps only the middle mass: 0.5
    assert (
        stratified_bootstrap_ci([[0.0, 1.0]], np.mean, reps=4000, seed=1, confidence=0.4).low == 0.5
    )


def test_bootstrap_is_stratified_by_task():
    # one run per task: resampling within tasks can only redraw the same runs
    interval = stratified_bootstrap_ci([[0.1], [0.5], [0.9], [0.3]], reps=500)
    assert (
        interval.low
        == interval.high
        == interval.value
        == pytest.approx(pooled_iqm([[0.1], [0.5], [0.9], [0.3]]))
    )


def test_bootstrap_interval_covers_the_known_answer():
    rng = np.random.default_rng(123)
    scores = rng.normal(0.6, 0.1, size=(20, 5))  # [runs, tasks]; symmetric, so the true IQM is 0.6
    interval = stratified_bootstrap_ci(scores, reps=5000, seed=7)
    assert interval.low < 0.6 < interval.high
    assert interval.high - interval.low < 0.1
    wider = stratified_bootstrap_ci(scores[:5], reps=5000, seed=7)  # fewer runs, less sure
    assert wider.high - wider.low > interval.high - interval.low
    again = stratified_bootstrap_ci(scores, reps=5000, seed=7)
    assert again == interval


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="task 1 has no runs"):
        stratified_bootstrap_ci([[1.0], []])
    with pytest.raises(ValueError, match="non-finite"):
        stratified_bootstrap_ci([[1.0, np.nan]])
    with pytest.raises(ValueError, match="reps"):
        stratified_bootstrap_ci([[1.0]], reps=0)


def test_probability_of_improvement_hand_computed():
    # x=[1,2,3] vs y=[2]: 1<2, 2=2 (half), 3>2 -> 1.5 / 3
    assert probability_of_improvement([[1, 2, 3]], [[2]]) == pytest.approx(0.5)
    # averaged over tasks: task 0 gives 1; task 1, [1, 2] vs [2, 3], gives only the tie 2=2: 0.5 / 4
    assert probability_of_improvement([[5], [1, 2]], [[0], [2, 3]]) == pytest.approx(
        (1 + 0.5 / 4) / 2
    )
    with pytest.raises(ValueError, match="same tasks"):
        probability_of_improvement([[1]], [[1], [2]])


def test_probability_of_improvement_interval():
    sure = probability_of_improvement_ci([[5, 6, 7], [2, 3]], [[0, 1], [0, 1]], reps=300)
    assert sure == Interval(1.0, 1.0, 1.0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(1.0, 1.0, size=(10, 3)), rng.normal(0.0, 1.0, size=(10, 3))
    interval = probability_of_improvement_ci(x, y, reps=2000, seed=3)
    assert interval.low < interval.value < interval.high
    assert 0.5 < interval.value < 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=1, max_size=30))
def test_iqm_lies_between_the_quartile_range(values):
    result = iqm(values)
    assert min(values) - 1e-9 <= result <= max(values) + 1e-9
    assert iqm(list(reversed(values))) == pytest.approx(result)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(finite, min_size=1, max_size=6), min_size=1, max_size=4),
    st.lists(st.lists(finite, min_size=1, max_size=6), min_size=1, max_size=4),
)
def test_probability_of_improvement_is_antisymmetric(x, y):
    tasks = min(len(x), len(y))
    x, y = x[:tasks], y[:tasks]
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0)
    assert probability_of_improvement(x, x) == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=1, max_size=20), finite, st.floats(1e-3, 1e3))
def test_normalisation_is_the_affine_map_onto_the_bounds(values, low, width):
    high = low + width
    out = min_max_normalise(values, low, high)
    np.testing.assert_allclose(out * (high - low) + low, values, rtol=1e-9, atol=1e-6)
    assert min_max_normalise(low, low, high) == pytest.approx(0.0)
    assert min_max_normalise(high, low, high) == pytest.approx(1.0)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.lists(finite, min_size=1, max_size=5), min_size=1, max_size=4), st.integers(0, 100)
)
def test_bootstrap_interval_brackets_values_within_the_score_range(scores, seed):
    interval = stratified_bootstrap_ci(scores, reps=200, seed=seed)
    pooled = np.concatenate([np.asarray(s, dtype=float) for s in scores])
    assert pooled.min() - 1e-9 <= interval.low <= interval.high <= pooled.max() + 1e-9
