"""Mean-field actor-critic (MF-AC, Yang et al. 2018), trained with the PPO objective.

Agent i's critic sees its own observation and the mean one-hot action of its neighbours,
``V(o_i, mean_{j in N(i)} onehot(a_j))``; the neighbourhood is the env's (a radius where the
env has positions, the whole group otherwise). Because the baseline depends on the others'
actions but not on agent i's own, the policy gradient stays unbiased for simultaneous moves.
At a rollout's end the neighbours' next actions are sampled from the policy; a truncated
episode's final value uses the mean action of its last step (the env has already reset that
copy's neighbourhood).
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.ppo import PPOLearner
from algorithms.ppo_config import PPOConfig
from algorithms.registry import register_algorithm


@dataclass
class MFACConfig(PPOConfig):
    """MF-AC: the PPO defaults with a mean-field critic."""

    name: str = "mfac"


class MFACLearner(PPOLearner):
    """PPO with a mean-field critic ``V(o_i, a_bar_i, id_i)``."""

    critic_input = "mean_field"
    needs_neighbours = True


register_algorithm("mfac", MFACConfig, MFACLearner)
