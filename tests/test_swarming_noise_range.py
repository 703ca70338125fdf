"""A noise range ``noise=[low, high]``: each copy draws its eta at every reset, in both cores."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import envs
from envs.swarming import SwarmingCore
from envs.swarming.core import wrap_angle
from envs.swarming.torch_core import TorchSwarmingCore

SMALL = {"num_agents": 200, "box_size": 7.0, "max_episode_steps": 5, "actions": "continuous"}


def play_still(core, steps: int):
    """Headings before and after one step of zero turns, over ``steps`` steps: ``[steps, B, N]``."""
    before, after = [], []
    zero = np.zeros((core.num_envs, core.n, 1), dtype=np.float32)
    for _ in range(steps):
        before.append(core.headings)
        core.step(zero)
        after.append(core.headings)
    return np.array(before), np.array(after)


def test_each_copy_turns_within_its_own_noise():
    core = SwarmingCore(6, noise=[0.5, 5.0], **SMALL)
    core.reset(seed=3)
    levels = core.noise_levels
    assert np.all((levels >= 0.5) & (levels <= 5.0)) and len(set(levels.round(6))) == 6
    before, after = play_still(core, 4)  # within the episode: the levels hold
    step = np.abs(wrap_angle(after - before)).max(axis=(0, 2))  # [B] widest noise draw
    assert np.all(step <= levels / 2 + 1e-9) and np.all(step >= 0.95 * levels / 2)


def test_levels_are_drawn_again_at_each_reset_and_follow_the_seed():
    core = SwarmingCore(4, noise=[0.0, 5.0], **SMALL)
    core.reset(seed=7)
    first = core.noise_levels
    play_still(core, SMALL["max_episode_steps"])  # the episode ends: auto-reset redraws
    assert not np.allclose(core.noise_levels, first)
    again = SwarmingCore(4, noise=[0.0, 5.0], **SMALL)
    again.reset(seed=7)
    assert np.array_equal(again.noise_levels, first)


def test_a_fixed_noise_and_a_point_range_play_the_same_trajectory():
    """A fixed eta draws nothing at reset, so runs recorded before ranges existed replay."""
    runs = []
    for noise in (2.0, [2.0, 2.0]):
        core = SwarmingCore(3, noise=noise, **SMALL)
        core.reset(seed=11)
        runs.append((core.noise_levels, *play_still(core, 8)))
    assert np.array_equal(runs[0][0], [2.0, 2.0, 2.0])
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


@settings(max_examples=20, deadline=None)
@given(
    low=st.floats(0.0, 2 * np.pi, allow_nan=False),
    width=st.floats(0.0, 2 * np.pi, allow_nan=False),
    seed=st.integers(0, 2**16),
)
def test_levels_stay_in_the_range(low, width, seed):
    high = min(low + width, 2 * np.pi)
    core = SwarmingCore(5, noise=[low, high], num_agents=4, box_size=2.0, max_episode_steps=2)
    core.reset(seed=seed)
    assert np.all((core.noise_levels >= low) & (core.noise_levels <= high))


def test_the_torch_core_draws_its_levels_per_copy_and_reproducibly():
    levels = []
    for _ in range(2):
        core = TorchSwarmingCore(6, noise=(1.0, 2.0), device="cpu", dtype=torch.float64, **SMALL)
        core.reset(seed=5)
        levels.append(core.noise_levels)
    assert torch.equal(*levels) and levels[0].unique().numel() == 6
    assert bool(((levels[0] >= 1.0) & (levels[0] <= 2.0)).all())
    before = core.headings
    core.step(torch.zeros((6, SMALL["num_agents"], 1)))
    step = (core.headings - before + torch.pi).remainder(2 * torch.pi) - torch.pi
    assert bool((step.abs().amax(dim=1) <= levels[0] / 2 + 1e-9).all())


@pytest.mark.parametrize(
    "noise, message",
    [
        ([3.0, 1.0], r"noise \[low, high\] needs low <= high"),
        ([1.0, 2.0, 3.0], "noise must be a number or a pair"),
        ([0.0, 7.0], "noise must be a finite number >= 0 and <= 6.28319"),
        ("loud", "noise must be a number"),
    ],
)
def test_bad_noise_is_refused_by_name(noise, message):
    with pytest.raises((TypeError, ValueError), match=message):
        envs.make_vec("swarming-vicsek-v0", 2, noise=noise)


def test_train_py_takes_a_noise_range():
    from algorithms.runs.config import load_config, make_env

    cfg = load_config(None, ["env.id=swarming-vicsek-v0", "env.kwargs.noise=[0.5, 4.5]"])
    core = make_env(cfg, 2)  # the trainer steps the batched core itself
    core.reset(seed=0)
    assert isinstance(core, SwarmingCore) and core.noise_range == (0.5, 4.5)
    assert np.all((core.noise_levels >= 0.5) & (core.noise_levels <= 4.5))
