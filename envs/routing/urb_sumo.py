"""URB's SUMO backend: one day is one headless SUMO run of every trip.

A SUMO network (``.net.xml``) becomes a :class:`~envs.routing.network.Network` so the route
sets, drivers and observations of :class:`~envs.routing.urb.UrbCore` carry over: junctions
are nodes, normal edges are links (free-flow time = length / speed, capacity 1800 vehicles
per hour per lane), and every origin edge and destination edge of the demand gets a zone
node: an origin zone feeds the end of its edge, a destination zone is fed from the start of
its edge, so a path zone -> ... -> zone is the SUMO route [origin edge, ..., destination
edge]. Paths whose consecutive edges have no SUMO connection (turn bans) are dropped: each OD
pair keeps the first ``k`` allowed ones of its ``4k`` shortest free-flow paths.

Demand is a CSV of trips (``id,origin,destination,start_time``: edge ids and departure second),
one driver per vehicle. A day writes every vehicle with its route, runs
``sumo --tripinfo-output`` in a temporary folder (the process always ends: ``subprocess.run``
kills it on a timeout or an error), and reads each vehicle's duration back; travel times are
in minutes, as RouteRL's (a vehicle that has not arrived by the end counts ``end - depart``).
Metrics that need BPR link costs (``relative_gap``) are not reported; ``tstt`` is the sum of
the vehicles' times.

The binary is found from ``$SUMO_HOME/bin``, the ``eclipse-sumo`` wheel (``pip install
'marlgym[sumo]'``), or ``PATH``, else :class:`SumoMissingError` says how to install it.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from envs.routing.network import Network
from envs.routing.paths import PathSet, k_shortest_paths
from envs.routing.tntp import DATA_DIR
from envs.routing.urb import METRICS, UrbCore

SUMO_DIR = DATA_DIR / "sumo"
#: Shipped SUMO networks (from RouteRL): name -> folder under data/sumo.
SUMO_NETWORKS = ("nguyen", "ortuzar")
LANE_CAPACITY = 1800.0  # vehicles per hour per lane, for the state's volume / capacity


class SumoMissingError(RuntimeError):
    """SUMO is not installed (or not found)."""


class SumoRunError(RuntimeError):
    """A SUMO run failed; the message holds the end of its output."""


def sumo_binary() -> str:
    """The path of the ``sumo`` binary, or :class:`SumoMissingError` naming how to install it."""
    home = os.environ.get("SUMO_HOME")
    candidates = [Path(home) / "bin" / "sumo"] if home else []
    try:
        import sumo  # the eclipse-sumo wheel

        candidates.append(Path(sumo.SUMO_HOME) / "bin" / "sumo")
    except ImportError:
        pass
    on_path = shutil.which("sumo")
    candidates += [Path(on_path)] if on_path else []
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise SumoMissingError(
        "SUMO is not installed: the SUMO backend needs the sumo binary. Install it with "
        "pip install 'marlgym[sumo]' (the eclipse-sumo wheel), or set SUMO_HOME, or put sumo "
        "on PATH."
    )


def sumo_installed() -> bool:
    """Whether :func:`sumo_binary` finds SUMO."""
    try:
        sumo_binary()
    except SumoMissingError:
        return False
    return True


@dataclass(frozen=True)
class Trip:
    """One vehicle of the demand."""

    id: str
    origin: str
    destination: str
    depart: float


def read_demand(path: str | Path, edges: set[str]) -> list[Trip]:
    """Trips from a CSV with columns ``id,origin,destination,start_time`` (edge ids, seconds).

    Raises ValueError naming the file, the row and the problem if the trips do not match the
    network's edges.
    """
    path = Path(path)
    trips = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"id", "origin", "destination", "start_time"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: the demand CSV lacks the columns {sorted(missing)}")
        for row, item in enumerate(reader, start=2):
            for key in ("origin", "destination"):
                if item[key] not in edges:
                    raise ValueError(
                        f"{path}:{row}: {key} edge {item[key]!r} is not an edge of the network"
                    )
            depart = float(item["start_time"])
            if not np.isfinite(depart) or depart < 0:
                raise ValueError(
                    f"{path}:{row}: start_time must be >= 0, got {item['start_time']!r}"
                )
            trips.append(Trip(str(item["id"]), item["origin"], item["destination"], depart))
    if not trips:
        raise ValueError(f"{path}: the demand holds no trip")
    return trips


def generate_demand(
    origins: list[str], destinations: list[str], vehicles: int, horizon: float, seed: int
) -> list[Trip]:
    """Trips drawn as RouteRL 2.0.0 draws agents (``generate_agent_data``): origin and destination
    uniformly from the lists, departure ~ Normal(horizon / 2, horizon / 6) clipped to
    ``[0, horizon]`` and rounded down to a second. Used to write the shipped demand files."""
    rng = np.random.default_rng(seed)
    trips = []
    for i in range(vehicles):
        o, d = rng.integers(len(origins)), rng.integers(len(destinations))
        depart = float(np.clip(int(rng.normal(horizon / 2, horizon / 6)), 0, horizon))
        trips.append(Trip(str(i), origins[o], destinations[d], depart))
    return trips


@dataclass
class SumoScenario:
    """A SUMO network with its demand, as a :class:`Network` plus what SUMO needs back.

    Attributes:
        net_file: the ``.net.xml``.
        network: the node graph with one zone per origin / destination edge; demand = trips.
        link_edge: the SUMO edge id of every link (connectors carry their origin / destination edge).
        connections: allowed ``(from edge, to edge)`` successions.
        trips: the demand; ``trip_od [T]`` each trip's OD pair in ``network``.
    """

    net_file: Path
    network: Network
    link_edge: list[str]
    connections: set[tuple[str, str]]
    trips: list[Trip]
    trip_od: np.ndarray

    def route_edges(self, links: np.ndarray) -> list[str]:
        """The SUMO edge ids of a path's links, in driving order."""
        return [self.link_edge[i] for i in links]

    def allowed(self, links: np.ndarray) -> bool:
        """Whether SUMO can drive this path (every succession of edges is a connection)."""
        edges = self.route_edges(links)
        return all((a, b) in self.connections for a, b in zip(edges, edges[1:]))


def load_sumo_scenario(
    net_file: str | Path, demand_file: str | Path, name: str | None = None
) -> SumoScenario:
    """Read a SUMO network and a demand CSV (see the module docstring for the conversion)."""
    net_file = Path(net_file)
    root = ET.parse(net_file).getroot()
    junctions = {j.get("id"): (float(j.get("x")), float(j.get("y"))) for j in root.iter("junction")}
    edges = {}  # id -> (from, to, time, lanes)
    for e in root.iter("edge"):
        if e.get("function") or e.get("from") is None:
            continue  # internal / walking edges
        lanes = e.findall("lane")
        length = float(lanes[0].get("length"))
        speed = max(float(lane.get("speed")) for lane in lanes)
        edges[e.get("id")] = (e.get("from"), e.get("to"), length / speed / 60.0, len(lanes))
    connections = {(c.get("from"), c.get("to")) for c in root.iter("connection")}
    trips = read_demand(demand_file, set(edges))

    origins = sorted({t.origin for t in trips})
    destinations = sorted({t.destination for t in trips})
    zone = {("o", e): i for i, e in enumerate(origins)}
    zone.update({("d", e): len(origins) + i for i, e in enumerate(destinations)})
    num_zones = len(zone)
    junction_ids = sorted(junctions)
    node = {j: num_zones + i for i, j in enumerate(junction_ids)}

    init, term, time, lanes, link_edge = [], [], [], [], []

    def link(a: int, b: int, edge: str) -> None:
        init.append(a), term.append(b), time.append(edges[edge][2]), lanes.append(edges[edge][3])
        link_edge.append(edge)

    for eid, (a, b, _, _) in edges.items():
        if a != b:
            link(node[a], node[b], eid)
    for e in origins:
        link(zone[("o", e)], node[edges[e][1]], e)
    for e in destinations:
        link(node[edges[e][0]], zone[("d", e)], e)

    pairs: dict[tuple[int, int], int] = {}
    trip_od = []
    for t in trips:
        key = (zone[("o", t.origin)], zone[("d", t.destination)])
        trip_od.append(pairs.setdefault(key, len(pairs)))
    count = np.bincount(trip_od, minlength=len(pairs)).astype(float)
    od = np.array(list(pairs), dtype=np.int64).reshape(-1, 2)
    coords = np.zeros((num_zones + len(junction_ids), 2))
    for j, i in node.items():
        coords[i] = junctions[j]
    for (kind, e), i in zone.items():
        coords[i] = junctions[edges[e][0] if kind == "o" else edges[e][1]]
    network = Network(
        name=name or net_file.name.split(".")[0],
        num_nodes=len(coords),
        num_zones=num_zones,
        first_thru_node=num_zones + 1,
        init_node=np.array(init),
        term_node=np.array(term),
        capacity=LANE_CAPACITY * np.array(lanes, dtype=float),
        free_flow_time=np.array(time),
        b=np.full(len(init), 0.15),
        power=np.full(len(init), 4.0),
        origin=od[:, 0],
        destination=od[:, 1],
        demand=count,
        coordinates=coords,
    )
    return SumoScenario(net_file, network, link_edge, connections, trips, np.array(trip_od))


def load_shipped_scenario(name: str) -> SumoScenario:
    """A shipped SUMO network with its demand: one of ``SUMO_NETWORKS``."""
    if name not in SUMO_NETWORKS:
        raise ValueError(f"unknown SUMO network {name!r}; the shipped ones are {SUMO_NETWORKS}")
    folder = SUMO_DIR / name
    return load_sumo_scenario(folder / f"{name}.net.xml", folder / f"{name}_demand.csv", name)


def allowed_paths(scenario: SumoScenario, k: int) -> PathSet:
    """Each OD pair's first ``k`` SUMO-drivable paths among its ``4k`` shortest free-flow ones."""
    net = scenario.network
    candidates = k_shortest_paths(net, 4 * k, net.free_flow_time)
    keep = []
    for od in range(net.num_od_pairs):
        ids = range(candidates.offsets[od], candidates.offsets[od + 1])
        chosen = [r for r in ids if scenario.allowed(candidates.links[r])][:k]
        if not chosen:
            raise ValueError(
                f"OD pair {od} ({scenario.trips[int(np.argmax(scenario.trip_od == od))].origin} -> "
                f"...) has no route SUMO can drive among its {4 * k} shortest paths"
            )
        keep += chosen
    keep = np.array(keep)
    od = candidates.od[keep]
    return PathSet(
        od=od,
        offsets=np.concatenate([[0], np.cumsum(np.bincount(od, minlength=net.num_od_pairs))]),
        links=tuple(candidates.links[r] for r in keep),
        nodes=tuple(candidates.nodes[r] for r in keep),
        cost=candidates.cost[keep],
        incidence=sp.csr_matrix(candidates.incidence[keep]),
    )


def run_sumo_day(
    scenario: SumoScenario,
    routes: list[list[str]],
    seed: int,
    end: float,
    timeout: float,
) -> np.ndarray:
    """Drive every trip (trip ``i`` on ``routes[i]``) in one SUMO run; minutes per trip."""
    binary = sumo_binary()
    order = np.argsort(
        [t.depart for t in scenario.trips], kind="stable"
    )  # SUMO wants sorted departs
    with tempfile.TemporaryDirectory(prefix="marlgym-sumo-") as tmp:
        rou, out = Path(tmp) / "day.rou.xml", Path(tmp) / "tripinfo.xml"
        lines = ["<routes>"]
        for i in order:
            t = scenario.trips[i]
            lines.append(
                f'  <vehicle id="v{i}" depart="{t.depart:.1f}" departLane="best">'
                f'<route edges="{" ".join(routes[i])}"/></vehicle>'
            )
        lines.append("</routes>")
        rou.write_text("\n".join(lines))
        command = [
            binary,
            *("-n", str(scenario.net_file), "-r", str(rou), "--tripinfo-output", str(out)),
            *("--end", f"{end:.0f}", "--seed", str(seed)),
            *("--no-step-log", "true", "--no-warnings", "true", "--duration-log.disable", "true"),
        ]
        try:
            env = {**os.environ, "SUMO_HOME": str(Path(binary).resolve().parent.parent)}
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as err:
            raise SumoRunError(f"SUMO ran past {timeout:.0f} s and was stopped") from err
        if done.returncode != 0:
            tail = (done.stderr or done.stdout)[-600:]
            raise SumoRunError(f"SUMO failed (exit {done.returncode}): {tail}")
        minutes = np.array([(end - t.depart) / 60.0 for t in scenario.trips])  # not arrived
        for info in ET.parse(out).getroot().iter("tripinfo"):
            minutes[int(info.get("id")[1:])] = float(info.get("duration")) / 60.0
    return minutes


class UrbSumoCore(UrbCore):
    """:class:`~envs.routing.urb.UrbCore` on a SUMO network: one day is one SUMO run per copy.

    Args (besides UrbCore's, whose ``network`` here is a shipped SUMO network name or a
    :class:`SumoScenario`, and whose ``num_drivers`` is the number of trips):
        sumo_end: the simulation's last second (default: the last departure + 1 hour).
        sumo_timeout: seconds one SUMO run may take before it is stopped.
    """

    metadata = {**UrbCore.metadata, "name": "urb_sumo"}
    metric_names = tuple(m for m in METRICS if m != "relative_gap")

    def __init__(
        self,
        num_envs: int = 1,
        *,
        network: str | SumoScenario = "nguyen",
        sumo_end: float | None = None,
        sumo_timeout: float = 120.0,
        **kwargs,
    ):
        if "num_drivers" in kwargs or "trips" in kwargs:
            raise ValueError("the SUMO backend drives one driver per trip of its demand file")
        scenario = network if isinstance(network, SumoScenario) else load_shipped_scenario(network)
        last = max(t.depart for t in scenario.trips)
        end = float(last + 3600.0 if sumo_end is None else sumo_end)
        if not end > last:
            raise ValueError(
                f"sumo_end must be after the last departure ({last:.0f} s), got {sumo_end!r}"
            )
        sumo_binary()  # fail before any work if SUMO is missing
        self.scenario, self.sumo_end = scenario, end
        self.sumo_timeout = float(sumo_timeout)
        super().__init__(
            num_envs,
            network=scenario.network,
            num_drivers=len(scenario.trips),
            **kwargs,
        )
        # driver d (grouped by OD pair) is trip trip_of[d]
        self.trip_of = np.argsort(scenario.trip_od, kind="stable")

    def route_set(self, network: Network, k: int, routes: str) -> PathSet:
        if routes != "free_flow":
            raise ValueError("the SUMO backend's routes are the k shortest free-flow paths")
        return allowed_paths(self.scenario, k)

    def drive(self, slots: np.ndarray) -> np.ndarray:
        b, d = slots.shape
        route = self.route_table[self.driver_od[None, :], slots]  # [B, D]
        times = np.zeros((b, d))
        route_time = self.route_time.copy()
        for c in range(b):
            edges = [None] * d
            for driver, trip in enumerate(self.trip_of):
                edges[trip] = self.scenario.route_edges(self.paths.links[route[c, driver]])
            minutes = run_sumo_day(
                self.scenario,
                edges,
                seed=int(self.rngs[c].integers(2**31)),
                end=self.sumo_end,
                timeout=self.sumo_timeout,
            )
            times[c] = minutes[self.trip_of]
            # a route's time today: the mean over the vehicles that drove it (else yesterday's)
            count = np.bincount(route[c], minlength=self.paths.num_paths)
            total = np.bincount(route[c], weights=times[c], minlength=self.paths.num_paths)
            route_time[c] = np.where(count > 0, total / np.maximum(count, 1), route_time[c])
        r = self.paths.num_paths
        self.route_flow = np.stack([np.bincount(route[c], minlength=r) for c in range(b)]).astype(
            float
        )
        self.link_flow = (self.paths.incidence.T @ self.route_flow.T).T
        self.route_time, self.last_route = route_time, route
        return times

    def system_metrics(self) -> dict[str, np.ndarray]:
        """TSTT: the vehicles' total minutes (no BPR relative gap on a microsimulation)."""
        return {"tstt": np.sum(self.route_flow * self.route_time, axis=1)}
