"""The value-based pieces against naive loops: TD targets, masked maxima, exploration, schedules, mixers."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.mixers import QMixer, VDNMixer
from algorithms.value_targets import (
    boltzmann_sample,
    boltzmann_values,
    epsilon_greedy,
    epsilon_greedy_torch,
    geometric_schedule,
    greedy_values,
    linear_schedule,
    masked_argmax,
    masked_mse,
    td_targets,
)


def random_mask(rng, shape, p_valid=0.6):
    mask = rng.random(shape) < p_valid
    empty = ~mask.any(-1)
    mask[empty, rng.integers(shape[-1], size=int(empty.sum()))] = True  # at least one valid action
    return mask


def naive_targets(rewards, q_online_next, q_target_next, mask_next, alive_next, gamma, double_q):
    """One (episode, step, agent) at a time, with Python max over the valid actions."""
    out = np.zeros_like(rewards)
    for idx in np.ndindex(*rewards.shape):
        valid = [a for a in range(q_target_next.shape[-1]) if mask_next[idx][a]]
        if not alive_next[idx]:
            out[idx] = rewards[idx]
            continue
        if double_q:
            best = max(valid, key=lambda a: q_online_next[idx][a])
        else:
            best = max(valid, key=lambda a: q_target_next[idx][a])
        out[idx] = rewards[idx] + gamma * q_target_next[idx][best]
    return out


@settings(max_examples=40, deadline=None)
@given(
    e=st.integers(1, 3),
    t=st.integers(1, 6),
    n=st.integers(1, 3),
    a=st.integers(2, 5),
    gamma=st.floats(0.0, 1.0),
    double_q=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_double_q_targets_with_masks_match_a_naive_loop(e, t, n, a, gamma, double_q, seed):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(e, t, n))
    q_online, q_target = rng.normal(size=(2, e, t, n, a))
    mask = random_mask(rng, (e, t, n, a))
    alive = rng.random((e, t, n)) < 0.7
    qo, qt = torch.tensor(q_online), torch.tensor(q_target)
    next_values = greedy_values(qo if double_q else qt, qt, torch.tensor(mask))
    got = td_targets(torch.tensor(rewards), next_values, torch.tensor(alive), gamma)
    want = naive_targets(rewards, q_online, q_target, mask, alive, gamma, double_q)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_masked_actions_never_win_the_max_even_with_the_largest_value():
    q = torch.tensor([[5.0, 1.0, 2.0], [0.0, 9.0, -1.0]])
    mask = torch.tensor([[False, True, True], [True, False, True]])
    assert masked_argmax(q, mask).tolist() == [2, 0]
    assert greedy_values(q, q, mask).tolist() == [2.0, 0.0]
    # a row allowing nothing (padding) allows everything rather than producing -inf or NaN
    assert masked_argmax(q[:1], torch.zeros(1, 3, dtype=torch.bool)).tolist() == [0]


def test_terminal_steps_do_not_bootstrap_and_truncated_ones_do():
    rewards = torch.tensor([1.0, 1.0])
    next_values = torch.tensor([10.0, 10.0])
    alive = torch.tensor(
        [False, True]
    )  # step 0 terminated, step 1 was truncated (the agent lives on)
    assert td_targets(rewards, next_values, alive, 0.5).tolist() == [1.0, 6.0]
    # a terminal step ignores its next value entirely, even a non-finite one
    assert td_targets(rewards, torch.tensor([math.nan, 2.0]), alive, 0.5).tolist() == [1.0, 2.0]


@settings(max_examples=30, deadline=None)
@given(a=st.integers(2, 6), temperature=st.floats(0.05, 5.0), seed=st.integers(0, 2**16))
def test_boltzmann_values_match_a_naive_expectation_over_valid_actions(a, temperature, seed):
    rng = np.random.default_rng(seed)
    q_policy, q_eval = rng.normal(size=(2, 4, a))
    mask = random_mask(rng, (4, a))
    got = boltzmann_values(
        torch.tensor(q_policy), torch.tensor(q_eval), torch.tensor(mask), temperature
    )
    for row in range(4):
        valid = np.flatnonzero(mask[row])
        weights = np.exp((q_policy[row, valid] - q_policy[row, valid].max()) / temperature)
        want = (weights / weights.sum() * q_eval[row, valid]).sum()
        assert got[row].item() == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_boltzmann_values_ignore_infinite_values_of_masked_actions():
    q = torch.tensor([[1.0, 2.0, math.inf]])
    mask = torch.tensor([[True, True, False]])
    assert torch.isfinite(boltzmann_values(q, q, mask, 1.0)).all()


def test_masked_mse_averages_only_the_weighted_entries():
    values = torch.tensor([1.0, 2.0, 100.0])
    targets = torch.tensor([0.0, 0.0, 0.0])
    assert masked_mse(values, targets, torch.tensor([True, True, False])).item() == pytest.approx(
        2.5
    )


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), epsilon=st.floats(0.0, 1.0))
def test_epsilon_greedy_never_picks_a_masked_action(seed, epsilon):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(8, 3, 5))
    mask = random_mask(rng, (8, 3, 5), p_valid=0.4)
    actions = epsilon_greedy(q, mask, epsilon, rng)
    assert mask[np.arange(8)[:, None], np.arange(3), actions].all()
    sampled = boltzmann_sample(q, mask, 0.5, rng)
    assert mask[np.arange(8)[:, None], np.arange(3), sampled].all()


def test_epsilon_greedy_frequencies():
    rng = np.random.default_rng(0)
    q = np.tile(np.array([0.0, 1.0, 0.5, 2.0]), (20000, 1, 1))  # greedy: action 3, but it is masked
    mask = np.tile(np.array([True, True, True, False]), (20000, 1, 1))
    counts = np.bincount(epsilon_greedy(q, mask, 0.3, rng).ravel(), minlength=4) / 20000
    # greedy valid action 1 gets 0.7 + 0.3 / 3; the other valid ones 0.1 each
    np.testing.assert_allclose(counts, [0.1, 0.8, 0.1, 0.0], atol=0.01)
    assert (epsilon_greedy(q[:5], mask[:5], 0.0, rng) == 1).all()


@pytest.mark.parametrize("seed", range(3))
def test_epsilon_greedy_on_a_device_follows_the_numpy_rule(seed):
    """The torch version (learners on a torch core): never a masked action, the greedy one at
    epsilon 0 (an empty mask allows everything), and numpy's frequencies."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(8, 3, 5))
    mask = random_mask(rng, (8, 3, 5), p_valid=0.4)
    mask[0, 0] = False
    generator = torch.Generator().manual_seed(seed)
    qt, mt = torch.as_tensor(q), torch.as_tensor(mask)
    np.testing.assert_array_equal(
        epsilon_greedy_torch(qt, mt, 0.0, generator).numpy(), epsilon_greedy(q, mask, 0.0, rng)
    )
    mask[0, 0] = True
    actions = epsilon_greedy_torch(qt, torch.as_tensor(mask), 0.7, generator).numpy()
    assert mask[np.arange(8)[:, None], np.arange(3), actions].all()
    q = torch.tensor([0.0, 1.0, 0.5, 2.0]).expand(20000, 1, 4)
    valid = torch.tensor([True, True, True, False]).expand(20000, 1, 4)
    chosen = epsilon_greedy_torch(q, valid, 0.3, generator).flatten()
    counts = torch.bincount(chosen, minlength=4).numpy() / 20000
    np.testing.assert_allclose(counts, [0.1, 0.8, 0.1, 0.0], atol=0.01)


def test_boltzmann_sampling_frequencies_follow_the_softmax():
    rng = np.random.default_rng(1)
    q = np.tile(np.array([0.0, 1.0, 2.0]), (30000, 1, 1))
    counts = np.bincount(boltzmann_sample(q, None, 1.0, rng).ravel(), minlength=3) / 30000
    np.testing.assert_allclose(counts, np.exp([0, 1, 2]) / np.exp([0, 1, 2]).sum(), atol=0.01)


def test_schedules():
    assert linear_schedule(1.0, 0.05, 100, 0) == 1.0
    assert linear_schedule(1.0, 0.05, 100, 50) == pytest.approx(0.525)
    assert linear_schedule(1.0, 0.05, 100, 10**6) == 0.05
    assert linear_schedule(1.0, 0.05, 0, 0) == 0.05
    assert geometric_schedule(1.0, 0.01, 100, 50) == pytest.approx(0.1)
    assert geometric_schedule(1.0, 0.01, 100, 500) == pytest.approx(0.01)


def test_vdn_mixer_is_the_sum():
    qs = torch.randn(4, 7, 3)
    torch.testing.assert_close(VDNMixer()(qs), qs.sum(-1))


@pytest.mark.parametrize("layers", [1, 2])
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    agent=st.integers(0, 4),
    increase=st.floats(0.0, 50.0),
    scale=st.floats(0.01, 20.0),
)
def test_qmix_team_value_never_decreases_when_one_agent_q_increases(
    layers, n, seed, agent, increase, scale
):
    torch.manual_seed(seed)
    mixer = QMixer(n, 6, embed_dim=8, hypernet_embed=16, hypernet_layers=layers).double()
    qs = torch.randn(32, n, dtype=torch.float64) * scale
    states = torch.randn(32, 6, dtype=torch.float64) * scale
    higher = qs.clone()
    higher[:, agent % n] += increase
    with torch.no_grad():
        before, after = mixer(qs, states), mixer(higher, states)
    assert (after >= before).all()
    # and the gradient of Q_tot with respect to every agent's Q is non-negative
    qs.requires_grad_(True)
    mixer(qs, states).sum().backward()
    assert (qs.grad >= 0).all()


def test_qmix_mixer_shapes_and_arguments():
    mixer = QMixer(3, 5)
    assert mixer(torch.randn(4, 6, 3), torch.randn(4, 6, 5)).shape == (4, 6)
    with pytest.raises(ValueError, match="hypernet_layers must be 1 or 2"):
        QMixer(3, 5, hypernet_layers=3)
    with pytest.raises(ValueError, match="embed_dim must be at least 1"):
        QMixer(3, 5, embed_dim=0)
