"""IPPO (de Witt et al. 2020): PPO whose critic sees only the agent's own observation.

With parameter sharing (the default) one actor and one critic serve all agents, each input
carrying the agent's id one-hot. Defaults solve Foraging-8x8-2p-2f-coop-v3 (the default
``python train.py`` job); see benchmarks/train_speed.py for the speed and time-to-solve.
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.ppo import PPOLearner
from algorithms.ppo_config import PPOConfig
from algorithms.registry import register_algorithm


@dataclass
class IPPOConfig(PPOConfig):
    """IPPO: the PPO defaults with an independent (local) critic."""

    name: str = "ippo"


class IPPOLearner(PPOLearner):
    """PPO with a local critic ``V(o_i, id_i)``."""

    critic_input = "local"


register_algorithm("ippo", IPPOConfig, IPPOLearner)
