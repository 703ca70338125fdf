"""Shortest paths, all-or-nothing loading and Yen's k shortest paths against brute force."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.routing import Network, all_or_nothing, k_shortest_paths, load_network, od_costs


@st.composite
def small_networks(draw):
    """Random digraphs with integer free-flow times (many ties), parallel links and blocked zones."""
    n = draw(st.integers(3, 7))
    zones = draw(st.integers(2, n))
    pairs = [(a, b) for a in range(n) for b in range(n) if a != b]
    links = draw(st.lists(st.sampled_from(pairs), min_size=2, max_size=16))
    fft = draw(st.lists(st.integers(1, 5), min_size=len(links), max_size=len(links)))
    od = draw(
        st.lists(
            st.tuples(st.integers(0, zones - 1), st.integers(0, zones - 1)),
            min_size=1,
            max_size=4,
            unique=True,
        ).filter(lambda pairs: all(o != d for o, d in pairs))
    )
    return Network(
        name="random",
        num_nodes=n,
        num_zones=zones,
        first_thru_node=draw(st.integers(1, zones + 1)),
        init_node=[a for a, _ in links],
        term_node=[b for _, b in links],
        capacity=np.ones(len(links)),
        free_flow_time=np.asarray(fft, dtype=float),
        b=np.full(len(links), 0.15),
        power=np.full(len(links), 4.0),
        origin=[o for o, _ in od],
        destination=[d for _, d in od],
        demand=np.arange(1.0, len(od) + 1),
    )


def all_simple_paths(net: Network, origin: int, destination: int) -> list[tuple[int, ...]]:
    """Every loop-free link sequence from origin to destination that crosses no blocked zone."""
    blocked = net.first_thru_node - 1
    out: list[tuple[int, ...]] = []

    def extend(node, visited, links):
        if node == destination:
            out.append(tuple(links))
            return
        if node != origin and node < blocked:
            return
        for link in np.flatnonzero(net.init_node == node):
            head = int(net.term_node[link])
            if head not in visited:
                extend(head, visited | {head}, links + [int(link)])

    extend(origin, {origin}, [])
    return out


@settings(max_examples=80, deadline=None)
@given(small_networks(), st.integers(1, 5))
def test_k_shortest_paths_equal_brute_force(net, k):
    every = [all_simple_paths(net, int(o), int(d)) for o, d in zip(net.origin, net.destination)]
    if not all(every):
        with pytest.raises(ValueError, match="no route from zone"):
            k_shortest_paths(net, k)
        return
    paths = k_shortest_paths(net, k)
    for od, candidates in enumerate(every):
        cost = {p: float(net.free_flow_time[list(p)].sum()) for p in candidates}
        found = [tuple(int(v) for v in p) for p in paths.paths_of(od)]
        assert len(found) == min(k, len(candidates))
        assert len(set(found)) == len(found)  # distinct
        assert all(p in cost for p in found)  # loop-free, connected, no blocked zone crossed
        costs = [cost[p] for p in found]
        assert costs == sorted(costs) == sorted(cost.values())[: len(found)]
        np.testing.assert_allclose(paths.cost[paths.offsets[od] : paths.offsets[od + 1]], costs)
        for p, nodes in zip(found, paths.nodes[paths.offsets[od] : paths.offsets[od + 1]]):
            assert nodes == (int(net.origin[od]),) + tuple(int(net.term_node[link]) for link in p)
    dense = paths.incidence.toarray()
    for r, links in enumerate(paths.links):
        assert dense[r].sum() == len(links) and dense[r, links].all()


def test_braess_paths_in_free_flow_order():
    net = load_network("braess")
    paths = k_shortest_paths(net, 5)
    assert paths.nodes == (
        (0, 2, 3, 1),
        (0, 2, 1),
        (0, 3, 1),
    )  # 1-3-4-2, 1-3-2, 1-4-2 in TNTP numbers
    np.testing.assert_allclose(paths.cost, [10 + 2e-8, 50 + 1e-8, 50 + 1e-8])


def test_parallel_links_are_distinct_paths():
    net = Network(
        name="parallel",
        num_nodes=3,
        num_zones=2,
        first_thru_node=3,
        init_node=[0, 2, 2, 0],
        term_node=[2, 1, 1, 1],
        capacity=np.ones(4),
        free_flow_time=[1.0, 1.0, 2.0, 9.0],
        b=np.zeros(4),
        power=np.ones(4),
        origin=[0],
        destination=[1],
        demand=[1.0],
    )
    paths = k_shortest_paths(net, 4)
    assert [p.tolist() for p in paths.links] == [[0, 1], [0, 2], [3]]
    assert paths.nodes == ((0, 2, 1), (0, 2, 1), (0, 1))


def test_sioux_falls_paths_match_networkx():
    nx = pytest.importorskip("networkx")
    net = load_network("siouxfalls")
    paths = k_shortest_paths(net, 4)
    graph = nx.DiGraph()
    for a, b, t in zip(net.init_node, net.term_node, net.free_flow_time):
        graph.add_edge(int(a), int(b), weight=float(t))
    for od in np.random.default_rng(0).choice(net.num_od_pairs, 60, replace=False):
        reference = [
            nx.path_weight(graph, p, "weight")
            for p in itertools.islice(
                nx.shortest_simple_paths(
                    graph, int(net.origin[od]), int(net.destination[od]), weight="weight"
                ),
                4,
            )
        ]
        np.testing.assert_allclose(paths.cost[paths.offsets[od] : paths.offsets[od + 1]], reference)


def test_k_must_be_a_positive_integer():
    net = load_network("braess")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            k_shortest_paths(net, bad)
    with pytest.raises(ValueError, match="link_weights must be a finite non-negative"):
        k_shortest_paths(net, 2, link_weights=-np.ones(5))


@settings(max_examples=60, deadline=None)
@given(small_networks(), st.lists(st.floats(0.0, 10.0), min_size=16, max_size=16))
def test_all_or_nothing_routes_every_demand_on_a_shortest_path(net, noise):
    every = [all_simple_paths(net, int(o), int(d)) for o, d in zip(net.origin, net.destination)]
    if not all(every):
        with pytest.raises(ValueError, match="no route from zone"):
            all_or_nothing(net, net.free_flow_time)
        return
    weights = net.free_flow_time + np.asarray(noise[: net.num_links])
    flows, cost = all_or_nothing(net, weights)
    best = [min(float(weights[list(p)].sum()) for p in candidates) for candidates in every]
    np.testing.assert_allclose(cost, best)
    np.testing.assert_allclose(od_costs(net, weights), best)
    assert float(flows @ weights) == pytest.approx(float(cost @ net.demand))
    balance = np.bincount(net.term_node, flows, net.num_nodes) - np.bincount(
        net.init_node, flows, net.num_nodes
    )
    expected = np.bincount(net.destination, net.demand, net.num_nodes) - np.bincount(
        net.origin, net.demand, net.num_nodes
    )
    np.testing.assert_allclose(balance, expected, atol=1e-9)


def test_anaheim_routes_never_cross_a_zone():
    net = load_network("anaheim")
    assert net.first_thru_node == 39
    _, cost = all_or_nothing(net, net.free_flow_time)
    graph_net = dataclasses.replace(net, first_thru_node=1)
    _, unrestricted = all_or_nothing(graph_net, net.free_flow_time)
    assert np.all(cost >= unrestricted - 1e-9) and np.any(
        cost > unrestricted + 1e-6
    )  # the rule binds
