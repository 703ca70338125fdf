"""URB-style mixed traffic: settled human drivers, then a share of them become learning CAVs.

| | |
|---|---|
| Agents | ``cav_0 ... cav_{M-1}``: the drivers chosen to become CAVs (``cav_share`` of all drivers) |
| Actions | ``Discrete(k)``: which of its OD pair's ``k`` routes to drive today |
| Observations | ``Box(2Z + 2k)``: origin one-hot, destination one-hot (Z zones), the previous day's ``k`` route times over the OD pair's free-flow shortest time, the previous day's share of the OD pair's vehicles on each route |
| State | ``Box(L)``: the previous day's volume / capacity of every link |

The phases of URB (Urban Routing Benchmark; RouteRL's routine) map onto the env as follows.

1. **Human learning** (every ``reset``, unless ``options={"keep_humans": True}``): all
   ``num_drivers`` drivers are humans (:mod:`envs.routing.urb_humans`) and drive
   ``human_learning_days`` days, learning day to day. The mean travel times over the last
   tenth of those days are the *before* figures.
2. **CAV introduction**: the drivers fixed at construction (``cav_selection``: ``"random"``,
   a random ``cav_share`` of all drivers, or ``"od"``, ``cav_share`` of each OD pair's
   drivers, rounded; ``cav_seed`` draws them) become the agents.
3. **CAV training**: each step is one day; an episode is ``episode_days`` days (1, as in
   URB). Humans keep their settled expectations (``humans_adapt=False``, URB's core task)
   or keep learning. Auto-reset starts the next episode in the *same* world: humans are
   not reset, so training days accumulate.
4. **Evaluation**: ``reset(options={"phase": "evaluation"})`` (with ``"keep_humans": True``
   to test in the world training left); evaluation days do not count as training days.

Drivers stand for vehicles: the ``num_drivers`` drivers are spread over the OD pairs in
proportion to demand (at least one each) and driver ``i`` of OD pair ``od`` carries
``demand[od] / drivers[od]`` vehicles. One day's link flows give BPR link times (the
analytic backend).

## Rewards
RouteRL's CAV behaviours (the reward coefficients of its machine agents, RouteRL 2.0.0): reward
``= a * own + b * group + c * others + d * all`` travel times, with ``group`` the mean over
CAVs, ``others`` over humans (0 if none), ``all`` over every vehicle; ``(a, b, c, d)`` in
``BEHAVIOURS``. URB's core task is ``"cooperative"`` (the group mean) at a 40% share.

## Metrics
``info["metrics"]`` (``[B]`` arrays, vehicle-weighted means, in the network's time unit):
``human_time``, ``cav_time``, ``all_time`` today; ``*_before`` the settled figures of the
same drivers before CAVs appeared (CAV drivers still human); ``human_change`` /
``cav_change`` today minus before; ``tstt`` and ``relative_gap`` (to user equilibrium:
``(TSTT - sum_od demand * shortest time) / TSTT``); ``training_days`` (CAV days driven in
the training phase since human learning): the cost of training in days. Its cost in
wall-clock is :meth:`UrbCore.seconds_since_introduction` (kept out of the infos, which must
be reproducible and survive copies; the trainer logs its own wall-clock too). Episodes
report the means over their days (``training_days``: the last value).
``human_learning_curve [B, human_learning_days]`` holds the mean time of every
human-learning day. The SUMO backend (:mod:`envs.routing.urb_sumo`) reports no relative gap.

## Arguments
``network`` (a shipped TNTP name or a :class:`~envs.routing.network.Network`), ``trips`` (a
TNTP trips file replacing the shipped network's demand; checked against the network),
``num_drivers`` (default: four per OD pair, at least 20), ``k`` (routes per OD pair, 3),
``routes`` (``"free_flow"``: the k shortest free-flow paths, default; ``"equilibrium"``),
``human_model`` (a name in ``urb_humans.MODELS``, a dict of
:class:`~envs.routing.urb_humans.HumanModel` fields, or one), ``human_learning_days`` (100),
``cav_share`` (in (0, 1], 0.4), ``cav_selection``, ``cav_seed``, ``reward`` (a key of
``BEHAVIOURS``, ``"cooperative"``), ``humans_adapt`` (False), ``episode_days`` (1).

## Version History
v0: first version (issue 21).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from envs.core import BatchedCore
from envs.routing.core import ROUTES, apportion, route_sets
from envs.routing.network import Network
from envs.routing.paths import PathSet, od_costs
from envs.routing.tntp import DATA_DIR, SHIPPED, load_network, load_tntp
from envs.routing.urb_humans import HumanModel, HumanPopulation

#: RouteRL 2.0.0's CAV behaviours: coefficients of (own, CAV mean, human mean, all mean) time.
BEHAVIOURS = {
    "selfish": (-1.0, 0.0, 0.0, 0.0),
    "competitive": (-2.0, 0.0, 1.0, 0.0),
    "collaborative": (-0.5, -0.5, 0.0, 0.0),
    "cooperative": (0.0, -1.0, 0.0, 0.0),
    "social": (-0.5, 0.0, 0.0, -0.5),
    "altruistic": (0.0, 0.0, 0.0, -1.0),
    "malicious": (0.0, 0.0, 1.0, 0.0),
}
SELECTIONS = ("random", "od")
PHASES = ("training", "evaluation")
TIMES = ("human_time", "cav_time", "all_time")
METRICS = (
    *TIMES,
    *(f"{t}_before" for t in TIMES),
    "human_change",
    "cav_change",
    "tstt",
    "relative_gap",
    "training_days",
)


def choose_cavs(drivers_per_od: np.ndarray, share: float, selection: str, seed: int) -> np.ndarray:
    """Boolean ``[D]``: which drivers (grouped by OD pair) become CAVs.

    ``"random"``: ``round(share * D)`` drivers uniformly at random; ``"od"``:
    ``round(share * drivers[od])`` random drivers of each OD pair. Raises if none would.
    """
    rng = np.random.default_rng(seed)
    total = int(drivers_per_od.sum())
    is_cav = np.zeros(total, dtype=bool)
    if selection == "random":
        is_cav[rng.choice(total, size=int(round(share * total)), replace=False)] = True
    else:
        start = np.cumsum(drivers_per_od) - drivers_per_od
        for first, count in zip(start, drivers_per_od, strict=True):
            chosen = rng.choice(count, size=int(round(share * count)), replace=False)
            is_cav[first + chosen] = True
    if not is_cav.any():
        raise ValueError(
            f"cav_share={share} of {total} drivers (cav_selection={selection!r}) gives no CAV; "
            f"raise cav_share or num_drivers"
        )
    return is_cav


def _network(network: str | Network, trips: str | Path | None) -> Network:
    """The network, with the demand of ``trips`` (a TNTP trips file) if given."""
    if isinstance(network, Network):
        if trips is not None:
            raise ValueError("trips= needs a shipped network name, not a Network object")
        return network
    if not isinstance(network, str):
        raise TypeError(
            f"network must be a shipped network name {sorted(SHIPPED)} or a Network, "
            f"got {type(network).__name__}"
        )
    base = load_network(network)  # raises naming the shipped networks
    if trips is None:
        return base
    folder, net, _, nodes = SHIPPED[network.lower().replace("-", "").replace("_", "")]
    return load_tntp(
        DATA_DIR / folder / net,
        trips,
        DATA_DIR / folder / nodes if nodes else None,
        name=f"{folder}+{Path(trips).stem}",
    )


class UrbCore(BatchedCore):
    """B copies of one mixed human / CAV routing world (see the module docstring).

    Attributes:
        network, paths, route_table ``[P, k]``: as in :class:`~envs.routing.core.RoutingCore`.
        driver_od ``[D]``, vehicles ``[D]``, is_cav ``[D]``: every driver's OD pair, the
            vehicles it stands for, and whether it is a CAV (agent ``j`` is the ``j``-th CAV).
        humans: the :class:`~envs.routing.urb_humans.HumanPopulation` (over all D drivers).
        human_learning_curve: ``[B, human_learning_days]`` mean human time per learning day.
        before: ``{name: [B]}`` the settled ``*_before`` figures.
        last_metrics: the previous day's metrics (kept across auto-resets: the world goes on).
        cav_days: ``[B]`` CAV days driven since the last human learning (all phases).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["human", "rgb_array"],
        "render_fps": 4,
        "name": "urb",
    }
    team_reward = "mean"
    #: The metrics this backend reports (``system_metrics`` gives the last ones).
    metric_names: ClassVar[tuple[str, ...]] = METRICS

    def __init__(
        self,
        num_envs: int = 1,
        *,
        network: str | Network = "siouxfalls",
        trips: str | Path | None = None,
        num_drivers: int | None = None,
        k: int = 3,
        routes: str = "free_flow",
        human_model: str | dict | HumanModel = "gawron",
        human_learning_days: int = 100,
        cav_share: float = 0.4,
        cav_selection: str = "random",
        cav_seed: int = 0,
        reward: str = "cooperative",
        humans_adapt: bool = False,
        episode_days: int = 1,
        autoreset: bool = True,
        render_mode: str | None = None,
    ):
        network = _network(network, trips)
        if reward not in BEHAVIOURS:
            raise ValueError(f"reward must be one of {tuple(BEHAVIOURS)}, got {reward!r}")
        if routes not in ROUTES:
            raise ValueError(f"routes must be one of {ROUTES}, got {routes!r}")
        if cav_selection not in SELECTIONS:
            raise ValueError(f"cav_selection must be one of {SELECTIONS}, got {cav_selection!r}")
        if isinstance(cav_share, bool) or not isinstance(cav_share, (int, float, np.number)):
            raise TypeError(f"cav_share must be a number in (0, 1], got {cav_share!r}")
        if not 0.0 < float(cav_share) <= 1.0:
            raise ValueError(
                f"cav_share must be in (0, 1] (a share of the drivers), got {cav_share!r}"
            )
        for name, value in (
            ("k", k),
            ("human_learning_days", human_learning_days),
            ("episode_days", episode_days),
        ):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if num_drivers is None:
            num_drivers = max(20, 4 * network.num_od_pairs)
        if not isinstance(num_drivers, (int, np.integer)) or isinstance(num_drivers, bool):
            raise TypeError(f"num_drivers must be an integer, got {num_drivers!r}")
        super().__init__(num_envs, autoreset=autoreset, render_mode=render_mode)
        self.network, self.k, self.routes, self.reward = network, int(k), routes, reward
        self.human_model = HumanModel.of(human_model)
        self.human_learning_days, self.episode_days = int(human_learning_days), int(episode_days)
        self.cav_share, self.cav_selection = float(cav_share), cav_selection
        self.humans_adapt = bool(humans_adapt)
        self.paths = self.route_set(network, self.k, routes)

        # drivers grouped by OD pair, each carrying an equal share of its pair's demand
        self.drivers_per_od = apportion(network.demand, int(num_drivers))
        self.driver_od = np.repeat(np.arange(network.num_od_pairs), self.drivers_per_od)  # [D]
        self.vehicles = (network.demand / self.drivers_per_od)[self.driver_od]  # [D]
        self.is_cav = choose_cavs(self.drivers_per_od, self.cav_share, cav_selection, cav_seed)
        self.cav_index = np.flatnonzero(self.is_cav)  # [M]
        self.agent_od = self.driver_od[self.cav_index]  # [M]
        self.possible_agents = [f"cav_{j}" for j in range(len(self.cav_index))]

        # route table: [P, k] global path ids, missing routes repeat the OD pair's route 0
        slot = np.arange(self.k)
        self.route_valid = slot[None, :] < self.paths.counts[:, None]  # [P, k]
        self.route_table = np.where(
            self.route_valid,
            self.paths.offsets[:-1, None] + slot[None, :],
            self.paths.offsets[:-1, None],
        )
        self._incidence_t = self.paths.incidence.T.tocsr()  # [L, R]
        free_flow_route = self.paths.incidence @ network.free_flow_time  # [R]
        od_free_flow = free_flow_route[self.route_table]  # [P, k]
        scale = od_free_flow.min(axis=1)
        self._od_scale = np.where(scale > 0, scale, 1.0)  # [P]
        self.humans = HumanPopulation(
            self.human_model,
            od_free_flow[self.driver_od],
            self.route_valid[self.driver_od],
            self.num_envs,
        )
        # vehicle weights of the human / CAV / all means: [3, D], rows sum to 1 (or 0)
        groups = np.stack([~self.is_cav, self.is_cav, np.ones_like(self.is_cav)]).astype(float)
        groups *= self.vehicles
        total = groups.sum(axis=1, keepdims=True)
        self._group_weights = np.divide(groups, total, out=np.zeros_like(groups), where=total > 0)

        zones, m = network.num_zones, len(self.cav_index)
        identity = np.zeros((m, 2 * zones), dtype=np.float32)  # [M, 2Z]
        identity[np.arange(m), network.origin[self.agent_od]] = 1.0
        identity[np.arange(m), zones + network.destination[self.agent_od]] = 1.0
        self._identity = identity
        self.observation_space = gym.spaces.Box(
            0.0, np.inf, shape=(2 * zones + 2 * self.k,), dtype=np.float32
        )
        self.action_space = gym.spaces.Discrete(self.k)
        self.state_space = gym.spaces.Box(0.0, np.inf, shape=(network.num_links,), dtype=np.float32)

        b, d = self.num_envs, len(self.driver_od)
        self.day = np.zeros(b, dtype=np.int64)  # days of the current episode
        self.training_days = np.zeros(b, dtype=np.int64)
        self.cav_days = np.zeros(b, dtype=np.int64)  # CAV days (training and evaluation)
        self.evaluating = np.zeros(b, dtype=bool)
        self.introduced_at = np.zeros(b)  # perf_counter() at CAV introduction
        self.link_flow = np.zeros((b, network.num_links))
        self.route_time = np.tile(free_flow_route, (b, 1))  # [B, R]
        self.route_flow = np.zeros((b, self.paths.num_paths))  # [B, R]
        self.last_route = np.broadcast_to(self.route_table[self.driver_od, 0], (b, d)).copy()
        self.human_learning_curve = np.zeros((b, self.human_learning_days))
        self.before = {f"{t}_before": np.full(b, np.nan) for t in TIMES}
        self.last_metrics = {name: np.full(b, np.nan) for name in self.metric_names}
        self._metric_sum = np.zeros((b, len(self.metric_names)))
        self._full_reset = True
        self._renderer = None

    # ------------------------------------------------------------------ public API
    def reset(self, seed=None, options: dict | None = None):
        """Start a new world (human learning, then CAV introduction) in every copy.

        Options: ``"phase"`` (``"training"`` or ``"evaluation"``), ``"keep_humans"``
        (True: skip human learning and go on from the humans as they are; needs a previous
        reset).
        """
        options = {} if options is None else options
        if not isinstance(options, Mapping):
            return super().reset(seed=seed, options=options)  # raises, naming the type
        unknown = sorted(set(options) - {"phase", "keep_humans"}, key=str)
        if unknown:  # ignored, as gymnasium envs do, but said out loud
            warnings.warn(
                f"ignoring unknown reset option(s) {unknown}; the options are 'phase' and "
                f"'keep_humans'",
                stacklevel=2,
            )
        phase = options.get("phase", "training")
        if phase not in PHASES:
            raise ValueError(f"reset option phase must be one of {PHASES}, got {phase!r}")
        keep = bool(options.get("keep_humans", False))
        if keep and not self._started:
            raise RuntimeError("keep_humans=True needs a world: call reset() without it first")
        self.evaluating[:] = phase == "evaluation"
        self._full_reset = not keep
        try:
            return super().reset(seed=seed, options=options)
        finally:
            self._full_reset = False

    def drive(self, slots: np.ndarray) -> np.ndarray:
        """Drive one day: ``slots [B, D]`` each driver's route slot; returns times ``[B, D]``.

        Updates ``link_flow``, ``route_time`` and ``route_flow`` (the analytic backend: BPR).
        """
        b, d = slots.shape
        route = self.route_table[self.driver_od[None, :], slots]  # [B, D] global path ids
        r = self.paths.num_paths
        route_flow = np.bincount(
            (route + r * np.arange(b)[:, None]).ravel(),
            weights=np.broadcast_to(self.vehicles, (b, d)).ravel(),
            minlength=b * r,
        ).reshape(b, r)
        self.link_flow = (self._incidence_t @ route_flow.T).T  # [B, L]
        self.route_time = (self.paths.incidence @ self.network.link_time(self.link_flow).T).T
        self.route_flow, self.last_route = route_flow, route
        return np.take_along_axis(self.route_time, route, axis=1)

    def route_set(self, network: Network, k: int, routes: str) -> PathSet:
        """Each OD pair's ``k`` routes (a backend with other rules overrides this)."""
        return route_sets(network, k, routes)

    def system_metrics(self) -> dict[str, np.ndarray]:
        """``[B]`` TSTT and relative gap to user equilibrium of the day just driven (BPR)."""
        net = self.network
        link_time = net.link_time(self.link_flow)
        tstt = np.sum(self.link_flow * link_time, axis=1)
        shortest = np.stack([od_costs(net, link_time[c]) for c in range(self.num_envs)])  # [B, P]
        gap = (tstt - shortest @ net.demand) / np.where(tstt > 0, tstt, 1.0)
        return {"tstt": tstt, "relative_gap": gap}

    def seconds_since_introduction(self) -> np.ndarray:
        """``[B]`` wall-clock seconds since CAVs were introduced (the last human learning)."""
        return time.perf_counter() - self.introduced_at

    def group_means(self, times: np.ndarray) -> np.ndarray:
        """``[B, 3]`` vehicle-weighted mean of ``times [B, D]`` over humans, CAVs, all."""
        return times @ self._group_weights.T

    # ------------------------------------------------------------------ hooks
    def _reset_copies(self, idx: np.ndarray, options: dict | None) -> None:
        if self._full_reset:  # a new world: no CAV day yet
            self._learn_humans()
            for name in self.metric_names:
                self.last_metrics[name][idx] = np.nan
        self.day[idx] = 0
        self._metric_sum[idx] = 0.0

    def _learn_humans(self) -> None:
        """Phase 1 in every copy: all drivers human for ``human_learning_days`` days."""
        b = self.num_envs
        self.humans.reset(np.arange(b), self.rngs)
        days = self.human_learning_days
        window = max(1, days // 10)
        tail = np.zeros((b, 3))
        for day in range(days):
            slots = self.humans.choose(self.rngs)
            times = self.drive(slots)
            self.humans.learn(slots, times)
            means = self.group_means(times)  # [B, 3]
            # every driver is human here: the curve is the mean over all of them
            self.human_learning_curve[:, day] = means[:, 2]
            if day >= days - window:
                tail += means / window
        if not (~self.is_cav).any():
            tail[:, 0] = np.nan  # no driver stays human
        for j, t in enumerate(TIMES):
            self.before[f"{t}_before"] = tail[:, j]
        self.training_days[:] = 0
        self.cav_days[:] = 0
        self.introduced_at[:] = time.perf_counter()

    def _step(self, actions: np.ndarray):
        b, m = actions.shape
        slots = self.humans.choose(self.rngs)  # [B, D]
        slots[:, self.cav_index] = actions
        times = self.drive(slots)
        if self.humans_adapt:
            self.humans.learn(slots, times)
        means = self.group_means(times)  # [B, 3] humans, CAVs, all
        if not (~self.is_cav).any():
            means[:, 0] = np.nan
        a, g, o, e = BEHAVIOURS[self.reward]
        others = np.nan_to_num(means[:, 0])  # RouteRL: 0 when there is no human
        team = g * means[:, 1] + o * others + e * means[:, 2]  # [B]
        rewards = a * times[:, self.cav_index] + team[:, None]  # [B, M]

        self.day += 1
        self.training_days += ~self.evaluating
        self.cav_days += 1
        metrics = self._metrics(means)
        for j, name in enumerate(self.metric_names):
            self.last_metrics[name] = metrics[name]
            self._metric_sum[:, j] += metrics[name]
        terminated = np.zeros((b, m), dtype=bool)
        truncated = np.broadcast_to((self.day >= self.episode_days)[:, None], (b, m)).copy()
        return (
            rewards,
            terminated,
            truncated,
            {"metrics": {k: v.copy() for k, v in metrics.items()}},
        )

    def _metrics(self, means: np.ndarray) -> dict[str, np.ndarray]:
        out = {t: means[:, j] for j, t in enumerate(TIMES)}
        out.update({name: value.copy() for name, value in self.before.items()})
        out["human_change"] = out["human_time"] - out["human_time_before"]
        out["cav_change"] = out["cav_time"] - out["cav_time_before"]
        out.update(self.system_metrics())
        out["training_days"] = self.training_days.astype(np.float64)
        return out

    def _observe(self) -> np.ndarray:
        b, m = self.num_envs, len(self.cav_index)
        times = self.route_time[:, self.route_table] / self._od_scale[None, :, None]  # [B, P, k]
        flows = self.route_flow[:, self.route_table] * self.route_valid  # [B, P, k]
        shares = flows / self.network.demand[None, :, None]
        return np.concatenate(
            [
                np.broadcast_to(self._identity, (b, m, self._identity.shape[1])),
                times[:, self.agent_od],
                shares[:, self.agent_od],
            ],
            axis=2,
        ).astype(np.float32)

    def state(self) -> np.ndarray:
        self._require_reset("state")
        return (self.link_flow / self.network.capacity).astype(np.float32)

    def action_mask(self) -> np.ndarray:
        self._require_reset("action_mask")
        return np.broadcast_to(
            self.route_valid[self.agent_od], (self.num_envs, len(self.cav_index), self.k)
        ).copy()

    def _episode_metrics(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        days = np.maximum(self.day[idx], 1)[:, None]
        means = self._metric_sum[idx] / days
        out = {name: means[:, j] for j, name in enumerate(self.metric_names)}
        out["training_days"] = self.last_metrics["training_days"][idx]
        return out

    def group_link_flows(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``[L]`` link flows of the humans and of the CAVs on the last day in copy ``index``."""
        route, r = self.last_route[index], self.paths.num_paths
        flows = []
        for group in (~self.is_cav, self.is_cav):
            per_route = np.bincount(route[group], weights=self.vehicles[group], minlength=r)
            flows.append(self.paths.incidence.T @ per_route)
        return flows[0], flows[1]

    def _render_frame(self, index: int) -> np.ndarray | None:
        if self._renderer is None:
            from envs.routing.urb_rendering import UrbRenderer

            self._renderer = UrbRenderer(
                self.network,
                self.render_mode,
                fps=self.metadata["render_fps"],
                flow_scale=float(max(self.link_flow.max(), 1e-9)),
            )
        metrics = {name: float(v[index]) for name, v in self.last_metrics.items()}
        metrics.update({name: float(v[index]) for name, v in self.before.items()})
        phase = "evaluation" if self.evaluating[index] else "training"
        humans, cavs = self.group_link_flows(index)
        return self._renderer.draw(humans, cavs, int(self.cav_days[index]), phase, metrics)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
