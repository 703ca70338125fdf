"""Swarming family: Vicsek flocking and Kuramoto phases with many agents (DESIGN 2.3).

Registered ids (parameters are keyword arguments of :class:`SwarmingCore`; see its module):

- ``swarming-vicsek-v0``: Vicsek flocking, N = 100 agents in a 5 x 5 box, 7 discrete turns.
- ``swarming-kuramoto-v0``: the same moving agents synchronising their phases.

Both are mirrored in PettingZoo's registry as ``marlgym/<id>``.
"""

from envs import register, register_torch_core
from envs.swarming.core import SwarmingCore
from envs.swarming.neighbours import NeighbourPairs, brute_force_pairs, cell_list_pairs
from envs.swarming.policies import VicsekPolicy, vicsek_actions, vicsek_turns

__all__ = [
    "NeighbourPairs",
    "SwarmingCore",
    "VicsekPolicy",
    "brute_force_pairs",
    "cell_list_pairs",
    "vicsek_actions",
    "vicsek_turns",
]

register(
    "swarming-vicsek-v0",
    SwarmingCore,
    kwargs={"model": "vicsek"},
    description="Vicsek flocking on a periodic box; reward: polar order parameter",
    pettingzoo_namespace="marlgym",
)
register(
    "swarming-kuramoto-v0",
    SwarmingCore,
    kwargs={"model": "kuramoto"},
    description="Kuramoto phase synchronisation on moving agents; reward: Kuramoto order parameter",
    pettingzoo_namespace="marlgym",
)
register_torch_core("swarming-vicsek-v0", "envs.swarming.torch_core:TorchSwarmingCore")
register_torch_core("swarming-kuramoto-v0", "envs.swarming.torch_core:TorchSwarmingCore")
