"""Cell-list neighbours of the swarming env against the brute-force distance matrix."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.swarming.neighbours import NeighbourPairs, brute_force_pairs, cell_list_pairs


def naive_pairs(positions: np.ndarray, box: float, radius: float) -> set[tuple[int, int]]:
    """Pairs by a plain double loop over agents, with the torus distance written out."""
    b, n, _ = positions.shape
    out = set()
    for c in range(b):
        for i in range(n):
            for j in range(i + 1, n):
                d = np.abs(positions[c, i] - positions[c, j])
                d = np.minimum(d, box - d)
                if d @ d < radius * radius:
                    out.add((c * n + i, c * n + j))
    return out


def test_brute_force_matches_a_double_loop():
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 4.0, size=(2, 40, 2))
    assert brute_force_pairs(positions, 4.0, 1.3).as_set() == naive_pairs(positions, 4.0, 1.3)


@settings(max_examples=60, deadline=None)
@given(
    copies=st.integers(1, 3),
    agents=st.integers(0, 60),
    box=st.floats(1.0, 12.0),
    radius_fraction=st.floats(0.02, 0.5),
    chunk=st.sampled_from([1, 7, 64, 8192]),
    seed=st.integers(0, 2**31 - 1),
)
def test_cell_lists_equal_brute_force(copies, agents, box, radius_fraction, chunk, seed):
    """Random boxes and radii, from many cells per side down to M = 2 (radius = box / 2)."""
    rng = np.random.default_rng(seed)
    radius = radius_fraction * box
    positions = rng.uniform(0, box, size=(copies, agents, 2))
    fast = cell_list_pairs(positions, box, radius, chunk=chunk)
    reference = brute_force_pairs(positions, box, radius)
    assert fast.as_set() == reference.as_set()
    assert len(fast) == len(fast.as_set())  # each pair once
    np.testing.assert_array_equal(fast.counts, reference.counts)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), box=st.floats(3.0, 9.0), agents=st.integers(30, 80))
def test_cell_lists_across_the_periodic_boundary(seed, box, agents):
    """Agents crowded along the edges: many pairs are neighbours only through the wrap."""
    rng = np.random.default_rng(seed)
    positions = rng.uniform(0, box, size=(1, agents, 2))
    axis = rng.integers(0, 2, size=agents)  # each agent hugs the x or the y edge
    edge = rng.uniform(0, 0.4, size=agents)
    near = np.where(rng.random(agents) < 0.5, edge, box - 1e-9 - edge)  # within 0.4 of 0 or of box
    positions[0, np.arange(agents), axis] = near
    fast = cell_list_pairs(positions, box, 1.0)
    assert fast.as_set() == brute_force_pairs(positions, box, 1.0).as_set()
    wrapped = [
        (i, j)
        for i, j in fast.as_set()
        if np.any(np.abs(positions[0, i] - positions[0, j]) > box / 2)
    ]
    assert wrapped, "the configuration should have pairs that meet across the boundary"


def test_pairs_across_the_corner():
    box = 5.0
    positions = np.array([[[0.05, 0.05], [4.95, 4.95], [2.5, 2.5], [4.95, 0.05], [0.05, 2.0]]])
    pairs = cell_list_pairs(positions, box, 1.0).as_set()
    assert pairs == {(0, 1), (0, 3), (1, 3)}


def test_distance_equal_to_radius_is_not_a_neighbour():
    positions = np.array(
        [[[0.5, 0.5], [1.5, 0.5], [0.5, 4.5]]]
    )  # distances 1.0 and, via the wrap, 1.0
    assert len(cell_list_pairs(positions, 5.0, 1.0)) == 0
    assert len(cell_list_pairs(positions, 5.0, 1.0 + 1e-12)) == 2


def test_pair_sum_equals_a_loop():
    rng = np.random.default_rng(3)
    positions = rng.uniform(0, 5, size=(2, 30, 2))
    pairs = cell_list_pairs(positions, 5.0, 1.0)
    values = rng.normal(size=(60, 3))
    expected = np.zeros_like(values)
    for i, j in pairs.as_set():
        expected[i] += values[j]
        expected[j] += values[i]
    np.testing.assert_allclose(pairs.sum(values), expected)
    np.testing.assert_allclose(pairs.sum(values[:, 0]), expected[:, 0])


def test_large_swarm_has_the_expected_neighbour_count():
    """10^4 agents at density 4: mean neighbours close to rho * pi * r^2 = 12.57."""
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 50.0, size=(1, 10_000, 2))
    pairs = cell_list_pairs(positions, 50.0, 1.0)
    assert isinstance(pairs, NeighbourPairs)
    assert abs(pairs.counts.mean() - 4 * np.pi * (9_999 / 10_000)) < 0.3


@pytest.mark.parametrize(
    "positions, box, radius, message",
    [
        (np.zeros((3, 2)), 5.0, 1.0, "shape"),
        (np.zeros((1, 3, 2)), 5.0, 3.0, "radius"),
        (np.zeros((1, 3, 2)), 0.0, 1.0, "box"),
        (np.full((1, 3, 2), 5.0), 5.0, 1.0, "wrap"),
    ],
)
def test_bad_inputs_are_rejected(positions, box, radius, message):
    with pytest.raises(ValueError, match=message):
        cell_list_pairs(positions, box, radius)
