"""Pairing rules: random matching and the bipartite round-robin, alone and inside the env."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import envs
from envs.donor.pairing import random_matching, round_robin, round_robin_schedule, seating


def expected_round_robin(seats: np.ndarray, r: int) -> np.ndarray:
    """The schedule's definition written out: A_k -> B_(k-r), B_k -> A_(k-r), seats < h are A."""
    n = len(seats)
    h = n // 2
    recipients = np.empty(n, dtype=np.int64)
    for k in range(h):
        a_k, b_k = seats[k], seats[h + k]
        recipients[a_k] = seats[h + (k - r) % h]
        recipients[b_k] = seats[(k - r) % h]
    return recipients


def is_derangement(recipients: np.ndarray) -> bool:
    n = recipients.shape[-1]
    return bool(
        np.all(np.sort(recipients, axis=-1) == np.arange(n)) and np.all(recipients != np.arange(n))
    )


@settings(max_examples=30, deadline=None)
@given(half=st.integers(1, 10), seed=st.integers(0, 2**16), r=st.integers(0, 40))
def test_round_robin_function_matches_its_definition(half, seed, r):
    n = 2 * half
    seats = seating(np.random.default_rng(seed).random((3, n)))
    recipients = round_robin(seats, np.full(3, r), round_robin_schedule(n))
    for b in range(3):
        np.testing.assert_array_equal(recipients[b], expected_round_robin(seats[b], r))
        assert is_derangement(recipients[b])


@pytest.mark.parametrize("n", [2, 4, 12])
def test_round_robin_cycle_meets_every_cross_pair_once_in_each_direction(n):
    h = n // 2
    seats = seating(np.random.default_rng(1).random((1, n)))
    half_a = set(seats[0, :h].tolist())
    met = np.zeros((n, n), dtype=int)
    for r in range(h):
        recipients = round_robin(seats, np.array([r]), round_robin_schedule(n))[0]
        met[np.arange(n), recipients] += 1
    cross = np.array([[(i in half_a) != (j in half_a) for j in range(n)] for i in range(n)])
    np.testing.assert_array_equal(met, cross.astype(int))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 30), seed=st.integers(0, 2**16))
def test_random_matching_is_a_derangement(n, seed):
    recipients = random_matching(np.random.default_rng(seed).random((4, n)))
    for b in range(4):
        assert is_derangement(recipients[b])


def test_random_matching_recipients_are_uniform_over_the_others():
    n, draws = 6, 6000
    recipients = random_matching(np.random.default_rng(0).random((draws, n)))
    counts = np.zeros((n, n))
    for i in range(n):
        counts[i] = np.bincount(recipients[:, i], minlength=n)
    assert np.all(np.diag(counts) == 0)
    off = counts[~np.eye(n, dtype=bool)]
    p = 1 / (n - 1)
    assert np.all(np.abs(off - draws * p) <= 4 * np.sqrt(draws * p * (1 - p)))


def test_env_follows_the_round_robin_schedule_over_two_cycles():
    core = envs.make_vec("donor-v0", num_envs=3, pairing="round_robin", num_rounds=14)
    core.reset(seed=4)
    seats = core.seats
    for t in range(13):
        _, _, _, _, info = core.step(np.full((3, 12), 2))
        for b in range(3):
            np.testing.assert_array_equal(info["recipients"][b], expected_round_robin(seats[b], t))
            assert is_derangement(info["recipients"][b])  # donate once, receive once


def test_env_seating_is_an_option_and_is_redrawn_each_episode():
    seats = np.array([3, 1, 0, 2, 5, 4])
    core = envs.make_vec("donor-v0", num_envs=1, num_agents=6, pairing="round_robin", num_rounds=2)
    core.reset(seed=0, options={"seating": seats})
    np.testing.assert_array_equal(core.seats[0], seats)
    np.testing.assert_array_equal(core.recipients[0], expected_round_robin(seats, 0))
    drawn = []
    for _ in range(10):  # five episodes; each auto-reset seats the agents anew
        core.step(np.zeros((1, 6), dtype=np.int64))
        drawn.append(tuple(core.seats[0]))
    assert len(set(drawn)) > 1


def test_seating_option_needs_round_robin():
    core = envs.make_vec("donor-v0", num_envs=1, num_agents=4)
    with pytest.raises(ValueError, match="round_robin"):
        core.reset(seed=0, options={"seating": [0, 1, 2, 3]})
