"""Route choice on real road networks: TNTP networks, equilibrium references and the env.

- :func:`load_tntp` reads TNTP net / trips (/ node) files into a :class:`Network`;
  :func:`load_network` gives a shipped one (``"braess"``, ``"siouxfalls"``, ``"anaheim"``).
- :func:`solve` finds the user equilibrium (``"ue"``) or system optimum (``"so"``).
- :func:`k_shortest_paths` gives each OD pair's k shortest loop-free paths (Yen).
- :class:`RoutingCore` is the batched env (drivers pick routes day after day).
- :class:`UserEquilibriumRoutes` and :class:`BestResponse` are its scripted policies.
- :class:`UrbCore` is the URB-style mixed world: settled human drivers, then learning CAVs;
  :class:`UrbSumoCore` runs it in SUMO on a shipped SUMO network (``SUMO_NETWORKS``).

Registered ids: ``routing-v0`` (any network, ``network=`` keyword), ``routing-braess-v0``
(6 drivers, one vehicle each), ``routing-siouxfalls-v0`` (1000 drivers) and
``routing-anaheim-v0`` (2000 drivers); ``urb-v0`` (any network) and ``urb-<network>-v0``
for each shipped network (URB's core task: 40% cooperative CAVs among settled humans);
``urb-nguyen-sumo-v0`` and ``urb-ortuzar-sumo-v0``: the same task in SUMO on RouteRL's
networks (100 trips each; needs ``pip install 'marlgym[sumo]'``, else making them raises
:class:`~envs.routing.urb_sumo.SumoMissingError` naming that extra).

The learning benchmark (``benchmarks/routing_learning.py``) gives drivers each OD pair's k
shortest free-flow paths and judges selfish learners by the relative gap of their flows to user
equilibrium, at most half the system optimum's gap (so SO itself fails), and altruistic ones by
their gap to SO, at most half UE's.
"""

from __future__ import annotations

from envs import register
from envs.routing.core import METRICS, REWARDS, ROUTES, RoutingCore, apportion, route_sets
from envs.routing.equilibrium import Assignment, reference, relative_gap, solve
from envs.routing.network import Network
from envs.routing.paths import PathSet, all_or_nothing, k_shortest_paths, od_costs
from envs.routing.policies import BestResponse, UserEquilibriumRoutes
from envs.routing.tntp import SHIPPED, TNTPFormatError, load_network, load_tntp
from envs.routing.urb import UrbCore
from envs.routing.urb_humans import HumanModel
from envs.routing.urb_sumo import SUMO_NETWORKS, UrbSumoCore

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
    "HumanModel",
    "UrbCore",
    "UrbSumoCore",
    "SUMO_NETWORKS",
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
register(
    "urb-v0",
    UrbCore,
    description="URB mixed traffic: settled humans, then learning CAVs (network=...)",
    pettingzoo_namespace="marlgym",
)
#: drivers per shipped network for the URB ids (Braess: 60 drivers of 0.1 vehicle each)
_URB_DRIVERS = {"braess": 60, "siouxfalls": 1056, "anaheim": 2812}
for _name, _drivers in _URB_DRIVERS.items():
    register(
        f"urb-{_name}-v0",
        UrbCore,
        kwargs={"network": _name, "num_drivers": _drivers},
        description=f"URB mixed traffic on {_name}: {_drivers} drivers, 40% become CAVs",
        pettingzoo_namespace="marlgym",
    )
for _name in SUMO_NETWORKS:
    register(
        f"urb-{_name}-sumo-v0",
        UrbSumoCore,
        kwargs={"network": _name},
        description=f"URB mixed traffic in SUMO on RouteRL's {_name} network (marlgym[sumo])",
        pettingzoo_namespace="marlgym",
    )
