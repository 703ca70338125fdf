"""URB's SUMO backend: the network conversion and demand checks (no SUMO needed), the clear
error without SUMO, and, where the sumo binary is installed, days driven in SUMO."""

from __future__ import annotations

import csv
import sys
import tempfile

import numpy as np
import pytest

from envs.routing.urb_sumo import (
    SUMO_DIR,
    SUMO_NETWORKS,
    SumoMissingError,
    UrbSumoCore,
    allowed_paths,
    generate_demand,
    load_shipped_scenario,
    load_sumo_scenario,
    run_sumo_day,
)
from tests.registered_ids import needs_sumo


def small_demand(tmp_path, name="nguyen", vehicles=8):
    """A demand file of a few trips over RouteRL's default ODs of ``name``."""
    full = load_shipped_scenario(name)
    origins = sorted({t.origin for t in full.trips})
    destinations = sorted({t.destination for t in full.trips})
    path = tmp_path / f"{name}_small.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "origin", "destination", "start_time"])
        for t in generate_demand(origins, destinations, vehicles, 300.0, seed=1):
            w.writerow([t.id, t.origin, t.destination, t.depart])
    return load_sumo_scenario(SUMO_DIR / name / f"{name}.net.xml", path, name)


# ---------------------------------------------------------------------------------- no SUMO needed
@pytest.mark.parametrize("name", SUMO_NETWORKS)
def test_shipped_networks_convert_with_zones_for_their_od_edges(name):
    s = load_shipped_scenario(name)
    net = s.network
    assert len(s.trips) == 100 and net.total_demand == 100
    assert net.num_zones == 4  # two origin edges, two destination edges
    paths = allowed_paths(s, 3)
    for r in range(paths.num_paths):
        edges = s.route_edges(paths.links[r])
        od = paths.od[r]
        trip = s.trips[int(np.flatnonzero(s.trip_od == od)[0])]
        assert edges[0] == trip.origin and edges[-1] == trip.destination
        assert s.allowed(paths.links[r])  # every succession is a SUMO connection


def test_turn_bans_drop_paths(tmp_path):
    s = small_demand(tmp_path)
    full = allowed_paths(s, 3)
    banned = s.route_edges(full.links[0])[:2]
    s.connections.discard(tuple(banned))
    assert all(s.route_edges(links)[:2] != banned for links in allowed_paths(s, 3).links)


def test_demand_that_does_not_match_the_network(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,origin,destination,start_time\n0,2to7,nowhere,10\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: destination edge 'nowhere' is not an edge"):
        load_sumo_scenario(SUMO_DIR / "nguyen" / "nguyen.net.xml", bad)
    bad.write_text("id,from,to\n0,2to7,17to4\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        load_sumo_scenario(SUMO_DIR / "nguyen" / "nguyen.net.xml", bad)
    with pytest.raises(ValueError, match="unknown SUMO network 'paris'"):
        load_shipped_scenario("paris")


def test_a_simulation_that_ends_before_the_last_departure_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"sumo_end must be after the last departure"):
        UrbSumoCore(1, network=small_demand(tmp_path), sumo_end=10.0)


def test_missing_sumo_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SUMO_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "sumo", None)  # the wheel cannot be imported
    with pytest.raises(SumoMissingError, match=r"pip install 'marlgym\[sumo\]'"):
        UrbSumoCore(1, network="nguyen")


# ---------------------------------------------------------------------------------- with SUMO
@needs_sumo
def test_a_sumo_day_reads_every_trip_back(tmp_path, monkeypatch):
    s = small_demand(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    paths = allowed_paths(s, 2)
    routes = [s.route_edges(paths.links[paths.offsets[od]]) for od in s.trip_od]
    minutes = run_sumo_day(s, routes, seed=0, end=3600.0, timeout=60.0)
    free_flow = np.array([paths.cost[paths.offsets[od]] for od in s.trip_od])
    assert minutes.shape == (len(s.trips),)
    assert (minutes >= 0.9 * free_flow).all() and (minutes < 60).all()
    assert not list(scratch.iterdir())  # the day's files are gone


@needs_sumo
def test_sumo_env_phases_and_metrics(tmp_path):
    core = UrbSumoCore(1, network=small_demand(tmp_path), human_learning_days=2, k=2)
    obs, _ = core.reset(seed=0)
    assert obs.shape == (1, core.num_agents, 2 * 4 + 2 * 2)
    assert np.isfinite(core.before["all_time_before"]).all()
    _, rewards, _, truncated, info = core.step(np.zeros((1, core.num_agents), dtype=np.int64))
    m = info["metrics"]
    assert truncated.all() and "relative_gap" not in m
    assert m["tstt"][0] == pytest.approx(m["all_time"][0] * len(core.scenario.trips))
    np.testing.assert_allclose(rewards, -m["cav_time"][0])  # cooperative: the CAVs' mean


@needs_sumo
def test_a_failing_sumo_run_is_reported(tmp_path):
    s = small_demand(tmp_path)
    routes = [["2to7", "15to3"]] * len(s.trips)  # not connected: SUMO refuses the routes
    with pytest.raises(RuntimeError, match="SUMO failed"):
        run_sumo_day(s, routes, seed=0, end=600.0, timeout=60.0)


@needs_sumo
def test_sumo_env_passes_pettingzoo_checks(tmp_path):
    import warnings

    from pettingzoo.test import parallel_api_test, parallel_seed_test

    from envs import ParallelView

    scenario = small_demand(tmp_path, "ortuzar", vehicles=6)

    def make():
        core = UrbSumoCore(1, network=scenario, human_learning_days=1, k=2, autoreset=False)
        return ParallelView(core)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(make(), num_cycles=3)
        parallel_seed_test(make, num_cycles=3)


# ---------------------------------------------------------------------------------- registered ids
def test_sumo_ids_are_registered_for_every_shipped_sumo_network():
    import pettingzoo

    import envs

    for name in SUMO_NETWORKS:
        assert f"urb-{name}-sumo-v0" in envs.list_envs()
        assert f"marlgym/urb-{name}-sumo-v0" in pettingzoo.parallel_registry


def test_making_a_sumo_id_without_sumo_names_the_extra(monkeypatch, tmp_path):
    import envs

    monkeypatch.setenv("SUMO_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "sumo", None)
    for make in (envs.make, envs.make_vec):
        with pytest.raises(SumoMissingError, match=r"pip install 'marlgym\[sumo\]'"):
            make("urb-ortuzar-sumo-v0")
