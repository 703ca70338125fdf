"""MAPPO (Yu et al. 2022): PPO with a centralised critic on the env's global state.

The critic of agent i sees the global state (all observations concatenated when the env has
no state) and, with parameter sharing, agent i's id: ``V(s, id_i)``. Actors stay
decentralised. Defaults follow the MAPPO study: value normalisation, clipped value loss,
GAE lambda 0.95, ratio clip 0.2, few epochs over large batches.
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.ppo import PPOLearner
from algorithms.ppo_config import PPOConfig
from algorithms.registry import register_algorithm


@dataclass
class MAPPOConfig(PPOConfig):
    """MAPPO: the PPO defaults plus the MAPPO study's clipped value loss."""

    name: str = "mappo"
    clip_value_loss: bool = True
    """Clip the value loss around the old value predictions (MAPPO's default)."""


class MAPPOLearner(PPOLearner):
    """PPO with a centralised critic ``V(s, id_i)``."""

    critic_input = "central"
    needs_state = True


register_algorithm("mappo", MAPPOConfig, MAPPOLearner)
