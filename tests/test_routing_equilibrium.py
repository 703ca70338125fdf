"""User-equilibrium and system-optimum solvers against the published reference values."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.routing import all_or_nothing, k_shortest_paths, load_network, relative_gap, solve

SIOUX_FALLS_UE_TSTT = 7_480_225  # best-known (TransportationNetworks), in TNTP's units


def node_balance(net, flows):
    inflow = np.bincount(net.term_node, flows, net.num_nodes) - np.bincount(
        net.init_node, flows, net.num_nodes
    )
    demand = np.bincount(net.destination, net.demand, net.num_nodes) - np.bincount(
        net.origin, net.demand, net.num_nodes
    )
    return inflow - demand


@pytest.mark.parametrize("method", ["bfw", "cfw", "fw"])
def test_braess_user_equilibrium(method):
    net = load_network("braess")
    ue = solve(net, "ue", gap=1e-6, method=method, max_iterations=50_000)
    assert ue.converged and ue.gap <= 1e-6
    # 2 vehicles on each of 1-3-2, 1-4-2, 1-3-4-2: links 1-3, 1-4, 3-2, 3-4, 4-2
    np.testing.assert_allclose(ue.link_flows, [4, 2, 2, 2, 4], atol=1e-3)
    assert ue.tstt == pytest.approx(552, rel=1e-5)
    route = [
        ue.link_times[[0, 2]].sum(),
        ue.link_times[[1, 4]].sum(),
        ue.link_times[[0, 3, 4]].sum(),
    ]
    np.testing.assert_allclose(route, 92, rtol=1e-4)


def test_braess_system_optimum():
    net = load_network("braess")
    so = solve(net, "so", gap=1e-8)
    assert so.converged
    np.testing.assert_allclose(so.link_flows, [3, 3, 3, 0, 3], atol=1e-6)  # link 3->4 unused
    assert so.tstt == pytest.approx(498, rel=1e-9)
    assert solve(net, "ue", gap=1e-8).tstt / so.tstt == pytest.approx(552 / 498, rel=1e-6)


def test_sioux_falls_user_equilibrium_matches_best_known():
    net = load_network("siouxfalls")
    ue = solve(net)  # defaults: UE, gap 1e-4
    assert ue.converged and ue.gap <= 1e-4
    assert ue.tstt == pytest.approx(SIOUX_FALLS_UE_TSTT, rel=1e-3)
    tight = solve(net, "ue", gap=1e-6)
    assert tight.gap <= 1e-6
    assert tight.tstt == pytest.approx(SIOUX_FALLS_UE_TSTT, rel=1e-4)
    assert net.beckmann(tight.link_flows) == pytest.approx(
        42.31335287107440e5, rel=1e-6
    )  # README's optimum


def test_sioux_falls_system_optimum_is_lower_and_converged():
    net = load_network("siouxfalls")
    ue, so = solve(net, "ue"), solve(net, "so")
    assert so.converged and so.gap <= 1e-4
    assert so.tstt < ue.tstt
    free_flow_aon, _ = all_or_nothing(net, net.free_flow_time)
    assert so.tstt <= net.tstt(free_flow_aon) and so.tstt <= net.tstt(ue.link_flows)
    # every solution routes all demand: flow is conserved at every node
    for solution in (ue, so):
        np.testing.assert_allclose(
            node_balance(net, solution.link_flows), 0.0, atol=1e-6 * net.total_demand
        )


@pytest.mark.parametrize("objective", ["ue", "so"])
def test_reported_gap_is_the_gap_of_the_returned_flows(objective):
    net = load_network("siouxfalls")
    solution = solve(net, objective, gap=1e-3)
    assert relative_gap(net, solution.link_flows, objective) == pytest.approx(
        solution.gap, rel=1e-9
    )
    assert (
        solution.gap_history[-1] == solution.gap
        and len(solution.gap_history) == solution.iterations + 1
    )
    np.testing.assert_allclose(solution.link_times, net.link_time(solution.link_flows))


@settings(max_examples=25, deadline=None)
@given(st.floats(0.2, 5.0), st.sampled_from(["ue", "so"]))
def test_wardrop_conditions_hold_on_scaled_braess(scale, objective):
    """At the UE every used route costs the OD minimum; at the SO every used route has the minimum
    marginal cost. Checked on Braess with the demand scaled (other splits, other used routes)."""
    base = load_network("braess")
    net = dataclasses.replace(base, demand=base.demand * scale)
    solution = solve(net, objective, gap=1e-9)
    cost = solution.link_times if objective == "ue" else net.marginal_cost(solution.link_flows)
    routes = [[0, 2], [1, 4], [0, 3, 4]]
    route_cost = np.array([cost[r].sum() for r in routes])
    # route flows of Braess from link flows: x34 on 1-3-4-2, the rest on the two-link routes
    route_flow = np.array([solution.link_flows[2], solution.link_flows[1], solution.link_flows[3]])
    used = route_flow > 1e-3 * net.total_demand
    assert np.all(route_cost[used] <= route_cost.min() * (1 + 1e-5) + 1e-9)


def test_solver_methods_agree_on_sioux_falls():
    net = load_network("siouxfalls")
    tstt = [
        solve(net, "so", gap=1e-4, method=m, max_iterations=50_000).tstt for m in ("bfw", "cfw")
    ]
    assert tstt[0] == pytest.approx(tstt[1], rel=5e-4)


def test_route_restricted_assignment():
    net = load_network("siouxfalls")
    ue = solve(net, "ue", gap=1e-5)
    one = solve(
        net, "ue", paths=k_shortest_paths(net, 1)
    )  # one route each: free-flow all-or-nothing
    free_flow_aon, _ = all_or_nothing(net, net.free_flow_time)
    np.testing.assert_allclose(one.link_flows, free_flow_aon)
    assert one.iterations == 0
    restricted = solve(net, "ue", gap=1e-5, paths=k_shortest_paths(net, 3, ue.link_times))
    assert restricted.converged
    assert restricted.tstt == pytest.approx(ue.tstt, rel=1e-3)  # the UE's routes are in the sets
    free_flow_three = solve(net, "ue", gap=1e-5, paths=k_shortest_paths(net, 3))
    assert free_flow_three.tstt > 1.03 * ue.tstt  # three free-flow routes cannot reproduce the UE


def test_bad_arguments_are_named():
    net = load_network("braess")
    with pytest.raises(ValueError, match="objective must be one of"):
        solve(net, "nash")
    with pytest.raises(ValueError, match="method must be one of"):
        solve(net, method="newton")
    with pytest.raises(ValueError, match="gap must be a positive number"):
        solve(net, gap=0)
    with pytest.raises(ValueError, match="max_iterations must be a non-negative integer"):
        solve(net, max_iterations=-1)
    stopped = solve(load_network("siouxfalls"), gap=1e-9, max_iterations=3)
    assert not stopped.converged and stopped.iterations == 3 and stopped.gap > 1e-9
