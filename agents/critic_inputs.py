"""Critic input builders: what one agent's value function sees (DESIGN 3).

IPPO, MAPPO and MF-AC are one PPO learner with three critic inputs:

| builder | name | an agent's critic input | needs from the env |
|---|---|---|---|
| :class:`LocalInput` | ``local`` | its own observation | nothing |
| :class:`CentralInput` | ``central`` | the global state (all observations concatenated when the env has no state) | ``state()`` |
| :class:`MeanFieldInput` | ``mean_field`` | its own observation + the mean one-hot action of its neighbours | ``neighbour_mean()`` |

With parameter sharing the critic network appends the agent-id one-hot itself, so a central
critic still gives each agent its own value. Builders take flattened observations
``[..., N, D]``, states ``[..., S]`` and neighbour mean actions ``[..., N, A]`` and return
``[..., N, dim]``; they hold no parameters.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import gymnasium as gym
import numpy as np
import torch


class CriticInput(abc.ABC):
    """Builds the critic's per-agent input from a batch; ``dim`` is its size per agent."""

    name: ClassVar[str]

    def __init__(self, env):
        self.num_agents = env.num_agents
        self.obs_dim = int(np.prod(env.observation_space.shape))
        #: whether ``build`` needs the global state (the learner then stores it)
        self.uses_state = False
        #: whether ``build`` needs the neighbours' mean action
        self.uses_actions = False
        self.dim = self.obs_dim

    @abc.abstractmethod
    def build(
        self, obs: torch.Tensor, state: torch.Tensor | None, neighbour_actions: torch.Tensor | None
    ) -> torch.Tensor:
        """The critic input ``[..., N, dim]``."""


class LocalInput(CriticInput):
    """Independent critic (IPPO): the agent's own observation."""

    name = "local"

    def build(self, obs, state, neighbour_actions):
        return obs


class CentralInput(CriticInput):
    """Centralised critic (MAPPO): the env's global state, or all observations concatenated
    (where the env has no state, or with ``use_state=False``)."""

    name = "central"

    def __init__(self, env, use_state: bool = True):
        super().__init__(env)
        space = getattr(env, "state_space", None)
        self.uses_state = use_state and isinstance(space, gym.spaces.Box)
        self.dim = int(np.prod(space.shape)) if self.uses_state else self.num_agents * self.obs_dim

    def build(self, obs, state, neighbour_actions):
        if self.uses_state:
            joint = state
        else:
            joint = obs.flatten(start_dim=obs.dim() - 2)
        return joint.unsqueeze(-2).expand(*joint.shape[:-1], self.num_agents, joint.shape[-1])


class MeanFieldInput(CriticInput):
    """Mean-field critic (MF-AC, Yang et al. 2018): own observation + neighbours' mean action.

    The neighbourhood is the env's (``env.neighbour_mean``): a radius where the env has
    positions, the whole group otherwise. Discrete actions are one-hot encoded; continuous
    actions are averaged as vectors.
    """

    name = "mean_field"

    def __init__(self, env):
        super().__init__(env)
        self.uses_actions = True
        space = env.action_space
        self.discrete = isinstance(space, gym.spaces.Discrete)
        self.action_dim = int(space.n) if self.discrete else int(np.prod(space.shape))
        self.dim = self.obs_dim + self.action_dim

    def action_features(self, actions: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """``[B, N, A]`` one-hot (discrete) or flattened (continuous) joint actions (tensors stay
        tensors, on their device)."""
        if torch.is_tensor(actions):
            if self.discrete:
                return torch.nn.functional.one_hot(actions, self.action_dim).float()
            return actions.reshape(*actions.shape[:2], -1).float()
        if self.discrete:
            return np.eye(self.action_dim, dtype=np.float32)[actions]
        return actions.reshape(*actions.shape[:2], -1).astype(np.float32)

    def neighbour_actions(
        self, env, actions: np.ndarray | torch.Tensor
    ) -> np.ndarray | torch.Tensor:
        """The mean action of each agent's neighbours, ``[B, N, A]``, as the env defines them."""
        mean = env.neighbour_mean(self.action_features(actions))
        return mean.float() if torch.is_tensor(mean) else np.asarray(mean, dtype=np.float32)

    def build(self, obs, state, neighbour_actions):
        return torch.cat([obs, neighbour_actions], dim=-1)


CRITIC_INPUTS: dict[str, type[CriticInput]] = {
    cls.name: cls for cls in (LocalInput, CentralInput, MeanFieldInput)
}


def make_critic_input(name: str, env) -> CriticInput:
    """The builder called ``name`` for ``env``; raises naming the valid choices."""
    if name not in CRITIC_INPUTS:
        raise ValueError(f"unknown critic input {name!r}; choose one of {sorted(CRITIC_INPUTS)}")
    return CRITIC_INPUTS[name](env)
