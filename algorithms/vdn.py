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
from algorithms.registry import register_algorithm
from algorithms.value_based import ValueLearner
from algorithms.value_config import EpsilonGreedyConfig


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
        filled = batch["filled"]  # the mixer sees the stored steps only: [M, ...], M = filled.sum()
        steps = {key: batch[key][filled] for key in ("active", "terminated", "rewards")}
        every = torch.ones_like(
            steps["active"][:, 0]
        )  # every stored step folds into the statistics
        state = batch.get("state")
        q_tot, targets = self.mixer_targets(
            taken[filled],
            next_values[filled],
            steps,
            None if state is None else state[:, :-1][filled],
            None if state is None else state[:, 1:][filled],
            every,
        )
        logs = {"q_taken": q_tot.detach().mean(), "target": targets.mean()}
        return (q_tot - targets).pow(2).mean(), logs


register_algorithm("vdn", VDNConfig, VDNLearner)
