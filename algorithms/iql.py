"""Independent Q-learning (IQL, Tan 1993): every agent learns its own Q(o_i, a_i) from its own reward.

With parameter sharing (the default) one network serves all agents, each input carrying the
agent's id one-hot. Each agent's TD target bootstraps from its own next observation with
double Q-learning over its valid next actions; the other agents are part of the environment,
so the problem is non-stationary and nothing guarantees convergence, yet on Level-Based
Foraging IQL is competitive (Papoudakis et al. 2021). The machinery (episode replay, target
network, epsilon-greedy with masks) is :class:`algorithms.value_based.ValueLearner`.
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.on_policy import weighted_mean
from algorithms.registry import register_algorithm
from algorithms.value_based import ValueLearner
from algorithms.value_config import EpsilonGreedyConfig
from algorithms.value_targets import masked_mse


@dataclass
class IQLConfig(EpsilonGreedyConfig):
    """IQL: EPyMARL's value-based defaults with independent targets."""

    name: str = "iql"
    team_reward: bool = False
    """Train every agent on the team reward (sum or mean of the agents' rewards, as the env says)."""


class IQLLearner(ValueLearner):
    """Independent double Q-learning over episode replay, one TD error per agent and step."""

    def _loss(self, batch):
        return self.td_loss(batch, *self.agent_values(batch))

    def td_loss(self, batch, taken, next_values):
        """IQL's TD loss and logs from :meth:`agent_values` (``[E, L, N]`` each): a subclass adding a
        term on the same Q-values passes them in, so the network runs once."""
        targets, weights = self.independent_targets(
            batch, next_values, batch["filled"], team_reward=self.cfg.team_reward
        )
        w = weights.to(taken.dtype)
        logs = {"q_taken": weighted_mean(taken.detach(), w), "target": weighted_mean(targets, w)}
        return masked_mse(taken, targets, weights), logs


register_algorithm("iql", IQLConfig, IQLLearner)
