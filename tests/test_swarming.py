"""The swarming env family: PettingZoo API, seeding, batching, observations, errors, renderer."""

import re

import numpy as np
import pettingzoo
import pytest

import envs
from envs.swarming import SwarmingCore, VicsekPolicy, vicsek_actions, vicsek_turns
from envs.swarming.core import wrap_angle
from tests.pettingzoo_checks import check_pettingzoo_api

SMALL = {"num_agents": 20, "box_size": 2.5, "max_episode_steps": 25}  # density 3.2


def torus_delta(a: np.ndarray, b: np.ndarray, box: float) -> np.ndarray:
    d = b - a
    return d - box * np.round(d / box)


def naive_neighbours(core: SwarmingCore, copy: int) -> list[list[int]]:
    pos = core.positions[copy]
    out = []
    for i in range(core.n):
        d = torus_delta(pos[i], pos, core.box_size)
        close = np.flatnonzero((d**2).sum(1) < core.radius**2)
        out.append([j for j in close if j != i])
    return out


# ---------------------------------------------------------------- PettingZoo API
@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("swarming-vicsek-v0", {}),
        ("swarming-vicsek-v0", {"actions": "continuous", "own_velocity": True, "reward": "local"}),
        ("swarming-vicsek-v0", {"action_masks": True, "state_bins": 4}),
        ("swarming-kuramoto-v0", {"turn_cost": 0.1}),
        ("swarming-kuramoto-v0", {"noise": [0.5, 3.0]}),  # each reset draws its own noise
    ],
)
def test_pettingzoo_api_seed_and_render(env_id, kwargs):
    check_pettingzoo_api(env_id, num_cycles=30, **SMALL, **kwargs)


def test_registered_in_pettingzoo_namespace():
    env = pettingzoo.make("parallel", "marlgym/swarming-kuramoto-v0", num_agents=5)
    obs, _ = env.reset(seed=1)
    assert env.core.model == "kuramoto"
    assert set(obs) == {f"agent_{i}" for i in range(5)}
    assert {"swarming-vicsek-v0", "swarming-kuramoto-v0"} <= set(envs.list_envs())


def test_spaces_and_shapes():
    core = envs.make_vec("swarming-vicsek-v0", num_envs=3, **SMALL)
    obs, _ = core.reset(seed=0)
    assert core.action_space.n == 7
    assert obs.shape == (3, 20, 9) and obs.dtype == np.float32
    assert core.state().shape == (3, core.state_space.shape[0]) == (3, 21)
    assert core.action_mask().shape == (3, 20, 7)
    kuramoto = envs.make_vec(
        "swarming-kuramoto-v0", num_envs=2, own_velocity=True, actions="continuous", **SMALL
    )
    obs, _ = kuramoto.reset(seed=0)
    assert obs.shape == (2, 20, 8 + 1 + 1 + 2)
    assert kuramoto.action_space.shape == (1,)
    assert all(kuramoto.observation_space.contains(o) for o in obs[0])


# ---------------------------------------------------------------- seeding and batching
def test_copy_b_of_a_batch_equals_a_single_env_seeded_seed_plus_b():
    """Across auto-resets too: per-copy generators drive resets and the per-step noise."""
    kwargs = dict(SMALL, max_episode_steps=7, noise=1.0)
    batch = envs.make_vec("swarming-kuramoto-v0", num_envs=3, **kwargs)
    singles = [envs.make_vec("swarming-kuramoto-v0", num_envs=1, **kwargs) for _ in range(3)]
    obs = batch.reset(seed=10)[0]
    for b, single in enumerate(singles):
        np.testing.assert_array_equal(single.reset(seed=10 + b)[0][0], obs[b])
    rng = np.random.default_rng(0)
    for _ in range(20):
        actions = rng.integers(0, 7, size=(3, 20))
        obs, rewards, _, truncated, _ = batch.step(actions)
        for b, single in enumerate(singles):
            o, r, _, t, _ = single.step(actions[b : b + 1])
            np.testing.assert_array_equal(o[0], obs[b])
            np.testing.assert_array_equal(r[0], rewards[b])
            np.testing.assert_array_equal(t[0], truncated[b])
            np.testing.assert_array_equal(single.positions[0], batch.positions[b])


def test_same_seed_same_trajectory_and_different_seed_differs():
    def run(seed):
        core = envs.make_vec("swarming-vicsek-v0", num_envs=2, **SMALL)
        core.reset(seed=seed)
        for _ in range(10):
            core.step(vicsek_actions(core))
        return core.positions

    np.testing.assert_array_equal(run(4), run(4))
    assert not np.allclose(run(4), run(5))


# ---------------------------------------------------------------- episodes
def test_truncation_auto_reset_and_episode_statistics():
    core = envs.make_vec("swarming-vicsek-v0", num_envs=2, **dict(SMALL, max_episode_steps=5))
    core.reset(seed=3)
    orders, rewards = [], []
    for t in range(5):
        before_positions = core.positions
        obs, reward, terminated, truncated, info = core.step(vicsek_actions(core))
        orders.append(info["order"])
        rewards.append(reward)
        assert not terminated.any()
        assert truncated.all() == (t == 4)
    np.testing.assert_array_equal(info["_final"], [True, True])
    episode = info["episode"]
    np.testing.assert_allclose(episode["return"], np.sum(rewards, axis=0).mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(episode["order"], orders[-1])
    np.testing.assert_allclose(episode["mean_order"], np.mean(orders, axis=0))
    np.testing.assert_array_equal(episode["length"], [5, 5])
    assert info["final_obs"].shape == obs.shape and not np.array_equal(info["final_obs"], obs)
    assert not np.allclose(core.positions, before_positions, atol=0.1)  # the copies restarted
    assert core.state()[:, -1].tolist() == [0.0, 0.0]  # progress restarts with the episode


def test_global_reward_is_the_order_parameter_and_local_reward_is_the_neighbourhood_order():
    for reward in ("global", "local", "alignment"):
        core = envs.make_vec("swarming-vicsek-v0", num_envs=2, reward=reward, **SMALL)
        core.reset(seed=1)
        _, rewards, _, _, info = core.step(np.full((2, 20), 3))
        angles = core.headings
        for b in range(2):
            phi = abs(np.exp(1j * angles[b]).mean())
            assert info["order"][b] == pytest.approx(phi)
            if reward == "global":
                np.testing.assert_allclose(rewards[b], phi, rtol=1e-6)
            else:
                for i, near in enumerate(naive_neighbours(core, b)):
                    mean = np.exp(1j * angles[b, [i, *near]]).mean()
                    if reward == "local":
                        assert rewards[b, i] == pytest.approx(abs(mean), rel=1e-5)
                    else:  # cos of the angle between one's heading and the local mean's
                        expected = np.cos(angles[b, i] - np.angle(mean))
                        assert rewards[b, i] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_alignment_reward_rewards_a_common_heading_whatever_the_common_turn():
    """An aligned flock keeps alignment 1 if everyone keeps going or everyone turns alike (the
    reward is blind to a common rotation, which a turn cost breaks); one agent turning alone
    loses it."""
    core = envs.make_vec(
        "swarming-vicsek-v0",
        reward="alignment",
        actions="continuous",
        max_turn=np.pi,
        noise=0.0,
        **SMALL,
    )
    core.reset(seed=0, options={"headings": np.full(20, 0.5)})
    for turn in (0.0, 1.0):
        _, rewards, *_ = core.step(np.full((1, 20, 1), turn, dtype=np.float32))
        np.testing.assert_allclose(rewards, 1.0, atol=1e-6)
    turns = np.zeros((1, 20, 1), dtype=np.float32)
    turns[0, 0] = 1.0
    _, rewards, *_ = core.step(turns)
    assert rewards[0, 0] < 0.99
    np.testing.assert_array_less(rewards[0, 0], rewards[0, 1:])


def test_turn_cost_charges_the_squared_turn():
    core = envs.make_vec("swarming-vicsek-v0", turn_cost=0.5, **SMALL)
    core.reset(seed=0)
    actions = np.zeros((1, 20), dtype=int)  # the full left turn, -max_turn
    actions[0, :10] = 3  # no turn
    _, rewards, _, _, info = core.step(actions)
    np.testing.assert_allclose(rewards[0, :10], info["order"][0], rtol=1e-6)
    np.testing.assert_allclose(rewards[0, 10:], info["order"][0] - 0.5, rtol=1e-6)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_turn_cost_power_sets_how_the_cost_grows_with_the_turn(power):
    core = envs.make_vec("swarming-vicsek-v0", turn_cost=0.5, turn_cost_power=power, **SMALL)
    core.reset(seed=0)
    actions = np.full((1, 20), 3)  # no turn
    actions[0, :10] = 2  # a third of max_turn to the left
    _, rewards, _, _, info = core.step(actions)
    np.testing.assert_allclose(rewards[0, 10:], info["order"][0], rtol=1e-6)
    np.testing.assert_allclose(rewards[0, :10], info["order"][0] - 0.5 / 3**power, rtol=1e-6)
    with pytest.raises(ValueError, match="turn_cost_power must be"):
        envs.make_vec("swarming-vicsek-v0", turn_cost_power=0.5, **SMALL)


# ---------------------------------------------------------------- observations and state
@pytest.mark.parametrize("model", ["vicsek", "kuramoto"])
def test_observation_equals_a_per_agent_loop(model):
    core = envs.make_vec(f"swarming-{model}-v0", num_envs=2, own_velocity=True, obs_bins=6, **SMALL)
    obs, _ = core.reset(seed=7)
    for _ in range(3):
        obs, *_ = core.step(np.random.default_rng(1).integers(0, 7, size=(2, 20)))
    angles = core.aligned_angles
    expected_neighbours = 19 * np.pi * core.radius**2 / core.box_size**2
    for b in range(2):
        for i, near in enumerate(naive_neighbours(core, b)):
            hist = np.zeros(6)
            for j in near:
                relative = wrap_angle(angles[b, j] - angles[b, i])
                hist[int(np.rint(relative / (2 * np.pi / 6))) % 6] += 1
            expected = [*(hist / max(len(near), 1)), len(near) / expected_neighbours]
            if model == "kuramoto":
                expected.append(core.frequencies[b, i])
            expected += [np.cos(core.headings[b, i]), np.sin(core.headings[b, i])]
            np.testing.assert_allclose(obs[b, i], expected, rtol=1e-5, atol=1e-6)


def test_aligned_neighbours_fall_in_bin_zero():
    positions = np.array([[1.0, 1.0], [1.2, 1.0], [1.0, 1.3], [2.0, 2.0]])
    headings = np.array([0.5, 0.5, 0.5 + np.pi, -2.0])
    core = envs.make_vec("swarming-vicsek-v0", num_agents=4, box_size=4.0)
    obs, _ = core.reset(seed=0, options={"positions": positions, "headings": headings})
    np.testing.assert_allclose(
        obs[0, 0, :8], [0.5, 0, 0, 0, 0.5, 0, 0, 0]
    )  # one aligned, one opposite
    np.testing.assert_allclose(obs[0, 1, :8], [0.5, 0, 0, 0, 0.5, 0, 0, 0])
    assert obs[0, 3, :9].tolist() == [0.0] * 9  # no neighbours


def test_neighbour_mean_is_the_local_mean_without_self():
    core = envs.make_vec("swarming-vicsek-v0", num_envs=2, **SMALL)
    core.reset(seed=2)
    one_hot = np.eye(7, dtype=np.float32)[np.random.default_rng(0).integers(0, 7, size=(2, 20))]
    mean = core.neighbour_mean(one_hot)
    assert mean.shape == (2, 20, 7) and mean.dtype == np.float32
    for b in range(2):
        for i, near in enumerate(naive_neighbours(core, b)):
            expected = one_hot[b, near].mean(axis=0) if near else np.zeros(7)
            np.testing.assert_allclose(mean[b, i], expected, atol=1e-6)
            assert core.neighbour_counts()[b, i] == len(near)


def test_state_summarises_the_aligned_angles():
    core = envs.make_vec("swarming-vicsek-v0", num_envs=2, **SMALL)
    core.reset(seed=5)
    core.step(np.full((2, 20), 3))
    state = core.state()
    angles = core.headings
    np.testing.assert_allclose(state[:, 0], core.order_parameter(), rtol=1e-6)
    np.testing.assert_allclose(state[:, 1], np.cos(angles).mean(1), atol=1e-6)
    np.testing.assert_allclose(state[:, 2], np.sin(angles).mean(1), atol=1e-6)
    np.testing.assert_allclose(state[:, 3:19].sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(state[:, -1], 1 / 25)


# ---------------------------------------------------------------- dynamics and the scripted rule
def test_vicsek_rule_sets_each_heading_to_its_neighbourhood_mean():
    """Zero noise and an unclipped continuous turn: one step of the rule is the classic update."""
    core = envs.make_vec(
        "swarming-vicsek-v0", num_envs=2, noise=0.0, actions="continuous", max_turn=np.pi, **SMALL
    )
    core.reset(seed=8)
    before = core.headings
    targets = np.zeros_like(before)
    for b in range(2):
        for i, near in enumerate(naive_neighbours(core, b)):
            targets[b, i] = np.angle(np.exp(1j * before[b, [i, *near]]).sum())
    core.step(vicsek_actions(core))
    np.testing.assert_allclose(np.exp(1j * core.headings), np.exp(1j * targets), atol=1e-5)


def test_vicsek_actions_match_the_action_space():
    discrete = envs.make_vec("swarming-vicsek-v0", num_envs=2, **SMALL)
    discrete.reset(seed=0)
    actions = vicsek_actions(discrete)
    assert actions.shape == (2, 20) and actions.dtype == np.int64
    assert np.all(
        np.abs(discrete.turns[actions] - np.clip(vicsek_turns(discrete), -np.pi / 4, np.pi / 4))
        <= np.pi / 12 / 2 + 1e-12
    )  # the nearest of turns pi/12 apart
    continuous = envs.make_vec(
        "swarming-kuramoto-v0", num_envs=2, actions="continuous", max_turn=0.2, **SMALL
    )
    continuous.reset(seed=0)
    actions = vicsek_actions(continuous)
    assert actions.shape == (2, 20, 1) and actions.dtype == np.float32
    assert all(continuous.action_space.contains(a) for a in actions[0])


def test_observation_policy_turns_to_the_binned_neighbourhood_mean():
    """Headings 0 and pi/4 (bin 1 of 8): each turns half-way, by pi/8, towards the other."""
    core = envs.make_vec(
        "swarming-vicsek-v0", num_agents=3, box_size=4.0, actions="continuous", noise=0.0
    )
    options = {"positions": [[1.0, 1.0], [1.5, 1.0], [3.0, 3.0]], "headings": [0.0, np.pi / 4, 2.0]}
    obs, _ = core.reset(seed=0, options=options)
    actions = VicsekPolicy(core)(obs)
    assert actions.shape == (1, 3, 1) and actions.dtype == np.float32
    np.testing.assert_allclose(actions[0, :, 0], [np.pi / 8, -np.pi / 8, 0.0], atol=1e-6)
    np.testing.assert_allclose(actions[0, :, 0], vicsek_turns(core)[0], atol=1e-6)  # exact here


@pytest.mark.parametrize("model", ["vicsek", "kuramoto"])
def test_observation_policy_orders_the_flock_through_the_pettingzoo_view(model):
    env = envs.make(f"swarming-{model}-v0", noise=0.0, max_episode_steps=120)
    policy = VicsekPolicy(env)  # the view forwards the parameters the policy reads
    obs, _ = env.reset(seed=3)
    while env.agents:
        actions = policy(np.stack([obs[a] for a in env.agents]))
        obs, *_ = env.step(dict(zip(env.agents, actions.tolist())))
    assert env.core.order_parameter()[0] > 0.95


def test_kuramoto_phases_advance_by_their_natural_frequency():
    core = envs.make_vec(
        "swarming-kuramoto-v0", noise=0.0, heading_noise=0.0, frequency_spread=0.4, **SMALL
    )
    core.reset(seed=0)
    phases, headings, frequencies = core.phases, core.headings, core.frequencies
    assert np.all(np.abs(frequencies) <= 0.2) and frequencies.std() > 0.05
    core.step(np.full((1, 20), 3))  # no turn
    np.testing.assert_allclose(
        np.exp(1j * core.phases), np.exp(1j * (phases + frequencies)), atol=1e-12
    )
    np.testing.assert_array_equal(core.headings, headings)


def test_reset_options_fix_the_layout():
    positions = np.array([[0.1, 0.2], [5.3, -0.1], [2.0, 2.0]])  # wrapped into the 5 x 5 box
    core = envs.make_vec("swarming-kuramoto-v0", num_envs=2, num_agents=3)
    core.reset(
        seed=0,
        options={
            "positions": positions,
            "phases": [0.0, 4.0, -1.0],
            "frequencies": [0.0, 0.05, 0.0],
        },
    )
    np.testing.assert_allclose(core.positions[1], [[0.1, 0.2], [0.3, 4.9], [2.0, 2.0]])
    np.testing.assert_allclose(core.phases[0], [0.0, 4.0 - 2 * np.pi, -1.0])
    assert core.frequencies[1, 1] == 0.05
    with pytest.raises(ValueError, match="shape"):
        core.reset(options={"headings": [0.0, 1.0]})
    core.reset(options={"speed": 1})  # keys of no meaning here are ignored, as PettingZoo expects
    with pytest.raises(ValueError, match="frequency_spread"):
        core.reset(options={"frequencies": [0.0, 1.0, 0.0]})
    with pytest.raises(ValueError, match="kuramoto"):
        envs.make_vec("swarming-vicsek-v0", num_agents=3).reset(options={"phases": [0.0, 0.0, 0.0]})


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_agents": 0}, "num_agents"),
        ({"box_size": 0.0}, "box_size"),
        ({"box_size": -5.0}, "box_size"),
        ({"speed": -0.1}, "speed"),
        ({"speed": 2.5}, "box_size / 2"),
        ({"radius": 0.0}, "radius"),
        ({"radius": 2.6}, "box_size / 2"),
        ({"noise": -0.1}, "noise"),
        ({"noise": 7.0}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"model": "boids"}, "model"),
        ({"actions": "multi"}, "actions"),
        ({"num_turns": 1}, "num_turns"),
        ({"max_turn": 0.0}, "max_turn"),
        ({"max_turn": 4.0}, "max_turn"),
        ({"obs_bins": 1}, "obs_bins"),
        ({"state_bins": 0}, "state_bins"),
        ({"reward": "selfish"}, "reward"),
        ({"turn_cost": -1.0}, "turn_cost"),
        ({"frequency_spread": -0.1}, "frequency_spread"),
        ({"heading_noise": -0.1}, "heading_noise"),
        ({"max_episode_steps": 0}, "max_episode_steps"),
    ],
)
def test_bad_parameters_raise_clear_errors(kwargs, name):
    with pytest.raises(ValueError, match=re.escape(name)):
        envs.make_vec("swarming-vicsek-v0", **kwargs)


@pytest.mark.parametrize("kwargs", [{"num_agents": 2.5}, {"box_size": "5"}, {"noise": True}])
def test_parameters_of_the_wrong_type_raise_type_errors(kwargs):
    with pytest.raises(TypeError, match=next(iter(kwargs))):
        envs.make_vec("swarming-vicsek-v0", **kwargs)


def test_bad_actions_are_rejected():
    core = envs.make_vec("swarming-vicsek-v0", actions="continuous", **SMALL)
    core.reset(seed=0)
    with pytest.raises(ValueError, match="must lie in"):
        core.step(np.full((1, 20, 1), 1.0))
    with pytest.raises(ValueError, match="shape"):
        core.neighbour_mean(np.zeros((2, 20, 3)))


# ---------------------------------------------------------------- renderer
def test_rgb_frames_show_the_agents_coloured_by_heading():
    env = envs.make("swarming-vicsek-v0", render_mode="rgb_array", num_agents=3, box_size=4.0)
    positions = [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
    env.reset(seed=0, options={"positions": positions, "headings": [0.0, 0.0, 0.0]})
    east = env.render()
    env.reset(seed=0, options={"positions": positions, "headings": [np.pi / 2] * 3})
    north = env.render()
    assert east.shape == north.shape == (540, 512, 3) and east.dtype == np.uint8
    background = np.all(east == 250, axis=-1)
    assert 30 < (~background).sum() < 0.2 * background.size  # arrows and text, mostly background
    assert not np.array_equal(east, north)
    row = 28 + 512 - 128  # header strip, then y = 1 of 4 measured upwards from the bottom
    centre = east[row - 10 : row + 10, 128 - 10 : 128 + 10].reshape(-1, 3)
    red = centre[(centre[:, 0] > 200) & (centre[:, 1] < 60) & (centre[:, 2] < 60)]
    assert len(red) > 5, "heading 0 is drawn red on the hue wheel"
    env.close()


def test_human_render_runs_headless():
    env = envs.make("swarming-kuramoto-v0", render_mode="human", num_agents=10)
    env.reset(seed=0)
    env.step({a: 3 for a in env.agents})
    env.close()
