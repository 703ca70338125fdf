"""Bad input is refused with one clear error, never accepted silently nor reported from deep
inside: actions, seeds and options, layouts, and calls made before reset()."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import envs

DISCRETE = ["foraging-v0", "donor-v0", "swarming-vicsek-v0", "routing-braess-v0"]


def _view(env_id: str, **kwargs):
    env = envs.make(env_id, **kwargs)
    env.reset(seed=0)
    return env


def _joint(env, agent_action) -> dict:
    """Action 0 for every live agent except the first, which gets ``agent_action``."""
    first = env.agents[0]
    return {a: (agent_action if a == first else 0) for a in env.agents}


# ---------------------------------------------------------------------- actions (view)
@pytest.mark.parametrize("env_id", DISCRETE)
@pytest.mark.parametrize(
    "action, message",
    [
        (1.5, "action 1.5 of {agent} is not an integer"),
        ("1", "action '1' of {agent} must be an integer, got str"),
        (1e300, "action 1e+300 of {agent} is out of range"),
        (float("nan"), "action nan of {agent} is not an integer"),
        (-1, "action -1 of {agent} is out of range"),
        (2**70, f"action {2**70} of {{agent}} is out of range"),
        (None, "action None of {agent} must be an integer"),
    ],
)
def test_the_view_refuses_non_integer_and_out_of_range_discrete_actions(env_id, action, message):
    env = _view(env_id)
    agent, n = env.agents[0], env.action_space(env.agents[0]).n
    pattern = re.escape(message.format(agent=agent)) + rf".*valid actions are 0\.\.{n - 1}"
    with pytest.raises(ValueError, match=pattern):
        env.step(_joint(env, action))


@pytest.mark.parametrize("env_id", DISCRETE)
def test_the_view_accepts_integral_numbers_of_any_numeric_type(env_id):
    steps = []
    for action in (1, np.int8(1), np.float32(1.0), 1.0, np.array(1)):
        env = _view(env_id)
        steps.append(env.step(_joint(env, action))[1])
    assert all(s == steps[0] for s in steps)


@pytest.mark.parametrize(
    "action, message",
    [
        (np.array([np.nan]), "action [nan] of agent_0 must be finite"),
        (np.array([5.0]), "action [5.0] of agent_0 must lie in"),
        ("a", "action of agent_0 must be numbers in"),
        (np.zeros(2), "action of agent_0 must have shape (1,), got (2,)"),
    ],
)
def test_the_view_refuses_bad_continuous_actions(action, message):
    env = _view("swarming-vicsek-v0", actions="continuous", num_agents=3)
    with pytest.raises(ValueError, match=re.escape(message)):
        env.step({a: (action if a == "agent_0" else np.zeros(1)) for a in env.agents})


# ---------------------------------------------------------------------- actions (core)
@pytest.mark.parametrize(
    "bad, message",
    [
        (1e300, "action 1e+300 of player_1 in copy 1 is out of range: valid actions are 0..5"),
        (-1, "action -1 of player_1 in copy 1 is out of range: valid actions are 0..5"),
        (np.nan, "discrete actions must be integers: action nan of player_1 in copy 1 is not"),
        (2.5, "discrete actions must be integers: action 2.5 of player_1 in copy 1 is not"),
    ],
)
def test_the_core_names_the_bad_action_its_agent_and_copy(bad, message):
    core = envs.make_vec("foraging-v0", 2)
    core.reset(seed=0)
    actions = np.zeros((2, 2), dtype=np.float64 if isinstance(bad, float) else np.int64)
    actions[1, 1] = bad
    with pytest.raises(ValueError, match=re.escape(message)):
        core.step(actions)


def test_the_core_names_a_bad_continuous_action():
    core = envs.make_vec("swarming-vicsek-v0", 2, actions="continuous", num_agents=3)
    core.reset(seed=0)
    actions = np.zeros((2, 3, 1))
    actions[1, 2, 0] = np.inf
    with pytest.raises(ValueError, match=re.escape("action inf of agent_2 in copy 1 is not")):
        core.step(actions)


# ---------------------------------------------------------------------- seeds and options
@pytest.mark.parametrize("env_id", DISCRETE)
@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"seed": 2**63}, ValueError, "seed must be None, an integer in [0, 2**63 - 1]"),
        ({"seed": -1}, ValueError, "seed must be None, an integer in [0, 2**63 - 1]"),
        ({"seed": 1.5}, TypeError, "seed must be None, an integer in [0, 2**63 - 1]"),
        ({"seed": "3"}, TypeError, "seed must be None"),
        ({"seed": True}, TypeError, "seed must be None"),
        ({"options": [1]}, TypeError, "options must be a dict (the env's reset options) or None"),
        ({"options": "ab"}, TypeError, "options must be a dict (the env's reset options) or None"),
    ],
)
def test_the_view_refuses_bad_seeds_and_options(env_id, kwargs, error, message):
    env = envs.make(env_id)
    with pytest.raises(error, match=re.escape(message)):
        env.reset(**kwargs)


@pytest.mark.parametrize("env_id", DISCRETE)
def test_none_and_large_seeds_stay_valid(env_id):
    env = envs.make(env_id)
    env.reset(seed=None)
    env.reset(seed=2**63 - 1, options=None)
    env.reset(seed=np.int64(7), options={})
    core = envs.make_vec(env_id, 2)
    core.reset(seed=[0, 2**63 - 1])
    with pytest.raises(ValueError, match=re.escape("got 9223372036854775807, out of range")):
        core.reset(seed=2**63 - 1)  # copy 1 would get 2**63
    with pytest.raises(ValueError, match=re.escape("a list of 2 such integers")):
        core.reset(seed=[1, 2, 3])


# ---------------------------------------------------------------------- before reset, render
@pytest.mark.parametrize("env_id", DISCRETE)
def test_state_mask_and_render_before_reset_raise(env_id):
    env = envs.make(env_id, render_mode="rgb_array")
    for name, call in [
        ("state", env.state),
        ("action_mask", env.core.action_mask),
        ("render", env.render),
    ]:
        with pytest.raises(RuntimeError, match=re.escape(f"call reset() before {name}()")):
            call()
    env.reset(seed=0)
    assert env.state().shape == env.state_space.shape and env.render().ndim == 3


def test_a_wrapped_parallel_env_refuses_state_and_mask_before_reset():
    from toy_envs import MatchParallelEnv

    from envs.generic import ParallelEnvBatch

    batch = ParallelEnvBatch(MatchParallelEnv, 2)
    for name, call in [("state", batch.state), ("action_mask", batch.action_mask)]:
        with pytest.raises(RuntimeError, match=re.escape(f"call reset() before {name}()")):
            call()
    batch.reset(seed=0)
    assert batch.state().shape[0] == 2 and batch.action_mask().shape[0] == 2


@pytest.mark.parametrize("env_id", DISCRETE)
def test_render_refuses_copies_that_do_not_exist(env_id):
    core = envs.make_vec(env_id, 2, render_mode="rgb_array")
    core.reset(seed=0)
    assert core.render(1).ndim == 3
    for index in (-1, 2):
        with pytest.raises(IndexError, match=re.escape(f"render index {index} is out of range")):
            core.render(index)
    with pytest.raises(TypeError, match=re.escape("valid copies are 0..1")):
        core.render(1.0)
    core.close()


# ---------------------------------------------------------------------- foraging layouts
def _foraging(**kwargs):
    return envs.make_vec("foraging-v0", 1, field_size=8, players=2, max_num_food=2, **kwargs)


@pytest.mark.parametrize(
    "players, food, message",
    [
        (
            [(0, 0, 99), (1, 1, 1)],
            [(3, 3, 1)],
            "player 0 has level 99; player levels must be in 1..2",
        ),
        ([(0, 0, 1), (1, 1, 1)], [(3, 3, 5)], "food 0 has level 5; food levels must be in 1..4"),
        ([(0.7, 0, 1), (1, 1, 1)], [(3, 3, 1)], "0.7 is not an integer"),
        ([(0, 0, 1), (1, 1, 1)], [(3, 3, float("nan"))], "nan is not an integer"),
        ([(0, 0, 1), (1, 1, True)], [(3, 3, 1)], "True is not an integer"),
        ([(0, 0, 1), (1, 1)], [(3, 3, 1)], "player 1 must be (row, col, level), got (1, 1)"),
        ([(0, 0, 1), "abc"], [(3, 3, 1)], "player 1 must be (row, col, level), got 'abc'"),
        (5, [(3, 3, 1)], "options['players'] must be a list of (row, col, level) triples, got 5"),
        ([(0, 0, 1), (1, 1, 1)], [(3, -1, 1)], "food 0 at (3, -1) is off the grid"),
    ],
)
def test_foraging_refuses_layouts_that_leave_the_observation_space(players, food, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _foraging().reset(options={"players": players, "food": food})


def test_foraging_accepts_whole_numbers_of_any_type_in_layouts():
    a, b = _foraging(), _foraging()
    a.reset(options={"players": [(0, 0, 1), (1, 1, 2)], "food": [(3, 3, 4)]})
    b.reset(options={"players": np.array([[0.0, 0, 1], [1, 1, 2]]), "food": [(3, 3, np.int8(4))]})
    np.testing.assert_array_equal(a._observe(), b._observe())


_cell = st.integers(-1, 8)
_triple = st.tuples(_cell, _cell, st.integers(0, 6))


@given(
    players=st.lists(_triple, min_size=2, max_size=2),
    food=st.lists(_triple, min_size=1, max_size=2),
    grid=st.booleans(),
)
def test_every_accepted_layout_observes_inside_the_spaces(players, food, grid):
    core = _foraging(grid_observation=grid, sight=2)
    try:
        obs, _ = core.reset(options={"players": players, "food": food})
    except ValueError:
        return
    assert all(core.observation_space.contains(o) for o in obs[0])
    assert core.state_space.contains(core.state()[0])


# ---------------------------------------------------------------------- other reset options
@pytest.mark.parametrize(
    "env_id, options, message",
    [
        ("donor-v0", {"resources": "abc"}, "options['resources'] must be a number or an array"),
        ("donor-v0", {"resources": [1, 2]}, "broadcastable to [N] = (12,), got [1, 2]"),
        ("donor-v0", {"reputation": [1, 2, 3]}, "options['reputation'] must be a number or"),
        ("donor-v0", {"reputation": "x"}, "options['reputation'] must be numbers, got 'x'"),
        ("swarming-vicsek-v0", {"headings": "abc"}, "reset option 'headings' must be numbers"),
    ],
)
def test_malformed_reset_options_name_the_option(env_id, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        envs.make_vec(env_id).reset(options=options)
