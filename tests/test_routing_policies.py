"""The scripted routing references: the user-equilibrium split and best response."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs.routing.policies import SCRIPTED, BestResponse, UserEquilibriumRoutes, split_drivers


def test_split_drivers_keeps_every_driver_and_follows_the_shares():
    shares = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    count = split_drivers(shares, np.array([3, 10, 2]))
    assert count.sum(axis=1).tolist() == [3, 10, 2]
    assert count[1].tolist() == [2, 3, 5] and count[2].tolist() == [2, 0, 0]
    assert (np.abs(count - shares * np.array([[3], [10], [2]])) < 1).all()


def test_braess_user_equilibrium_routes_give_two_per_path():
    core = envs.make_vec("routing-braess-v0", 2)
    obs, _ = core.reset(seed=0)
    actions = UserEquilibriumRoutes(core)(obs, core)
    assert sorted(np.bincount(actions[0], minlength=3).tolist()) == [2, 2, 2]
    _, _, _, _, info = core.step(actions)
    assert info["metrics"]["tstt"] == pytest.approx([552.0, 552.0])


def test_sioux_falls_user_equilibrium_routes_reach_the_equilibrium_tstt():
    core = envs.make_vec("routing-siouxfalls-v0", 1)
    obs, _ = core.reset(seed=0)
    _, _, _, _, info = core.step(UserEquilibriumRoutes(core)(obs, core))
    assert 1.0 <= info["metrics"]["ue_ratio"][0] < 1.005  # 1000 drivers cannot split exactly


def test_best_response_takes_yesterdays_fastest_route():
    core = envs.make_vec("routing-braess-v0", 1)
    obs, _ = core.reset(seed=0)
    everyone_on_0 = np.zeros((1, core.num_agents), dtype=np.int64)
    obs, *_ = core.step(everyone_on_0)
    actions = BestResponse(core)(obs, core)
    times = core.route_time[0, core.route_table[core.agent_od]]  # [N, k]
    assert (actions[0] == times.argmin(axis=1)).all()
    assert set(SCRIPTED) == {"ue-routes", "best-response"}
