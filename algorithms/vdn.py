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
from algorithms.value_targets import masked_mse, td_targets


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
        active = batch["active"]
        alive_next = active & ~batch["terminated"]
        state = batch.get("state")
        zero = torch.zeros((), dtype=taken.dtype, device=taken.device)
        q_tot = self.mixer(
            torch.where(active, taken, zero), None if state is None else state[:, :-1]
        )
        with torch.no_grad():
            next_tot = self.target_mixer(
                torch.where(alive_next, next_values, zero), None if state is None else state[:, 1:]
            )
        filled = batch["filled"]
        rewards = self.scaled_rewards(self.team_rewards(batch["rewards"]), filled)
        targets = td_targets(rewards, next_tot, alive_next.any(dim=-1), self.cfg.gamma)
        weights = filled.to(q_tot.dtype)
        logs = {
            "q_taken": weighted_mean(q_tot.detach(), weights),
            "target": weighted_mean(targets, weights),
        }
        return masked_mse(q_tot, targets, filled), logs


register_algorithm("vdn", VDNConfig, VDNLearner)
