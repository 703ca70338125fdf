"""Route choice on real road networks: TNTP networks, equilibrium references and the env.

- :func:`load_tntp` reads TNTP net / trips (/ node) files into a :class:`Network`;
  :func:`load_network` gives a shipped one (``"braess"``, ``"siouxfalls"``, ``"anaheim"``).
- :func:`solve` finds the user equilibrium (``"ue"``) or system optimum (``"so"``).
- :func:`k_shortest_paths` gives each OD pair's k shortest loop-free paths (Yen).
- :class:`RoutingCore` is the batched env (drivers pick routes day after day).
- :class:`UserEquilibriumRoutes` and :class:`BestResponse` are its scripted policies.

Registered ids: ``routing-v0`` (any network, ``network=`` keyword), ``routing-braess-v0``
(6 drivers, one vehicle each), ``routing-siouxfalls-v0`` (1000 drivers) and
``routing-anaheim-v0`` (2000 drivers).
"""

from __future__ import annotations

from envs import register
from envs.routing.core import METRICS, REWARDS, ROUTES, RoutingCore, apportion, route_sets
from envs.routing.equilibrium import Assignment, reference, relative_gap, solve
from envs.routing.network import Network
from envs.routing.paths import PathSet, all_or_nothing, k_shortest_paths, od_costs
from envs.routing.policies import BestResponse, UserEquilibriumRoutes
from envs.routing.tntp import SHIPPED, TNTPFormatError, load_network, load_tntp

__all__ = [
    "METRICS",
    "REWARDS",
    "ROUTES",
    "SHIPPED",
    "Assignment",
    "BestResponse",
    "Network",
    "PathSet",
    "RoutingCore",
    "TNTPFormatError",
    "UserEquilibriumRoutes",
    "all_or_nothing",
    "apportion",
    "k_shortest_paths",
    "load_network",
    "load_tntp",
    "od_costs",
    "reference",
    "relative_gap",
    "route_sets",
    "solve",
]

register(
    "routing-v0",
    RoutingCore,
    description="route choice on a TNTP road network (network=...)",
    pettingzoo_namespace="marlgym",
)
register(
    "routing-braess-v0",
    RoutingCore,
    kwargs={"network": "braess", "num_agents": 6},
    description="Braess paradox network, 6 drivers (UE TSTT 552, SO 498)",
    pettingzoo_namespace="marlgym",
)
register(
    "routing-siouxfalls-v0",
    RoutingCore,
    kwargs={"network": "siouxfalls", "num_agents": 1000},
    description="Sioux Falls, 1000 drivers over 528 OD pairs",
    pettingzoo_namespace="marlgym",
)
register(
    "routing-anaheim-v0",
    RoutingCore,
    kwargs={"network": "anaheim", "num_agents": 2000},
    description="Anaheim, 2000 drivers over 1406 OD pairs",
    pettingzoo_namespace="marlgym",
)
