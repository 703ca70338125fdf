"""Reference traffic assignments: user equilibrium (Wardrop) and system optimum.

Both are convex link-flow problems over the flows that route every OD pair's demand:
the user equilibrium minimises Beckmann's objective ``sum_l integral_0^x_l t_l`` (every
used route of an OD pair is a shortest one), the system optimum minimises the total system
travel time ``TSTT = sum_l x_l t_l(x_l)`` (routes are shortest under the marginal cost
``t + x t'``). Solvers: Frank-Wolfe with an exact line search (``"fw"``), its conjugate
(``"cfw"``) and bi-conjugate (``"bfw"``, default) direction variants (Mitradjieva and
Lindberg, Transportation Science 47(2), 2013). Each iteration is one all-or-nothing
assignment: a Dijkstra tree per origin (scipy.sparse.csgraph) under the current costs, or,
when the routes are restricted to a :class:`~envs.routing.paths.PathSet`, the cheapest
route of each OD pair's set.

The relative gap of flows ``x`` under link costs ``c`` (``t`` for UE, ``t + x t'`` for SO)
is ``(c.x - sum_od demand * shortest_cost) / c.x``: 0 exactly at the optimum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import numpy as np

from envs.routing.network import Network
from envs.routing.paths import PathSet, all_or_nothing

OBJECTIVES = ("ue", "so")
METHODS = ("fw", "cfw", "bfw")
REFERENCE_GAP = 1e-5  # the gap of the cached reference solutions
_CONJUGATE_CAP = 1.0 - 1e-4  # keep the conjugate weight of the old target below 1


@dataclass(frozen=True)
class Assignment:
    """A solved assignment.

    Attributes:
        objective: ``"ue"`` or ``"so"``.
        link_flows: ``[L]`` vehicles per link.
        link_times: ``[L]`` BPR travel times at those flows.
        tstt: total system travel time ``sum x t``.
        gap: the relative gap reached (see the module docstring).
        iterations: all-or-nothing assignments done after the initial one.
        converged: whether ``gap`` reached the requested tolerance.
        method: the algorithm used.
        seconds: wall-clock time of the solve.
        gap_history: ``[iterations + 1]`` the relative gap at each iterate.
    """

    objective: str
    link_flows: np.ndarray
    link_times: np.ndarray
    tstt: float
    gap: float
    iterations: int
    converged: bool
    method: str
    seconds: float
    gap_history: np.ndarray


def solve(
    network: Network,
    objective: str = "ue",
    gap: float = 1e-4,
    method: str = "bfw",
    max_iterations: int = 20_000,
    paths: PathSet | None = None,
) -> Assignment:
    """Solve the user equilibrium (``"ue"``) or system optimum (``"so"``) of ``network``.

    Args:
        network: the network and its OD demand.
        objective: ``"ue"`` (Wardrop user equilibrium) or ``"so"`` (system optimum).
        gap: stop when the relative gap is at most this (a positive number).
        method: ``"bfw"`` (bi-conjugate Frank-Wolfe, default), ``"cfw"`` or ``"fw"``.
        max_iterations: give up after this many iterations (``converged`` is then False).
        paths: if given, routes are restricted to these path sets (e.g. each OD pair's k
            shortest paths) and the gap is measured against the best route in the set.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(gap, (int, float, np.floating)) or not gap > 0:
        raise ValueError(f"gap must be a positive number, got {gap!r}")
    if not isinstance(max_iterations, (int, np.integer)) or max_iterations < 0:
        raise ValueError(f"max_iterations must be a non-negative integer, got {max_iterations!r}")
    if paths is not None and len(paths.offsets) != network.num_od_pairs + 1:
        raise ValueError(
            f"paths hold {len(paths.offsets) - 1} OD pairs, the network {network.num_od_pairs}"
        )
    started = time.perf_counter()
    cost, curvature = _cost_functions(network, objective)
    if paths is None:
        assign = partial(all_or_nothing, network)
    else:
        assign = partial(_assign_to_paths, network, paths)
    x, _ = assign(cost(np.zeros(network.num_links)))
    history = []
    previous_target = older_target = None  # the last two search targets (conjugate methods)
    step = 0.0
    iterations = 0
    while True:
        c = cost(x)
        y, od_cost = assign(c)
        total = float(c @ x)
        current_gap = (total - float(od_cost @ network.demand)) / total if total > 0 else 0.0
        history.append(current_gap)
        if current_gap <= gap or iterations >= max_iterations:
            break
        hessian = curvature(x)
        restart = method == "fw" or previous_target is None or step > 1.0 - 1e-6
        if restart:
            target, older = y, None
        elif method == "cfw" or older_target is None:
            target, older = _conjugate(x, y, previous_target, hessian), previous_target
        else:
            target = _biconjugate(x, y, previous_target, older_target, step, hessian)
            older = previous_target
        if target is not y and c @ (target - x) >= 0:  # not a descent direction: plain FW step
            target, older = y, None
        older_target, previous_target = (older if method == "bfw" else None), target
        direction = target - x
        step = _line_search(cost, x, direction)
        x = np.maximum(x + step * direction, 0.0)
        iterations += 1
    times = network.link_time(x)
    return Assignment(
        objective=objective,
        link_flows=x,
        link_times=times,
        tstt=float(x @ times),
        gap=history[-1],
        iterations=iterations,
        converged=history[-1] <= gap,
        method=method,
        seconds=time.perf_counter() - started,
        gap_history=np.asarray(history),
    )


def reference(network: Network, objective: str) -> Assignment:
    """The network's UE or SO solved to ``REFERENCE_GAP``, once per network object (cached on it)."""

    def build() -> Assignment:
        solution = solve(network, objective, gap=REFERENCE_GAP)
        if not solution.converged:
            raise RuntimeError(
                f"the {objective.upper()} reference of {network.name!r} stopped at gap "
                f"{solution.gap:.2e} after {solution.iterations} iterations"
            )
        return solution

    return network.cached(("reference", objective), build)


def relative_gap(network: Network, link_flows: np.ndarray, objective: str = "ue") -> float:
    """Relative gap of ``link_flows [L]`` (which must route every OD pair's demand)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    cost, _ = _cost_functions(network, objective)
    c = cost(np.asarray(link_flows, dtype=np.float64))
    _, od_cost = all_or_nothing(network, c)
    total = float(c @ link_flows)
    return (total - float(od_cost @ network.demand)) / total if total > 0 else 0.0


def _assign_to_paths(
    network: Network, paths: PathSet, link_cost: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """All-or-nothing within path sets: each OD pair's demand on its cheapest listed path."""
    path_cost = paths.incidence @ link_cost
    best = np.minimum.reduceat(path_cost, paths.offsets[:-1])
    # the first path of each OD pair at the minimum cost
    is_best = path_cost <= best[paths.od]
    first = np.full(network.num_od_pairs, paths.num_paths)
    np.minimum.at(first, paths.od[is_best], np.flatnonzero(is_best))
    path_flow = np.zeros(paths.num_paths)
    path_flow[first] = network.demand
    return paths.incidence.T @ path_flow, best


def _cost_functions(network: Network, objective: str):
    """Link cost (the objective's gradient) and its derivative (the Hessian diagonal)."""
    if objective == "ue":
        return network.link_time, network.link_time_derivative
    return network.marginal_cost, network.marginal_cost_derivative


def _conjugate(
    x: np.ndarray, y: np.ndarray, previous: np.ndarray, hessian: np.ndarray
) -> np.ndarray:
    """CFW target: the mix of ``previous`` and ``y`` whose direction is H-conjugate to the last one."""
    last = previous - x
    numerator = last @ (hessian * (y - x))
    denominator = last @ (hessian * (y - previous))
    alpha = numerator / denominator if denominator != 0 else 0.0
    alpha = min(max(alpha, 0.0), _CONJUGATE_CAP)
    return alpha * previous + (1.0 - alpha) * y


def _biconjugate(
    x: np.ndarray,
    y: np.ndarray,
    previous: np.ndarray,
    older: np.ndarray,
    step: float,
    hessian: np.ndarray,
) -> np.ndarray:
    """BFW target: a convex mix of ``y`` and the last two targets, H-conjugate to the last two directions."""
    last = previous - x
    before = step * previous - x + (1.0 - step) * older
    fw = y - x
    denominator = before @ (hessian * (older - previous))
    mu = -(before @ (hessian * fw)) / denominator if denominator != 0 else 0.0
    denominator = last @ (hessian * last)
    nu = -(last @ (hessian * fw)) / denominator if denominator != 0 else 0.0
    nu += mu * step / (1.0 - step)
    mu, nu = max(mu, 0.0), max(nu, 0.0)
    beta0 = 1.0 / (1.0 + mu + nu)
    return beta0 * y + nu * beta0 * previous + mu * beta0 * older


def _line_search(cost, x: np.ndarray, direction: np.ndarray, tol: float = 1e-12) -> float:
    """The step in [0, 1] minimising the objective along ``direction`` (its derivative is monotone)."""
    if cost(x) @ direction >= 0:
        return 0.0
    if cost(x + direction) @ direction <= 0:
        return 1.0
    low, high = 0.0, 1.0
    while high - low > tol:
        mid = 0.5 * (low + high)
        if cost(x + mid * direction) @ direction > 0:
            high = mid
        else:
            low = mid
    return 0.5 * (low + high)
