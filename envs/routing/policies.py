"""Scripted routing policies: the user-equilibrium split, and day-to-day best response.

- :class:`UserEquilibriumRoutes` sends each OD pair's drivers over its routes in the shares
  of the user equilibrium restricted to the env's route sets: the reference a selfish
  population should reach. The equilibrium gives link flows; route flows come from a
  bounded least-squares fit (route flows >= 0 that reproduce the link flows and each OD
  pair's demand), and drivers are split by largest remainder, so with few drivers per OD
  pair the split is the closest one drivers can make.
- :class:`BestResponse` lets every driver take the route that was fastest yesterday (read
  from its observation): the classic myopic day-to-day dynamic, which oscillates on its own.

Both are the family's scripted policies (``SCRIPTED[name](core)`` gives
``act(obs, core) -> actions [B, N]``), registered with :func:`envs.register_scripted` for the
render command's ``--policy scripted:<name>``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from envs.routing.core import RoutingCore
from envs.routing.equilibrium import solve
from envs.scripted import register_scripted


def equilibrium_route_flows(core: RoutingCore, gap: float = 1e-6) -> np.ndarray:
    """Route flows ``[P, k]`` (vehicles per route slot) of the restricted user equilibrium."""
    import scipy.optimize  # here, not at the top: ``import envs`` stays fast

    network, paths = core.network, core.paths
    ue = solve(network, "ue", gap=gap, paths=paths)
    od_rows = sp.csr_matrix(
        (np.ones(paths.num_paths), (paths.od, np.arange(paths.num_paths))),
        shape=(network.num_od_pairs, paths.num_paths),
    )
    system = sp.vstack([paths.incidence.T, od_rows]).toarray()
    target = np.concatenate([ue.link_flows, network.demand])
    route_flow, _ = scipy.optimize.nnls(system, target, maxiter=50 * paths.num_paths)
    return np.where(core.route_valid, route_flow[core.route_table], 0.0)


def split_drivers(shares: np.ndarray, drivers: np.ndarray) -> np.ndarray:
    """Drivers per route slot ``[P, k]``: ``shares`` (rows summing to 1) of ``drivers [P]``,
    rounded by largest remainder so every row sums to its drivers."""
    quota = shares * drivers[:, None]
    count = np.floor(quota).astype(np.int64)
    left = drivers - count.sum(axis=1)
    order = np.argsort(-(quota - count), axis=1, kind="stable")
    extra = np.arange(shares.shape[1])[None, :] < left[:, None]
    np.put_along_axis(count, order, np.take_along_axis(count, order, axis=1) + extra, axis=1)
    return count


class UserEquilibriumRoutes:
    """Every day, each OD pair's drivers split over its routes as at user equilibrium."""

    def __init__(self, core: RoutingCore):
        flows = equilibrium_route_flows(core)
        shares = flows / np.maximum(flows.sum(axis=1, keepdims=True), 1e-12)
        count = split_drivers(shares, core.drivers_per_od)
        # driver j of OD pair p (in index order) takes the route slot its rank falls into
        rank = np.arange(core.num_agents) - np.repeat(
            np.cumsum(core.drivers_per_od) - core.drivers_per_od, core.drivers_per_od
        )
        bounds = np.cumsum(count, axis=1)[core.agent_od]  # [N, k]
        self.actions = (rank[:, None] >= bounds).sum(axis=1)

    def __call__(self, obs: np.ndarray, core: RoutingCore) -> np.ndarray:
        return np.broadcast_to(self.actions, (core.num_envs, core.num_agents)).copy()


class BestResponse:
    """Each driver takes the route that was fastest on the previous day (ties: lowest slot)."""

    def __init__(self, core: RoutingCore):
        self.routes = core.route_table[core.agent_od]  # [N, k] path ids
        self.valid = core.route_valid[core.agent_od]  # [N, k]

    def __call__(self, obs: np.ndarray, core: RoutingCore) -> np.ndarray:
        # the core's times, not the observation's: they are there without ``observe_times``
        times = core.route_time[:, self.routes]  # [B, N, k]
        return np.where(self.valid, times, np.inf).argmin(axis=-1)


SCRIPTED = {
    "ue-routes": lambda core: UserEquilibriumRoutes(core),
    "best-response": lambda core: BestResponse(core),
}
for _name, _builder in SCRIPTED.items():
    register_scripted("envs.routing", _name, _builder)
