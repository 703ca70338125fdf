"""The routing learning benchmark's criterion (issue 21, "Also"): learned drivers are judged by
the relative gap of their flows to user equilibrium, on route sets that do not look at it."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from benchmarks import routing_learning
from envs.routing import k_shortest_paths, load_network
from tests.test_benchmark_grids import TINY


def braess_day(split: dict[str, int]) -> dict[str, float]:
    """Play one Braess day with ``split`` drivers per route (by node sequence)."""
    kwargs = routing_learning.ROUTE_SETS["braess"]
    env = envs.make_vec("routing-braess-v0", 1, **kwargs, max_days=2)
    names = {(0, 2, 1): "1-3-2", (0, 3, 1): "1-4-2", (0, 2, 3, 1): "1-3-4-2"}
    slot = {names[nodes]: s for s, nodes in enumerate(env.paths.nodes)}
    actions = np.array([[slot[r] for r, count in split.items() for _ in range(count)]])
    return routing_learning.play(env, lambda obs, mask: actions, 1, 1, seed=0)


def test_the_system_optimum_fails_and_the_equilibrium_passes():
    ue = braess_day({"1-3-2": 2, "1-4-2": 2, "1-3-4-2": 2})
    so = braess_day({"1-3-2": 3, "1-4-2": 3})
    assert so["ue_ratio"] < 1.0  # the old band (TSTT within 5% of UE) ...
    assert routing_learning.ue_target(ue).endswith("yes")
    assert routing_learning.ue_target(so).endswith("no")  # ... the gap criterion is not fooled
    assert so["relative_gap"] == pytest.approx(so["so_gap"])


def test_altruists_are_judged_against_the_system_optimum():
    ue = braess_day({"1-3-2": 2, "1-4-2": 2, "1-3-4-2": 2})
    so = braess_day({"1-3-2": 3, "1-4-2": 3})
    assert so["so_relative_gap"] == pytest.approx(0.0, abs=1e-9)
    assert ue["so_relative_gap"] == pytest.approx(ue["ue_so_gap"])
    assert ue["ue_so_gap"] > 0.0
    assert routing_learning.target("braess_altruistic", so).endswith("yes")
    assert routing_learning.target("braess_altruistic", ue).endswith("no")
    assert routing_learning.target("braess_selfish", ue).endswith("yes")


def test_a_gap_just_above_the_mark_fails():
    res = {"so_gap": 0.04, "relative_gap": 0.0201}
    assert routing_learning.ue_target(res) == "gap <= 0.0200: no"
    assert routing_learning.ue_target({**res, "relative_gap": 0.02}) == "gap <= 0.0200: yes"


def test_route_sets_are_free_flow_shortest_paths():
    entries = routing_learning.route_set_envs(
        routing_learning.ROOT / "benchmarks" / "routing_learning.yaml"
    )
    kwargs = {e["label"]: e["kwargs"] for e in entries}
    assert kwargs["siouxfalls"] == {"routes": "free_flow", "k": 8}
    assert kwargs["braess"] == {"routes": "free_flow"}
    net = load_network("braess")
    env = envs.make_vec("routing-braess-v0", 1, **kwargs["braess"])
    assert env.paths.nodes == k_shortest_paths(net, 3, net.free_flow_time).nodes


def test_the_benchmark_reports_gap_verdicts_and_references(tmp_path, capsys):
    routing_learning.main(
        [
            *("--conditions", "braess_selfish", "--extra", *TINY),
            *("--days", "3", "--tail", "1", "--copies", "1"),
            *("--launcher", "serial", "--log-dir", str(tmp_path)),
        ]
    )
    out = capsys.readouterr().out
    assert "| braess_selfish | 0 | greedy |" in out and "gap <= 0.0783" in out
    assert "| braess restricted UE | - | - |" in out and "gap <= 0.0783: yes" in out
    assert "| braess SO flows |" in out and "0.1566" in out
    assert "| braess UE flows |" in out and "SO gap <= " in out
    (config,) = tmp_path.glob("braess__selfish__seed0__*/config.yaml")
    assert "routes: free_flow" in config.read_text()
