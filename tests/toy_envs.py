"""Tiny envs for the trainer and learner tests (batched cores and a plain PettingZoo env).

They are module-level classes so their objects pickle (checkpoints pickle the env core).
The ``one_torch_thread`` fixture is imported by the test modules that train networks.
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest
import torch
from pettingzoo import ParallelEnv

from envs.core import BatchedCore


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small networks on a shared 2-core machine: one torch thread each (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class CoordinationCore(BatchedCore):
    """N agents see a shared target in 0..A-1 each step; each earns 1/L when all pick it.

    Episodes last ``length`` steps (a truncation) unless ``terminate_on_success``, when the
    first joint success ends it (a termination). With ``masked`` the last action is never
    allowed, and picking it anyway is an error; random play earns ``A**-N`` per step.
    """

    def __init__(
        self,
        num_envs: int = 1,
        *,
        num_agents: int = 2,
        num_actions: int = 3,
        length: int = 5,
        terminate_on_success: bool = False,
        masked: bool = False,
        nan_after: int | None = None,
        autoreset: bool = True,
        render_mode: str | None = None,
    ):
        self.possible_agents = [f"agent_{i}" for i in range(num_agents)]
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(num_actions,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(num_actions)
        self.state_space = gym.spaces.Box(0.0, 1.0, shape=(num_actions + 1,), dtype=np.float32)
        super().__init__(num_envs, autoreset=autoreset, render_mode=render_mode)
        self.length, self.masked = length, masked
        self.terminate_on_success = terminate_on_success
        self.nan_after = nan_after  # from this many steps on, rewards are NaN (failure tests)
        self.steps = 0
        self.choices = num_actions - 1 if masked else num_actions
        self.target = np.zeros(num_envs, dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.successes = np.zeros(num_envs, dtype=np.int64)

    def _reset_copies(self, idx, options):
        for b in idx:
            self.target[b] = self.rngs[b].integers(self.choices)
        self.t[idx] = 0
        self.successes[idx] = 0

    def _step(self, actions):
        if self.masked and (actions == self.action_space.n - 1).any():
            raise ValueError("a masked action was played")
        success = (actions == self.target[:, None]).all(axis=1)
        self.successes += success
        rewards = np.repeat((success / self.length)[:, None], self.num_agents, axis=1).astype(
            np.float32
        )
        self.steps += 1
        if self.nan_after is not None and self.steps > self.nan_after:
            rewards[:] = np.nan
        self.t += 1
        for b in range(self.num_envs):
            self.target[b] = self.rngs[b].integers(self.choices)
        terminated = np.repeat(
            (success & self.terminate_on_success)[:, None], self.num_agents, axis=1
        )
        truncated = (
            np.repeat((self.t >= self.length)[:, None], self.num_agents, axis=1) & ~terminated
        )
        return rewards, terminated, truncated, {}

    def _observe(self):
        onehot = np.eye(self.action_space.n, dtype=np.float32)[self.target]
        return np.repeat(onehot[:, None], self.num_agents, axis=1)

    def action_mask(self):
        mask = np.ones((self.num_envs, self.num_agents, self.action_space.n), dtype=bool)
        if self.masked:
            mask[..., -1] = False
        return mask

    def state(self):
        onehot = np.eye(self.action_space.n, dtype=np.float32)[self.target]
        return np.concatenate([onehot, (self.t / self.length)[:, None].astype(np.float32)], axis=1)

    def _episode_metrics(self, idx):
        return {"success_rate": self.successes[idx] / np.maximum(self.t[idx], 1)}


class MatchParallelEnv(ParallelEnv):
    """A plain PettingZoo env: each agent sees a one-hot target and earns 1 for matching it."""

    metadata: ClassVar[dict] = {"name": "match_v0", "render_modes": []}

    def __init__(
        self, num_agents: int = 2, num_actions: int = 3, length: int = 5, render_mode=None
    ):
        self.possible_agents = [f"player_{i}" for i in range(num_agents)]
        self.n_actions, self.length = num_actions, length
        self.render_mode = render_mode
        self._rng = np.random.default_rng()
        self._obs_space = gym.spaces.Box(0.0, 1.0, shape=(num_actions,), dtype=np.float32)
        self._act_space = gym.spaces.Discrete(num_actions)

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_space

    def _observe(self):
        self._targets = self._rng.integers(self.n_actions, size=len(self.possible_agents))
        eye = np.eye(self.n_actions, dtype=np.float32)
        return {a: eye[self._targets[i]] for i, a in enumerate(self.agents)}

    def reset(self, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._t = 0
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions):
        rewards = {a: float(actions[a] == self._targets[i]) for i, a in enumerate(self.agents)}
        self._t += 1
        done = self._t >= self.length
        obs = self._observe()
        terminations = {a: False for a in self.agents}
        truncations = {a: done for a in self.agents}
        infos = {a: {} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos


class ReachCore(BatchedCore):
    """Continuous actions: each agent is rewarded for a 2-D action close to its own target.

    Reward per step: ``-|a - target|^2 / length``; targets are uniform in [-0.5, 0.5]^2.
    """

    def __init__(
        self,
        num_envs: int = 1,
        *,
        num_agents: int = 2,
        length: int = 5,
        autoreset: bool = True,
        render_mode: str | None = None,
    ):
        self.possible_agents = [f"agent_{i}" for i in range(num_agents)]
        self.observation_space = gym.spaces.Box(-0.5, 0.5, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.state_space = gym.spaces.Box(-0.5, 0.5, shape=(2 * num_agents,), dtype=np.float32)
        super().__init__(num_envs, autoreset=autoreset, render_mode=render_mode)
        self.length = length
        self.target = np.zeros((num_envs, num_agents, 2), dtype=np.float32)
        self.t = np.zeros(num_envs, dtype=np.int64)

    def _reset_copies(self, idx, options):
        for b in idx:
            self.target[b] = self.rngs[b].uniform(-0.5, 0.5, size=(self.num_agents, 2))
        self.t[idx] = 0

    def _step(self, actions):
        rewards = -((actions - self.target) ** 2).sum(-1) / self.length
        self.t += 1
        for b in range(self.num_envs):
            self.target[b] = self.rngs[b].uniform(-0.5, 0.5, size=(self.num_agents, 2))
        truncated = np.repeat((self.t >= self.length)[:, None], self.num_agents, axis=1)
        return rewards.astype(np.float32), np.zeros_like(truncated), truncated, {}

    def _observe(self):
        return self.target.copy()

    def state(self):
        return self.target.reshape(self.num_envs, -1).copy()
