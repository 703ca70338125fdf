"""Value decomposition networks (VDN, Sunehag et al. 2018): the team Q is the sum of the agents' Qs.

The agents act greedily on their own Q(o_i, a_i) (decentralised execution), while training
regresses ``Q_tot = sum_i Q_i(o_i, a_i)`` on the team reward (the sum or mean of the agents'
rewards, as the env's ``team_reward`` says) with a target ``r + gamma * sum_i V_i(o'_i)``, each
``V_i`` the target network's value of agent i's double-Q greedy valid action. Agents that
already left the episode contribute nothing. QMIX (:mod:`algorithms.qmix`) is the same learner
with a learned monotonic mixer in place of the sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agents.mixers import VDNMixer
from algorithms.on_policy import weighted_mean
from algorithms.registry import register_algorithm
from algorithms.value_based import ValueLearner
from algorithms.value_config import EpsilonGreedyConfig
from algorithms.value_targets import masked_mse


@dataclass
class VDNConfig(EpsilonGreedyConfig):
    """VDN: EPyMARL's value-based defaults with a summed team value."""

    name: str = "vdn"


class VDNLearner(ValueLearner):
    """Double Q-learning of a mixed team value over episode replay, one TD error per step."""

    def _make_mixer(self) -> torch.nn.Module:
        return VDNMixer()

    def _loss(self, batch):
        taken, next_values = self.agent_values(batch)  # [E, L, N] each
        state = batch.get("state")
        filled = batch["filled"]
        q_tot, targets = self.mixer_targets(
            taken,
            next_values,
            batch,
            None if state is None else state[:, :-1],
            None if state is None else state[:, 1:],
            filled,
        )
        weights = filled.to(q_tot.dtype)
        logs = {
            "q_taken": weighted_mean(q_tot.detach(), weights),
            "target": weighted_mean(targets, weights),
        }
        return masked_mse(q_tot, targets, filled), logs


register_algorithm("vdn", VDNConfig, VDNLearner)
