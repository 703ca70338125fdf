"""The URB mixed-traffic env: PettingZoo checks, human models against their formulas, phases,
URB metrics and bad input."""

from __future__ import annotations

import numpy as np
import pettingzoo
import pytest

import envs
from envs.routing import HumanModel, TNTPFormatError, UrbCore, load_network, reference
from envs.routing.urb import BEHAVIOURS, METRICS, choose_cavs
from envs.routing.urb_humans import HumanPopulation
from tests.pettingzoo_checks import check_pettingzoo_api

FAST = {"human_learning_days": 20}


# ---------------------------------------------------------------------------------- PettingZoo
@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("urb-braess-v0", {**FAST, "episode_days": 3}),
        (
            "urb-braess-v0",
            {**FAST, "reward": "selfish", "human_model": "culo", "action_masks": True},
        ),
        (
            "urb-siouxfalls-v0",
            {"human_learning_days": 3, "num_drivers": 528, "cav_share": 0.05, "k": 2},
        ),
    ],
)
def test_pettingzoo_api(env_id, kwargs):
    check_pettingzoo_api(env_id, num_cycles=6, **kwargs)


def test_ids_are_registered_for_every_shipped_network():
    for name in ("braess", "siouxfalls", "anaheim"):
        assert f"urb-{name}-v0" in envs.list_envs()
    env = pettingzoo.make("parallel", "marlgym/urb-v0", network="braess", num_drivers=10, **FAST)
    obs, _ = env.reset(seed=0)
    assert len(obs) == 4  # 40% of 10 drivers


# ---------------------------------------------------------------------------------- humans
def one_human_population(model: HumanModel, free_flow=(10.0, 12.0, 15.0)) -> HumanPopulation:
    free_flow = np.array([free_flow])
    pop = HumanPopulation(model, free_flow, np.ones_like(free_flow, dtype=bool), num_envs=1)
    pop.reset(np.arange(1), [np.random.default_rng(0)])
    return pop


@pytest.mark.parametrize("name", ["gawron", "culo", "weighted"])
def test_human_updates_follow_routerl_formulas(name):
    model = HumanModel(model=name, alpha=0.3, remember=3)
    pop = one_human_population(model)
    # the same model written out on plain lists, one route at a time
    cost = [-10.0, -12.0, -15.0]
    memory = [[c] * 3 for c in cost]
    weights = [1.0, 1 / 2, 1 / 3]
    weights = [w / sum(weights) for w in weights]
    for route, time in [(0, 20.0), (0, 14.0), (1, 11.0), (0, 9.0), (2, 30.0)]:
        pop.learn(np.array([[route]]), np.array([[time]]))
        reward = -time
        if name == "gawron":
            cost[route] = (1 - 0.3) * cost[route] + 0.3 * reward
        elif name == "culo":
            cost[route] = cost[route] + 0.3 * reward
        else:
            memory[route] = [cost[route], *memory[route][:-1]]
            cost[route] = sum(w * m for w, m in zip(weights, memory[route])) + 0.3 * reward
        np.testing.assert_allclose(pop.cost[0, 0], cost, rtol=1e-12)


def test_logit_choice_probabilities_and_sampling():
    model = HumanModel(beta=0.5, beta_randomness=0.0)
    free_flow = np.tile([10.0, 11.0, 13.0], (4000, 1))
    pop = HumanPopulation(model, free_flow, np.ones_like(free_flow, dtype=bool), num_envs=1)
    rngs = [np.random.default_rng(1)]
    pop.reset(np.arange(1), rngs)
    expected = np.exp(-0.5 * np.array([10.0, 11.0, 13.0]))
    expected /= expected.sum()
    np.testing.assert_allclose(pop.probabilities()[0, 0], expected, rtol=1e-12)
    counts = np.bincount(pop.choose(rngs)[0], minlength=3) / 4000
    np.testing.assert_allclose(counts, expected, atol=0.03)


def test_missing_routes_are_never_chosen_and_betas_spread():
    model = HumanModel(beta=1.5, beta_randomness=0.1)
    free_flow = np.tile([10.0, 10.0, 10.0], (500, 1))
    valid = np.tile([True, True, False], (500, 1))
    pop = HumanPopulation(model, free_flow, valid, num_envs=2)
    rngs = [np.random.default_rng(s) for s in (0, 1)]
    pop.reset(np.arange(2), rngs)
    assert (pop.choose(rngs) < 2).all()
    assert pop.beta.min() >= 1.4 and pop.beta.max() <= 1.6 and pop.beta.std() > 0.03


@pytest.mark.parametrize("model", ["gawron", "weighted"])
def test_humans_settle_near_the_braess_equilibrium(model):
    core = envs.make_vec("urb-braess-v0", 2, human_model=model, human_learning_days=60)
    core.reset(seed=0)
    ue_mean = reference(core.network, "ue").tstt / core.network.total_demand  # 92
    np.testing.assert_allclose(core.before["all_time_before"], ue_mean, rtol=0.04)
    curve = core.human_learning_curve
    # the first day (everyone on the free-flow fastest route) is far worse than the settled days
    assert (curve[:, 0] > 1.3 * ue_mean).all()
    assert (np.abs(curve[:, -10:].mean(axis=1) - ue_mean) < 0.05 * ue_mean).all()


# ---------------------------------------------------------------------------------- phases
def test_phases_training_days_and_frozen_humans():
    core = envs.make_vec("urb-braess-v0", 2, episode_days=2, **FAST)
    core.reset(seed=3)
    before = {k: v.copy() for k, v in core.before.items()}
    cost = core.humans.cost.copy()
    actions = np.zeros((2, core.num_agents), dtype=np.int64)
    for day in range(5):  # auto-resets after days 2 and 4 keep the same world
        _, _, _, truncated, info = core.step(actions)
        assert info["metrics"]["training_days"].tolist() == [day + 1] * 2
        assert truncated.all() == (day % 2 == 1)
    np.testing.assert_array_equal(core.humans.cost, cost)  # humans_adapt=False: frozen
    # evaluation in the same world: no human learning, no training days
    curve = core.human_learning_curve.copy()
    core.reset(options={"phase": "evaluation", "keep_humans": True})
    np.testing.assert_array_equal(core.human_learning_curve, curve)
    _, _, _, _, info = core.step(actions)
    assert info["metrics"]["training_days"].tolist() == [5, 5]
    for name, value in before.items():
        np.testing.assert_array_equal(info["metrics"][name], value)
    # a plain reset starts a new world: human learning again, training days from 0
    core.reset(seed=4)
    _, _, _, _, info = core.step(actions)
    assert info["metrics"]["training_days"].tolist() == [1, 1]
    assert core.seconds_since_introduction().shape == (2,)


def test_adapting_humans_keep_learning():
    core = envs.make_vec("urb-braess-v0", 1, humans_adapt=True, **FAST)
    core.reset(seed=0)
    cost = core.humans.cost.copy()
    core.step(np.zeros((1, core.num_agents), dtype=np.int64))
    assert not np.array_equal(core.humans.cost, cost)


# ---------------------------------------------------------------------------------- metrics
def naive_times(core, slots):
    """Each driver's travel time written out link by link."""
    net = core.network
    flow = np.zeros(net.num_links)
    links = [core.paths.links[core.route_table[od, s]] for od, s in zip(core.driver_od, slots)]
    for vehicles, route in zip(core.vehicles, links):
        flow[route] += vehicles
    link_time = net.free_flow_time * (1 + net.b * (flow / net.capacity) ** net.power)
    return np.array([link_time[route].sum() for route in links])


@pytest.mark.parametrize("reward", sorted(BEHAVIOURS))
def test_rewards_and_metrics_match_naive_loops(reward):
    core = envs.make_vec("urb-braess-v0", 1, reward=reward, cav_share=0.5, **FAST)
    core.reset(seed=1)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 3, size=(1, core.num_agents))
    state = np.random.default_rng(0)
    state.bit_generator.state = core.rngs[0].bit_generator.state
    human_slots = core.humans.choose([state])[0]  # what the humans will pick today
    _, rewards, _, _, info = core.step(actions)
    slots = human_slots.copy()
    slots[core.cav_index] = actions[0]
    times = naive_times(core, slots)
    w = core.vehicles
    human, cav = ~core.is_cav, core.is_cav
    means = [np.average(times[g], weights=w[g]) for g in (human, cav, np.ones_like(cav))]
    m = info["metrics"]
    np.testing.assert_allclose([m["human_time"][0], m["cav_time"][0], m["all_time"][0]], means)
    assert m["all_time"][0] == pytest.approx(m["tstt"][0] / core.network.total_demand)
    assert m["human_change"][0] == pytest.approx(means[0] - m["human_time_before"][0])
    a, g, o, e = BEHAVIOURS[reward]
    expected = a * times[cav] + g * means[1] + o * means[0] + e * means[2]
    np.testing.assert_allclose(rewards[0], expected)
    assert set(METRICS) <= set(m)


def test_cav_selection():
    drivers = np.array([10, 5, 5])
    is_cav = choose_cavs(drivers, 0.4, "random", seed=0)
    assert is_cav.sum() == 8
    is_cav = choose_cavs(drivers, 0.4, "od", seed=0)
    assert [is_cav[:10].sum(), is_cav[10:15].sum(), is_cav[15:].sum()] == [4, 2, 2]
    assert not np.array_equal(
        choose_cavs(drivers, 0.4, "random", 0), choose_cavs(drivers, 0.4, "random", 1)
    )


def test_all_cavs_leaves_no_human_figures():
    core = envs.make_vec("urb-braess-v0", 1, cav_share=1.0, reward="malicious", **FAST)
    core.reset(seed=0)
    _, rewards, _, _, info = core.step(np.zeros((1, core.num_agents), dtype=np.int64))
    assert core.num_agents == 60 and np.isnan(info["metrics"]["human_time"][0])
    np.testing.assert_array_equal(rewards, 0.0)  # malicious: the humans' mean, 0 without humans


def test_episode_reports_means_and_training_days():
    core = envs.make_vec("urb-braess-v0", 1, episode_days=3, **FAST)
    core.reset(seed=0)
    days = []
    for _ in range(3):
        _, _, _, _, info = core.step(np.ones((1, core.num_agents), dtype=np.int64))
        days.append(info["metrics"]["human_time"][0])
    assert info["episode"]["human_time"][0] == pytest.approx(np.mean(days))
    assert info["episode"]["training_days"][0] == 3


# ---------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"network": "gotham"}, ValueError, "unknown network 'gotham'"),
        ({"cav_share": 0.0}, ValueError, r"cav_share must be in \(0, 1\]"),
        ({"cav_share": 1.5}, ValueError, r"cav_share must be in \(0, 1\]"),
        ({"cav_share": -0.2}, ValueError, r"cav_share must be in \(0, 1\]"),
        ({"cav_share": "half"}, TypeError, "cav_share must be a number"),
        ({"cav_share": 0.001}, ValueError, "gives no CAV"),
        ({"reward": "greedy"}, ValueError, "reward must be one of"),
        ({"cav_selection": "all"}, ValueError, "cav_selection must be one of"),
        ({"human_model": "bayes"}, ValueError, "human model must be one of"),
        ({"human_model": {"gamma": 1}}, ValueError, "unknown human model parameters"),
        ({"human_learning_days": 0}, ValueError, "human_learning_days must be a positive"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        envs.make_vec("urb-braess-v0", 1, **kwargs)


def test_demand_that_does_not_match_the_network(tmp_path):
    trips = tmp_path / "other_trips.tntp"
    trips.write_text(
        "<NUMBER OF ZONES> 3\n<TOTAL OD FLOW> 5\n<END OF METADATA>\n\nOrigin 1\n 2 : 5;\n"
    )
    with pytest.raises(TNTPFormatError, match="NUMBER OF ZONES> is 3 here but 2 in the net file"):
        envs.make_vec("urb-braess-v0", 1, trips=trips)
    good = tmp_path / "braess_trips.tntp"
    good.write_text(
        "<NUMBER OF ZONES> 2\n<TOTAL OD FLOW> 4\n<END OF METADATA>\n\nOrigin 1\n 2 : 4;\n"
    )
    core = envs.make_vec("urb-braess-v0", 1, trips=good, **FAST)
    assert core.network.total_demand == 4 and load_network("braess").total_demand == 6


def test_bad_reset_options():
    core = UrbCore(1, network="braess", **FAST)
    with pytest.raises(RuntimeError, match="keep_humans=True needs a world"):
        core.reset(options={"keep_humans": True})
    with pytest.raises(ValueError, match="phase must be one of"):
        core.reset(options={"phase": "testing"})
    with pytest.warns(UserWarning, match=r"ignoring unknown reset option\(s\) \['layout'\]"):
        core.reset(options={"layout": 1})


# ---------------------------------------------------------------------------------- learners
@pytest.mark.parametrize("name", ["ippo", "iql"])
def test_marlgym_learners_drive_the_cavs(name):
    """The CAVs are plain agents of the batched API: an on-policy and a value learner train."""
    import torch

    from algorithms import get_algorithm
    from algorithms.config import build_config

    torch.set_num_threads(1)  # tiny networks: one thread is fastest

    fast = {"ippo": {"rollout_length": 4, "epochs": 1, "minibatches": 1}}.get(
        name, {"rollout_length": 2, "buffer_size": 8, "batch_size": 1, "env_steps_per_update": 4}
    )
    config_cls, learner_cls = get_algorithm(name)
    env = envs.make_vec("urb-braess-v0", 2, **FAST)
    learner = learner_cls(build_config(config_cls, fast, {}), env, "cpu", 0)
    for _ in range(3):
        metrics = learner.train_iteration()
    assert all(np.isfinite(v) for k, v in metrics.items() if k.startswith("losses/"))


def test_render_shows_humans_and_cavs_side_by_side():
    from envs.routing.rendering import SIZE

    core = envs.make_vec("urb-braess-v0", 1, render_mode="rgb_array", **FAST)
    core.reset(seed=0)
    humans, cavs = core.group_link_flows(0)
    np.testing.assert_allclose(humans + cavs, core.link_flow[0])
    first = core.render()
    core.step(np.full((1, core.num_agents), 2, dtype=np.int64))  # every CAV on one route
    humans, cavs = core.group_link_flows(0)
    on_route = core.paths.links[core.route_table[0, 2]]
    assert np.allclose(cavs[on_route], core.vehicles[core.is_cav].sum())
    frame = core.render()
    assert frame.shape == first.shape and frame.shape[1] == 2 * SIZE  # two panels
    half = frame.shape[1] // 2
    assert not np.array_equal(frame[:, half:], first[:, half:])  # the CAV panel changed
    core.close()
