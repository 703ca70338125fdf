"""Route choice on a road network as a batched numpy core (DESIGN 2.5).

| | |
|---|---|
| Agents | ``driver_0 ... driver_{N-1}``, grouped by OD pair (``num_agents``, default per id) |
| Actions | ``Discrete(k)``: which of its OD pair's ``k`` routes to drive today |
| Observations | ``Box(2Z + k [+ 1])``: origin one-hot, destination one-hot (Z zones), the ``k`` route times of the previous day relative to the OD pair's free-flow shortest time, [day / max_days] |
| State | ``Box(L + 1)``: the previous day's volume / capacity of every link, and day / max_days |

Each OD pair gets ``k`` loop-free routes (Yen's algorithm; routes never pass through a zone
below TNTP's ``<FIRST THRU NODE>``). The ``num_agents`` drivers are spread over the OD pairs
in proportion to demand (Webster's method, at least one per pair); driver ``i`` of OD pair
``od`` stands for ``demand[od] / drivers[od]`` vehicles, about ``total demand / num_agents``.
One step is one day: every driver picks a route, link flows give BPR link times, and each
driver's travel time is the sum over its route.

## Observations
The first ``2Z`` entries one-hot encode the driver's origin and destination zone; then (with
``observe_times``, the default) the travel time of each of its ``k`` routes on the previous
day (free-flow on the first day), divided by the free-flow time of the OD pair's fastest route;
with ``observe_day`` the day index over ``max_days``. Without ``observe_times`` a driver sees
only its OD pair: the static congestion game whose equilibrium Wardrop's is. Where an OD pair
has fewer than ``k`` loop-free routes the missing slots repeat route 0 (the action mask marks
them; choosing one drives route 0).

## Rewards
Minus a travel time (in the network's time unit), by ``reward``:
``"selfish"`` one's own; ``"cooperative"`` the mean over one's group, the drivers of the same
OD pair; ``"social"`` half one's own, half the mean over all vehicles (``TSTT / demand``);
``"altruistic"`` the mean over all vehicles. Team reward: the mean over drivers.

## Metrics
``info["metrics"]`` holds ``[B]`` arrays for the day just driven: ``tstt`` (total system travel
time), ``relative_gap`` (``(TSTT - sum_od demand * shortest route time) / TSTT``, shortest over
the whole network: 0 at user equilibrium), ``route_gap`` (the same with the shortest of the
OD pair's ``k`` routes), ``price_of_anarchy`` (TSTT over the system-optimum TSTT) and
``ue_ratio`` (TSTT over the user-equilibrium TSTT). Episodes report the mean of each over
their days in ``info["episode"]``. The UE and SO references are solved (bi-conjugate
Frank-Wolfe, gap 1e-5) once per network and process, on first use.

## Arguments
``network`` (a shipped name, ``"braess"``, ``"siouxfalls"``, ``"anaheim"``, or a
:class:`~envs.routing.network.Network` from ``load_tntp``), ``num_agents`` (default: twice the
OD pairs, at least 6), ``k`` (routes per OD pair, 3), ``routes`` (``"equilibrium"``: the k
shortest routes under the user-equilibrium link times, which hold the routes the UE uses;
``"free_flow"``: under free-flow times), ``reward``, ``max_days`` (episode length, 50; also
``max_episode_steps``, which sizes replay episodes),
``observe_times``, ``observe_day``.

``neighbour_mean`` (mean-field learners) averages over the other drivers of one's OD pair.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from envs.core import BatchedCore
from envs.routing.equilibrium import Assignment, reference
from envs.routing.network import Network
from envs.routing.paths import PathSet, k_shortest_paths, od_costs
from envs.routing.tntp import SHIPPED, load_network

REWARDS = ("selfish", "cooperative", "social", "altruistic")
ROUTES = ("equilibrium", "free_flow")
METRICS = ("tstt", "relative_gap", "route_gap", "price_of_anarchy", "ue_ratio")


def apportion(demand: np.ndarray, num_agents: int) -> np.ndarray:
    """Drivers per OD pair: proportional to ``demand`` by Webster's method, at least one each.

    Deterministic; claims are compared exactly, and equal claims go to the lower OD index.
    Raises if ``num_agents`` is below the number of OD pairs.
    """
    demand = np.asarray(demand, dtype=np.float64)
    pairs = len(demand)
    if num_agents < pairs:
        raise ValueError(
            f"num_agents must be at least the number of OD pairs with demand ({pairs}), "
            f"got {num_agents}"
        )
    extra = num_agents - pairs
    quota = num_agents * demand / demand.sum()
    most = np.ceil(quota).astype(np.int64) + 1  # Webster never gives more than ceil(quota) + 1
    od = np.repeat(np.arange(pairs), most)
    seat = np.arange(len(od)) - np.repeat(np.cumsum(most) - most, most) + 1  # 1.. per OD
    priority = demand[od] / (seat + 0.5)  # the (seat+1)-th driver's claim
    order = np.lexsort((od, -priority))
    if extra and priority[order[extra]] == priority[order[extra - 1]]:
        # Rounding can give unequal claims one float (demands a float step apart): order the
        # claims tied at the cut by their exact values, equal ones by OD index as before.
        tied = np.flatnonzero(priority[order] == priority[order[extra]])  # one run: sorted
        order[tied] = sorted(
            order[tied],
            key=lambda i: (-Fraction(2 * demand[od[i]]) / (2 * int(seat[i]) + 1), od[i]),
        )
    return 1 + np.bincount(od[order[:extra]], minlength=pairs)


def route_sets(network: Network, k: int, routes: str) -> PathSet:
    """Each OD pair's ``k`` routes (cached on the network per ``(k, routes)``)."""

    def build() -> PathSet:
        if routes == "equilibrium":
            return k_shortest_paths(network, k, reference(network, "ue").link_times)
        return k_shortest_paths(network, k, network.free_flow_time)

    return network.cached(("routes", k, routes), build)


class RoutingCore(BatchedCore):
    """B copies of one route-choice game on ``network`` (see the module docstring).

    Attributes:
        network: the :class:`~envs.routing.network.Network`.
        paths: the route sets (:class:`~envs.routing.paths.PathSet`); ``route_table [P, k]``
            maps (OD pair, action) to a path id of ``paths``.
        agent_od: ``[N]`` each driver's OD pair; ``vehicles [N]`` the vehicles it stands for.
        day: ``[B]`` days driven in the current episode.
        link_flow: ``[B, L]`` and ``route_time [B, R]``: the previous day's link flows and
            route travel times; ``last_routes [B, N]`` the path id each driver took.
        last_metrics: the previous day's metrics, ``[B]`` arrays (NaN before the first day).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["human", "rgb_array"],
        "render_fps": 4,
        "name": "routing",
    }
    team_reward = "mean"

    def __init__(
        self,
        num_envs: int = 1,
        *,
        network: str | Network = "siouxfalls",
        num_agents: int | None = None,
        k: int = 3,
        routes: str = "equilibrium",
        reward: str = "selfish",
        max_days: int = 50,
        observe_times: bool = True,
        observe_day: bool = False,
        autoreset: bool = True,
        render_mode: str | None = None,
    ):
        if isinstance(network, str):
            network = load_network(network)
        elif not isinstance(network, Network):
            raise TypeError(
                f"network must be a shipped network name or a Network, got "
                f"{type(network).__name__} {network!r}; the shipped networks are {sorted(SHIPPED)} "
                "(or pass a Network from envs.routing.load_tntp)"
            )
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        if routes not in ROUTES:
            raise ValueError(f"routes must be one of {ROUTES}, got {routes!r}")
        for name, value in (("k", k), ("max_days", max_days)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if num_agents is None:
            num_agents = max(6, 2 * network.num_od_pairs)
        if not isinstance(num_agents, (int, np.integer)) or isinstance(num_agents, bool):
            raise TypeError(f"num_agents must be an integer, got {num_agents!r}")
        super().__init__(num_envs, autoreset=autoreset, render_mode=render_mode)
        self.network = network
        self.k, self.reward, self.routes = int(k), reward, routes
        self.max_days, self.observe_day = int(max_days), bool(observe_day)
        self.max_episode_steps = self.max_days  # the time limit, as the other cores name it
        self.observe_times = bool(observe_times)
        self.paths = route_sets(network, self.k, routes)

        # drivers: grouped by OD pair, each carrying an equal share of its pair's demand
        self.drivers_per_od = apportion(network.demand, int(num_agents))
        self.agent_od = np.repeat(np.arange(network.num_od_pairs), self.drivers_per_od)  # [N]
        self.vehicles = (network.demand / self.drivers_per_od)[self.agent_od]  # [N]
        self.possible_agents = [f"driver_{i}" for i in range(len(self.agent_od))]

        # route table: [P, k] global path ids, missing routes repeat the OD pair's route 0
        counts = self.paths.counts
        slot = np.arange(self.k)
        self.route_valid = slot[None, :] < counts[:, None]  # [P, k]
        self.route_table = np.where(
            self.route_valid,
            self.paths.offsets[:-1, None] + slot[None, :],
            self.paths.offsets[:-1, None],
        )
        self._incidence_t = self.paths.incidence.T.tocsr()  # [L, R]
        self._free_flow_route = self.paths.incidence @ network.free_flow_time  # [R]
        # [P] the free-flow time of each OD pair's fastest route: the unit of its observations
        scale = self._free_flow_route[self.route_table].min(axis=1)
        self._od_scale = np.where(scale > 0, scale, 1.0)

        zones = network.num_zones
        identity = np.zeros((len(self.agent_od), 2 * zones), dtype=np.float32)  # [N, 2Z]
        identity[np.arange(len(self.agent_od)), network.origin[self.agent_od]] = 1.0
        identity[np.arange(len(self.agent_od)), zones + network.destination[self.agent_od]] = 1.0
        self._identity = identity
        obs_dim = 2 * zones + self.k * self.observe_times + int(self.observe_day)
        self.observation_space = gym.spaces.Box(0.0, np.inf, shape=(obs_dim,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(self.k)
        self.state_space = gym.spaces.Box(
            0.0, np.inf, shape=(network.num_links + 1,), dtype=np.float32
        )

        b, n = self.num_envs, self.num_agents
        self.day = np.zeros(b, dtype=np.int64)
        self.link_flow = np.zeros((b, network.num_links))  # previous day's
        self.route_time = np.tile(self._free_flow_route, (b, 1))  # [B, R] previous day's
        self.last_routes = np.zeros((b, n), dtype=np.int64)  # global path id driven
        self.last_metrics = {name: np.full(b, np.nan) for name in METRICS}
        self._metric_sum = np.zeros((b, len(METRICS)))
        self._renderer = None

    # ------------------------------------------------------------------ references
    @property
    def ue(self) -> Assignment:
        """The user-equilibrium reference (solved on first use, cached on the network)."""
        return reference(self.network, "ue")

    @property
    def so(self) -> Assignment:
        """The system-optimum reference (solved on first use, cached on the network)."""
        return reference(self.network, "so")

    # ------------------------------------------------------------------ hooks
    def _reset_copies(self, idx: np.ndarray, options: dict | None) -> None:
        # no reset options: every episode starts from an empty network (free-flow times)
        self.day[idx] = 0
        self.link_flow[idx] = 0.0
        self.route_time[idx] = self._free_flow_route
        self.last_routes[idx] = self.paths.offsets[self.agent_od]
        for name in METRICS:
            self.last_metrics[name][idx] = np.nan
        self._metric_sum[idx] = 0.0

    def _step(self, actions: np.ndarray):
        net = self.network
        b, n = self.num_envs, self.num_agents
        route = self.route_table[self.agent_od[None, :], actions]  # [B, N] global path ids
        num_routes = self.paths.num_paths
        route_flow = np.bincount(
            (route + num_routes * np.arange(b)[:, None]).ravel(),
            weights=np.broadcast_to(self.vehicles, (b, n)).ravel(),
            minlength=b * num_routes,
        ).reshape(b, num_routes)  # [B, R]
        link_flow = (self._incidence_t @ route_flow.T).T  # [B, L]
        link_time = net.link_time(link_flow)  # [B, L]
        route_time = (self.paths.incidence @ link_time.T).T  # [B, R]
        own = np.take_along_axis(route_time, route, axis=1)  # [B, N]
        tstt = np.sum(link_flow * link_time, axis=1)  # [B]

        if self.reward == "selfish":
            cost = own
        elif self.reward == "cooperative":
            cost = self._group_mean(own)
        else:
            everyone = (tstt / net.total_demand)[:, None]
            cost = (
                0.5 * own + 0.5 * everyone
                if self.reward == "social"
                else np.broadcast_to(everyone, own.shape)
            )
        rewards = -np.asarray(cost, dtype=np.float64)

        self.day += 1
        self.link_flow, self.route_time, self.last_routes = link_flow, route_time, route
        metrics = self._metrics(link_time, route_time, tstt)
        for m, name in enumerate(METRICS):
            self.last_metrics[name] = metrics[name]
            self._metric_sum[:, m] += metrics[name]
        terminated = np.zeros((b, n), dtype=bool)
        truncated = np.broadcast_to((self.day >= self.max_days)[:, None], (b, n)).copy()
        return (
            rewards,
            terminated,
            truncated,
            {"metrics": {k: v.copy() for k, v in metrics.items()}},
        )

    def _observe(self) -> np.ndarray:
        b, n = self.num_envs, self.num_agents
        parts = [np.broadcast_to(self._identity, (b, n, self._identity.shape[1]))]
        if self.observe_times:
            times = self.route_time[:, self.route_table] / self._od_scale[None, :, None]
            parts.append(times[:, self.agent_od].astype(np.float32))  # [B, N, k]
        if self.observe_day:
            parts.append(np.broadcast_to((self.day / self.max_days)[:, None, None], (b, n, 1)))
        return np.concatenate(parts, axis=2).astype(np.float32)

    def state(self) -> np.ndarray:
        self._require_reset("state")
        ratio = self.link_flow / self.network.capacity
        return np.concatenate([ratio, (self.day / self.max_days)[:, None]], axis=1).astype(
            np.float32
        )

    def action_mask(self) -> np.ndarray:
        self._require_reset("action_mask")
        return np.broadcast_to(
            self.route_valid[self.agent_od], (self.num_envs, self.num_agents, self.k)
        ).copy()

    def neighbour_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of ``values [B, N, D]`` over the other drivers of each driver's OD pair (0 if alone)."""
        values = np.asarray(values, dtype=np.float64)
        sums = self._od_sum(values)  # [B, P, D]
        count = self.drivers_per_od[self.agent_od]  # [N]
        others = sums[:, self.agent_od] - values
        denom = np.maximum(count - 1, 1)[None, :, None]
        return np.where((count > 1)[None, :, None], others / denom, 0.0).astype(np.float32)

    def _episode_metrics(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        days = np.maximum(self.day[idx], 1)[:, None]
        means = self._metric_sum[idx] / days
        return {name: means[:, m] for m, name in enumerate(METRICS)}

    def _render_frame(self, index: int) -> np.ndarray | None:
        if self._renderer is None:
            from envs.routing.rendering import RoutingRenderer

            self._renderer = RoutingRenderer(
                self.network,
                self.render_mode,
                fps=self.metadata["render_fps"],
                flow_scale=float(self.ue.link_flows.max()),
            )
        metrics = {name: float(self.last_metrics[name][index]) for name in METRICS}
        return self._renderer.draw(self.link_flow[index], int(self.day[index]), metrics)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ------------------------------------------------------------------ helpers
    def _od_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values [B, N, D]`` over each OD pair's drivers: ``[B, P, D]``."""
        b, _, d = values.shape
        pairs = self.network.num_od_pairs
        flat = np.bincount(
            (
                self.agent_od[None, :, None] * d
                + np.arange(d)[None, None, :]
                + (np.arange(b) * pairs * d)[:, None, None]
            ).ravel(),
            weights=values.ravel(),
            minlength=b * pairs * d,
        )
        return flat.reshape(b, pairs, d)

    def _group_mean(self, own: np.ndarray) -> np.ndarray:
        """Each driver's OD-pair mean of ``own [B, N]``."""
        sums = self._od_sum(own[:, :, None])[:, :, 0]  # [B, P]
        return (sums / self.drivers_per_od)[:, self.agent_od]

    def _metrics(
        self, link_time: np.ndarray, route_time: np.ndarray, tstt: np.ndarray
    ) -> dict[str, np.ndarray]:
        net = self.network
        # shortest route of every OD pair over the whole network: one Dijkstra forest per copy
        shortest = np.stack([od_costs(net, link_time[c]) for c in range(self.num_envs)])  # [B, P]
        best_route = route_time[:, self.route_table].min(axis=2)  # [B, P]
        safe = np.where(tstt > 0, tstt, 1.0)
        return {
            "tstt": tstt,
            "relative_gap": (tstt - shortest @ net.demand) / safe,
            "route_gap": (tstt - best_route @ net.demand) / safe,
            "price_of_anarchy": tstt / self.so.tstt,
            "ue_ratio": tstt / self.ue.tstt,
        }
