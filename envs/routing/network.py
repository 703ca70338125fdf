"""A road network with BPR link costs and an origin-destination demand (TNTP's model).

Nodes and links are numbered from 0 here (TNTP numbers nodes from 1); link ``l`` goes from
``init_node[l]`` to ``term_node[l]`` and costs, at flow ``x`` (vehicles per period),

    t_l(x) = free_flow_time_l * (1 + b_l * (x / capacity_l) ** power_l)        (BPR)

Zones are nodes ``0 .. num_zones-1``; those below ``first_thru_node`` (TNTP's 1-based
``<FIRST THRU NODE>``) are origins and destinations only and no route passes through them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_ARRAY_FIELDS = (
    "init_node",
    "term_node",
    "capacity",
    "free_flow_time",
    "b",
    "power",
    "origin",
    "destination",
    "demand",
    "length",
    "toll",
    "link_type",
)
_INT_FIELDS = {"init_node", "term_node", "origin", "destination", "link_type"}


@dataclass(frozen=True, eq=False)
class Network:
    """Links, BPR parameters and OD demand of one network (arrays are read-only).

    Args:
        name: a label for messages and pictures.
        num_nodes: nodes are ``0 .. num_nodes-1``.
        num_zones: zones (possible origins and destinations) are nodes ``0 .. num_zones-1``.
        first_thru_node: TNTP's 1-based ``<FIRST THRU NODE>``: 0-based nodes below
            ``first_thru_node - 1`` may not be passed through.
        init_node, term_node: ``[L]`` 0-based link ends.
        capacity, free_flow_time, b, power: ``[L]`` BPR parameters.
        length, toll, link_type: ``[L]`` TNTP's other link fields (not used in costs).
        origin, destination, demand: ``[P]`` the OD pairs with positive demand (o != d).
        coordinates: ``[num_nodes, 2]`` node positions (x, y), or None.
    """

    name: str
    num_nodes: int
    num_zones: int
    first_thru_node: int
    init_node: np.ndarray
    term_node: np.ndarray
    capacity: np.ndarray
    free_flow_time: np.ndarray
    b: np.ndarray
    power: np.ndarray
    origin: np.ndarray
    destination: np.ndarray
    demand: np.ndarray
    length: np.ndarray | None = None
    toll: np.ndarray | None = None
    link_type: np.ndarray | None = None
    coordinates: np.ndarray | None = None
    # per-network caches (search graph, route sets, reference solutions); never copied
    _cache: dict = field(default_factory=dict, repr=False, init=False)

    def __post_init__(self):
        num_links = len(self.init_node)
        for name in _ARRAY_FIELDS:
            value = getattr(self, name)
            if value is None:
                value = np.zeros(num_links, dtype=np.int64 if name in _INT_FIELDS else np.float64)
            value = np.array(value, dtype=np.int64 if name in _INT_FIELDS else np.float64)
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        for name in (
            "term_node",
            "capacity",
            "free_flow_time",
            "b",
            "power",
            "length",
            "toll",
            "link_type",
        ):
            if getattr(self, name).shape != (num_links,):
                raise ValueError(
                    f"{name} must have one entry per link ({num_links}), got {getattr(self, name).shape}"
                )
        for name in ("destination", "demand"):
            if getattr(self, name).shape != self.origin.shape:
                raise ValueError(
                    f"origin, destination and demand must have the same length, got "
                    f"{self.origin.shape}, {self.destination.shape}, {self.demand.shape}"
                )
        if self.num_nodes < 1 or not 0 <= self.num_zones <= self.num_nodes:
            raise ValueError(
                f"need num_nodes >= 1 and 0 <= num_zones <= num_nodes, got "
                f"num_nodes={self.num_nodes}, num_zones={self.num_zones}"
            )
        if self.first_thru_node < 1:
            raise ValueError(
                f"first_thru_node is 1-based and must be >= 1, got {self.first_thru_node}"
            )
        for name in ("init_node", "term_node"):
            nodes = getattr(self, name)
            if nodes.size and (nodes.min() < 0 or nodes.max() >= self.num_nodes):
                raise ValueError(f"{name} must lie in 0..{self.num_nodes - 1}")
        if np.any(self.init_node == self.term_node):
            raise ValueError(
                f"link {int(np.flatnonzero(self.init_node == self.term_node)[0])} is a loop"
            )
        if np.any(self.capacity <= 0):
            raise ValueError("capacity must be positive on every link")
        for name in ("free_flow_time", "b", "power"):
            if np.any(getattr(self, name) < 0) or not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"{name} must be finite and non-negative on every link")
        for name in ("origin", "destination"):
            nodes = getattr(self, name)
            if nodes.size and (nodes.min() < 0 or nodes.max() >= self.num_zones):
                raise ValueError(f"every {name} must be a zone, i.e. in 0..{self.num_zones - 1}")
        if np.any(self.origin == self.destination):
            raise ValueError("an OD pair has origin == destination (drop intrazonal demand)")
        if np.any(self.demand <= 0) or not np.all(np.isfinite(self.demand)):
            raise ValueError("demand must be positive and finite for every listed OD pair")
        if len(set(zip(self.origin.tolist(), self.destination.tolist()))) != len(self.origin):
            raise ValueError("an OD pair is listed twice")
        if self.coordinates is not None:
            coords = np.array(self.coordinates, dtype=np.float64)
            if coords.shape != (self.num_nodes, 2) or not np.all(np.isfinite(coords)):
                raise ValueError(
                    f"coordinates must be a finite [{self.num_nodes}, 2] array, got {coords.shape}"
                )
            coords.setflags(write=False)
            object.__setattr__(self, "coordinates", coords)

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per network object and key (search graph, route sets,
        reference solutions); later calls return the stored value."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def __getstate__(self) -> dict[str, Any]:
        # The cache is derived and shared by every core on this network object in a process, so
        # what it holds depends on what else ran there: a pickled core (a checkpoint) leaves it out.
        return {**self.__dict__, "_cache": {}}

    # ------------------------------------------------------------------ sizes
    @property
    def num_links(self) -> int:
        return len(self.init_node)

    @property
    def num_od_pairs(self) -> int:
        return len(self.origin)

    @property
    def total_demand(self) -> float:
        return float(self.demand.sum())

    @property
    def num_blocked_zones(self) -> int:
        """How many zones (nodes ``0 .. first_thru_node-2``) routes may not pass through."""
        return min(self.first_thru_node - 1, self.num_nodes)

    # ------------------------------------------------------------------ link costs
    def link_time(self, flow: np.ndarray) -> np.ndarray:
        """BPR travel time of every link at ``flow [..., L]`` (broadcasts over leading axes)."""
        ratio = np.maximum(flow, 0.0) / self.capacity
        return self.free_flow_time * (1.0 + self.b * ratio**self.power)

    def link_time_derivative(self, flow: np.ndarray) -> np.ndarray:
        """d t_l / d x_l at ``flow [..., L]`` (0 where the power is below 1 and the flow is 0)."""
        ratio = np.maximum(flow, 0.0) / self.capacity
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (
                self.free_flow_time
                * self.b
                * self.power
                * ratio ** (self.power - 1.0)
                / self.capacity
            )
        return np.where(np.isfinite(slope), slope, 0.0)

    def marginal_cost(self, flow: np.ndarray) -> np.ndarray:
        """The system-optimum link cost ``d (x t(x)) / dx = t + x t'`` at ``flow [..., L]``."""
        return self.link_time(flow) + np.maximum(flow, 0.0) * self.link_time_derivative(flow)

    def marginal_cost_derivative(self, flow: np.ndarray) -> np.ndarray:
        """d^2 (x t(x)) / dx^2 = 2 t' + x t'' at ``flow [..., L]`` (Hessian diagonal of the SO objective)."""
        x = np.maximum(flow, 0.0)
        ratio = x / self.capacity
        with np.errstate(divide="ignore", invalid="ignore"):
            curvature = (
                self.free_flow_time
                * self.b
                * self.power
                * (self.power - 1.0)
                * ratio ** (self.power - 2.0)
                / self.capacity**2
            )
        curvature = np.where(np.isfinite(curvature), curvature, 0.0)
        return 2.0 * self.link_time_derivative(flow) + x * curvature

    def tstt(self, flow: np.ndarray) -> np.ndarray:
        """Total system travel time ``sum_l x_l t_l(x_l)`` of ``flow [..., L]``."""
        return np.sum(np.maximum(flow, 0.0) * self.link_time(flow), axis=-1)

    def beckmann(self, flow: np.ndarray) -> np.ndarray:
        """Beckmann's objective ``sum_l integral_0^x_l t_l`` (minimised by the user equilibrium)."""
        x = np.maximum(flow, 0.0)
        integral = self.free_flow_time * (
            x + self.b * x * (x / self.capacity) ** self.power / (self.power + 1.0)
        )
        return np.sum(integral, axis=-1)

    def __repr__(self) -> str:
        return (
            f"Network({self.name!r}: {self.num_nodes} nodes, {self.num_links} links, {self.num_zones} zones, "
            f"{self.num_od_pairs} OD pairs, demand {self.total_demand:g})"
        )
