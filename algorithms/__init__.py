"""Learners (DESIGN 3) and their registry.

``ALGORITHMS`` maps a name to ``(config dataclass, learner class)``; the learner interface the
trainer drives is documented in :mod:`algorithms.base`. Each learner module registers itself
when imported below; a new learner adds its import here.

| name | learner | critic / value input |
|---|---|---|
| ``ippo`` | :class:`algorithms.ippo.IPPOLearner` | own observation |
| ``mappo`` | :class:`algorithms.mappo.MAPPOLearner` | global state (or all observations) |
| ``mfac`` | :class:`algorithms.mfac.MFACLearner` | own observation + neighbours' mean action |
| ``iql`` | :class:`algorithms.iql.IQLLearner` | own observation (Q per agent) |
| ``vdn`` | :class:`algorithms.vdn.VDNLearner` | agent Qs summed into a team Q |
| ``qmix`` | :class:`algorithms.qmix.QMIXLearner` | agent Qs mixed monotonically, conditioned on the state |
| ``mfq`` | :class:`algorithms.mfq.MFQLearner` | own observation + neighbours' mean action (Q per agent) |
| ``maddpg`` | :class:`algorithms.maddpg.MADDPGLearner` | global state (or all observations) + all agents' actions (Q per agent) |
| ``pma`` | :class:`algorithms.pma.PMALearner` | own tabular state (soft Q and policy tables per agent) |
| ``mansa`` | :class:`algorithms.mansa.MANSALearner` | switcher on the global state picks IL or CL per step |
"""

# The learners register themselves when imported; MANSA comes after the learners it pairs.
from algorithms import ippo, iql, maddpg, mappo, mfac, mfq, pma, qmix, vdn  # noqa: F401
from algorithms.base import AlgoConfig, EpisodeTracker, Learner, NonFiniteLossError
from algorithms.registry import ALGORITHMS, get_algorithm, register_algorithm

# isort: split
from algorithms import mansa  # noqa: F401

__all__ = [
    "ALGORITHMS",
    "AlgoConfig",
    "EpisodeTracker",
    "Learner",
    "NonFiniteLossError",
    "get_algorithm",
    "register_algorithm",
]
