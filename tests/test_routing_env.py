"""The routing env: PettingZoo checks, Braess scenarios, and the batched core against naive loops."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pettingzoo
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import envs
from algorithms.iql import IQLConfig, IQLLearner
from envs.routing import METRICS, REWARDS, apportion, load_network, relative_gap
from tests.pettingzoo_checks import check_pettingzoo_api


# ---------------------------------------------------------------------------------- PettingZoo
@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("routing-braess-v0", {}),
        (
            "routing-braess-v0",
            {"k": 5, "observe_day": True, "action_masks": True, "reward": "social"},
        ),
        (
            "routing-siouxfalls-v0",
            {
                "num_agents": 528,
                "max_days": 4,
                "reward": "cooperative",
                "routes": "free_flow",
                "observe_times": False,
            },
        ),
    ],
)
def test_pettingzoo_api(env_id, kwargs):
    num_cycles = 60 if "braess" in env_id else 6
    check_pettingzoo_api(env_id, num_cycles=num_cycles, **kwargs)


def test_registry_and_pettingzoo_registry():
    ids = envs.list_envs()
    for env_id in (
        "routing-v0",
        "routing-braess-v0",
        "routing-siouxfalls-v0",
        "routing-anaheim-v0",
    ):
        assert env_id in ids
    env = pettingzoo.make("parallel", "marlgym/routing-v0", network="braess", num_agents=12)
    obs, _ = env.reset(seed=0)
    assert len(obs) == 12 and env.core.vehicles.tolist() == [0.5] * 12


# ---------------------------------------------------------------------------------- Braess
def braess_routes(core) -> dict[str, int]:
    """Slot of each Braess route, by TNTP node sequence."""
    names = {(0, 2, 1): "1-3-2", (0, 3, 1): "1-4-2", (0, 2, 3, 1): "1-3-4-2"}
    return {names[nodes]: slot for slot, nodes in enumerate(core.paths.nodes)}


@pytest.mark.parametrize("routes", ["equilibrium", "free_flow"])
def test_braess_user_equilibrium_day(routes):
    core = envs.make_vec("routing-braess-v0", 1, routes=routes)
    core.reset(seed=0)
    slot = braess_routes(core)
    actions = np.array([[slot["1-3-2"]] * 2 + [slot["1-4-2"]] * 2 + [slot["1-3-4-2"]] * 2])
    obs, rewards, terminated, truncated, info = core.step(actions)
    np.testing.assert_allclose(rewards, -92.0, rtol=1e-9)
    metrics = info["metrics"]
    assert metrics["tstt"][0] == pytest.approx(552)
    assert metrics["relative_gap"][0] == pytest.approx(0.0, abs=1e-9)
    assert metrics["route_gap"][0] == pytest.approx(0.0, abs=1e-9)
    assert metrics["price_of_anarchy"][0] == pytest.approx(552 / 498, rel=1e-6)
    assert metrics["ue_ratio"][0] == pytest.approx(1.0, rel=1e-6)
    # next day's observation: every route took 92, the free-flow shortest route takes 10
    np.testing.assert_allclose(obs[0, :, 4:], 9.2, rtol=1e-6)
    assert not terminated.any() and not truncated.any()


def test_braess_system_optimum_day():
    core = envs.make_vec("routing-braess-v0", 1)
    core.reset(seed=0)
    slot = braess_routes(core)
    _, rewards, _, _, info = core.step(np.array([[slot["1-3-2"]] * 3 + [slot["1-4-2"]] * 3]))
    np.testing.assert_allclose(rewards, -83.0, rtol=1e-9)
    assert info["metrics"]["tstt"][0] == pytest.approx(498)
    assert info["metrics"]["price_of_anarchy"][0] == pytest.approx(1.0, rel=1e-6)
    # the unused route 1-3-4-2 would take 30 + 10 + 30 = 70 < 83: the SO is no equilibrium
    assert info["metrics"]["relative_gap"][0] == pytest.approx((498 - 6 * 70) / 498, rel=1e-6)


def test_best_response_dynamics_reach_the_braess_equilibrium():
    """The observations carry what a driver needs: drivers who move, with probability 0.2, to a
    route that was strictly faster yesterday settle at the UE split, which then never changes."""
    core = envs.make_vec("routing-braess-v0", 4, max_days=1000)
    obs, _ = core.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = np.zeros((4, 6), dtype=np.int64)
    for _ in range(150):
        obs, *_, info = core.step(actions)
        times = obs[..., 4:7]  # yesterday's route times (2 zones: 4 one-hot entries first)
        own = np.take_along_axis(times, actions[..., None], axis=2)[..., 0]
        better = times.min(-1) < own * (1 - 1e-9)
        actions = np.where(better & (rng.random(actions.shape) < 0.2), times.argmin(-1), actions)
    np.testing.assert_allclose(info["metrics"]["tstt"], 552)
    np.testing.assert_allclose(info["metrics"]["relative_gap"], 0.0, atol=1e-9)
    np.testing.assert_array_equal([np.bincount(row, minlength=3) for row in core.last_routes], 2)


def test_missing_routes_are_masked_and_drive_route_zero():
    core = envs.make_vec("routing-braess-v0", 2, k=5)
    core.reset(seed=0)
    np.testing.assert_array_equal(core.action_mask()[0, 0], [True, True, True, False, False])
    obs, _ = core.reset()
    np.testing.assert_allclose(
        obs[0, :, 7:], obs[0, :, 4:5].repeat(2, axis=1)
    )  # padded slots repeat route 0
    _, masked, _, _, _ = core.step(np.array([[4] * 6, [0] * 6]))
    np.testing.assert_allclose(masked[0], masked[1])


# ---------------------------------------------------------------------------------- against naive loops
def naive_day(core, actions):
    """Per-agent Python loops: link flows, own times, rewards and TSTT of one copy's day."""
    net = core.network
    flows = np.zeros(net.num_links)
    chosen = []
    for agent, action in enumerate(actions):
        od = core.agent_od[agent]
        slot = action if action < core.paths.counts[od] else 0
        route = core.paths.offsets[od] + slot
        chosen.append(route)
        for link in core.paths.links[route]:
            flows[link] += core.vehicles[agent]
    times = net.free_flow_time * (1 + net.b * (flows / net.capacity) ** net.power)
    own = np.array([times[core.paths.links[r]].sum() for r in chosen])
    tstt = float(flows @ times)
    everyone = tstt / net.total_demand
    group = np.array([own[core.agent_od == core.agent_od[i]].mean() for i in range(len(own))])
    rewards = {
        "selfish": -own,
        "cooperative": -group,
        "social": -(0.5 * own + 0.5 * everyone),
        "altruistic": -np.full(len(own), everyone),
    }
    return flows, rewards, tstt


@pytest.mark.parametrize("reward", REWARDS)
def test_rewards_and_flows_match_naive_loops(reward):
    core = envs.make_vec("routing-siouxfalls-v0", 3, num_agents=700, reward=reward)
    core.reset(seed=3)
    rng = np.random.default_rng(11)
    for _ in range(2):
        actions = rng.integers(0, core.k, (3, core.num_agents))
        _, rewards, _, _, info = core.step(actions)
        for b in range(3):
            flows, expected, tstt = naive_day(core, actions[b])
            np.testing.assert_allclose(core.link_flow[b], flows, rtol=1e-10)
            np.testing.assert_allclose(rewards[b], expected[reward], rtol=1e-10)
            assert info["metrics"]["tstt"][b] == pytest.approx(tstt, rel=1e-10)
            np.testing.assert_allclose(
                core.state()[b, :-1], flows / core.network.capacity, rtol=1e-6
            )


def test_relative_gap_metric_is_the_solvers_gap():
    core = envs.make_vec("routing-siouxfalls-v0", 2, num_agents=600)
    core.reset(seed=0)
    _, _, _, _, info = core.step(np.random.default_rng(0).integers(0, 3, (2, core.num_agents)))
    for b in range(2):
        assert info["metrics"]["relative_gap"][b] == pytest.approx(
            relative_gap(core.network, core.link_flow[b])
        )
    assert np.all(info["metrics"]["route_gap"] <= info["metrics"]["relative_gap"] + 1e-12)
    assert np.all(info["metrics"]["price_of_anarchy"] > info["metrics"]["ue_ratio"])  # SO below UE


def test_batch_equals_separate_single_envs():
    kwargs = {"num_agents": 540, "max_days": 3, "observe_day": True}
    core = envs.make_vec("routing-siouxfalls-v0", 3, **kwargs)
    singles = [envs.make_vec("routing-siouxfalls-v0", 1, **kwargs) for _ in range(3)]
    obs, _ = core.reset(seed=5)
    for b, single in enumerate(singles):
        np.testing.assert_array_equal(single.reset(seed=5 + b)[0][0], obs[b])
    rng = np.random.default_rng(1)
    for _ in range(7):  # crosses two auto-resets
        actions = rng.integers(0, core.k, (3, core.num_agents))
        out = core.step(actions)
        for b, single in enumerate(singles):
            one = single.step(actions[b : b + 1])
            for batch_part, single_part in zip(out[:4], one[:4]):
                np.testing.assert_allclose(batch_part[b], single_part[0])
            for name in METRICS:
                assert out[4]["metrics"][name][b] == pytest.approx(one[4]["metrics"][name][0])


def test_auto_reset_reports_final_observation_and_episode_means():
    core = envs.make_vec("routing-braess-v0", 2, max_days=3)
    first, _ = core.reset(seed=0)
    rng = np.random.default_rng(4)
    daily = {name: [] for name in METRICS}
    total = np.zeros((2, 6))
    for _ in range(3):
        obs, rewards, terminated, truncated, info = core.step(rng.integers(0, 3, (2, 6)))
        total += rewards
        for name in METRICS:
            daily[name].append(info["metrics"][name])
    assert truncated.all() and not terminated.any() and info["_final"].all()
    episode = info["episode"]
    for name in METRICS:
        np.testing.assert_allclose(episode[name], np.mean(daily[name], axis=0))
    np.testing.assert_allclose(episode["return"], total.mean(axis=1))  # team reward: the mean
    np.testing.assert_array_equal(episode["length"], [3, 3])
    np.testing.assert_array_equal(obs, first)  # a new episode starts from free-flow times
    assert not np.array_equal(info["final_obs"], first)


def test_the_episode_length_is_reported_and_sizes_a_value_learners_episodes():
    core = envs.make_vec("routing-braess-v0", 2, max_days=3)
    assert core.max_episode_steps == 3
    learner = IQLLearner(IQLConfig(), core, seed=0)
    assert learner.max_length == 3  # not the 100-step default for envs without a time limit


def test_observations():
    core = envs.make_vec("routing-siouxfalls-v0", 2, num_agents=600, observe_day=True, max_days=10)
    obs, _ = core.reset(seed=0)
    net, zones = core.network, core.network.num_zones
    assert obs.shape == (2, 600, 2 * zones + 3 + 1) and obs.dtype == np.float32
    assert core.observation_space.contains(obs[0, 0])
    np.testing.assert_array_equal(obs[0, :, :zones].argmax(1), net.origin[core.agent_od])
    np.testing.assert_array_equal(
        obs[0, :, zones : 2 * zones].argmax(1), net.destination[core.agent_od]
    )
    np.testing.assert_array_equal(obs[..., : 2 * zones].sum(-1), 2)
    free_flow = np.array(
        [
            [net.free_flow_time[core.paths.links[r]].sum() for r in core.route_table[od]]
            for od in core.agent_od
        ]
    )
    np.testing.assert_allclose(
        obs[0, :, 2 * zones : -1], free_flow / free_flow.min(1, keepdims=True), rtol=1e-6
    )
    assert np.all(obs[..., -1] == 0)
    obs, *_ = core.step(np.zeros((2, 600), dtype=int))
    assert np.all(obs[..., -1] == pytest.approx(0.1))


def test_without_route_times_a_driver_sees_its_od_pair_only():
    seen = envs.make_vec("routing-siouxfalls-v0", 2, num_agents=600, observe_day=True)
    blind = envs.make_vec("routing-siouxfalls-v0", 2, num_agents=600, observe_times=False)
    zones = blind.network.num_zones
    assert blind.observation_space.shape == (2 * zones,)
    for core in (seen, blind):
        core.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 3, size=(2, 600))
    full, seen_reward, *_ = seen.step(actions)
    obs, reward, *_ = blind.step(actions)
    np.testing.assert_array_equal(obs, full[..., : 2 * zones])
    np.testing.assert_array_equal(reward, seen_reward)  # the game is the same


def test_neighbour_mean_is_the_other_drivers_of_the_od_pair():
    core = envs.make_vec("routing-siouxfalls-v0", 2, num_agents=560)
    core.reset(seed=0)
    values = np.random.default_rng(2).normal(size=(2, 560, 3))
    got = core.neighbour_mean(values)
    for i in range(560):
        mates = np.flatnonzero((core.agent_od == core.agent_od[i]) & (np.arange(560) != i))
        expected = values[:, mates].mean(axis=1) if len(mates) else np.zeros((2, 3))
        np.testing.assert_allclose(got[:, i], expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------- drivers
def webster_one_at_a_time(demand, num_agents):
    seats = np.ones(len(demand), dtype=int)
    for _ in range(num_agents - len(demand)):
        priority = demand / (seats + 0.5)
        tied = np.flatnonzero(priority == priority.max())  # rounding can tie unequal claims
        exact = [Fraction(2 * demand[i]) / (2 * int(seats[i]) + 1) for i in tied]
        seats[tied[exact.index(max(exact))]] += 1  # equal claims: the lower OD index
    return seats


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 1e4), min_size=1, max_size=30), st.integers(0, 200))
@example([3940.0, 9394.0, 9999.999999999998, 10000.0], 28)  # priorities tie after rounding
def test_apportionment(demand, extra):
    demand = np.asarray(demand)
    seats = apportion(demand, len(demand) + extra)
    assert seats.sum() == len(demand) + extra and seats.min() >= 1
    np.testing.assert_array_equal(seats, webster_one_at_a_time(demand, len(demand) + extra))
    more = demand[:, None] > demand[None, :]
    assert np.all(seats[:, None] >= seats[None, :], where=more)  # more demand, never fewer drivers


def test_drivers_carry_their_od_demand():
    core = envs.make_vec("routing-siouxfalls-v0", 1, num_agents=1000)
    net = core.network
    np.testing.assert_allclose(np.bincount(core.agent_od, core.vehicles), net.demand)
    assert core.vehicles.max() / core.vehicles.min() < 10
    assert np.mean(core.vehicles) == pytest.approx(net.total_demand / 1000)


# ---------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"reward": "greedy"}, "reward must be one of"),
        ({"routes": "random"}, "routes must be one of"),
        ({"k": 0}, "k must be a positive integer"),
        ({"max_days": 0}, "max_days must be a positive integer"),
        (
            {"num_agents": 100},
            r"num_agents must be at least the number of OD pairs with demand \(528\)",
        ),
        ({"network": "gotham"}, "the shipped networks are"),
    ],
)
def test_bad_arguments_are_named(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        envs.make_vec("routing-siouxfalls-v0", 1, **kwargs)


def test_network_and_num_agents_types():
    with pytest.raises(TypeError, match="network must be a shipped network name or a Network"):
        envs.make_vec("routing-v0", 1, network=42)
    with pytest.raises(TypeError, match="num_agents must be an integer"):
        envs.make_vec("routing-braess-v0", 1, num_agents=6.5)
    core = envs.make_vec("routing-v0", 1, network=load_network("braess"))
    assert core.num_agents == 6  # default: twice the OD pairs, at least 6


# ---------------------------------------------------------------------------------- rendering
def test_render_draws_the_day():
    core = envs.make_vec("routing-siouxfalls-v0", 2, num_agents=600, render_mode="rgb_array")
    core.reset(seed=0)
    empty = core.render(1)
    assert empty.shape == (808, 720, 3) and empty.dtype == np.uint8
    core.step(np.zeros((2, 600), dtype=int))
    busy = core.render(1)
    assert (busy != empty).mean() > 0.01
    core.close()
    human = envs.make_vec("routing-braess-v0", 1, render_mode="human")
    human.reset(seed=0)
    assert human.render() is None
    human.close()


# ---------------------------------------------------------------------------------- Anaheim
def test_anaheim_env():
    core = envs.make_vec("routing-anaheim-v0", 2)
    net = core.network
    assert core.num_agents == 2000 and net.first_thru_node == 39
    for nodes in core.paths.nodes:
        assert all(node >= 38 for node in nodes[1:-1])  # no route passes through a zone
    core.reset(seed=0)
    _, rewards, _, _, info = core.step(np.random.default_rng(0).integers(0, 3, (2, 2000)))
    assert np.all(rewards < 0)
    assert np.all(info["metrics"]["price_of_anarchy"] > 1.0)
    assert np.all(info["metrics"]["relative_gap"] > 0)


def test_a_pickled_core_leaves_its_networks_shared_cache_behind():
    # Cores on a shipped network share one Network object in a process; what its cache holds
    # depends on what else ran there, so a checkpoint (a pickled core) must not carry it.
    import pickle

    core = envs.make_vec("routing-braess-v0", num_envs=2)
    core.network.cached(("test-entry",), lambda: "computed before pickling")
    restored = pickle.loads(pickle.dumps(core))
    assert restored.network.cached(("test-entry",), lambda: "recomputed") == "recomputed"
    assert core.network.cached(("test-entry",), lambda: "recomputed") == "computed before pickling"
