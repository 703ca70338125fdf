"""The generic path: B copies of any PettingZoo ``ParallelEnv`` behind the batched interface.

A user's env need not be written as a batched core to train: this adapter steps B copies
one after another and stacks their dicts into ``[B, N, ...]`` arrays. It is as fast as the
user's env, no faster. Observations are flattened (``gymnasium.spaces.flatten``); dict
observations with an ``action_mask`` entry have the mask split out. Agents that leave an
episode early report zeros and stay done until the copy's episode ends.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from envs.core import BatchedCore


class ParallelEnvBatch(BatchedCore):
    """Batched view of ``num_envs`` copies of a PettingZoo ParallelEnv made by ``env_fn``."""

    def __init__(
        self,
        env_fn: Callable[..., ParallelEnv],
        num_envs: int = 1,
        *,
        autoreset: bool = True,
        render_mode: str | None = None,
    ):
        first = env_fn(render_mode=render_mode) if render_mode else env_fn()
        self.metadata = dict(getattr(first, "metadata", {}) or {})
        self.metadata.setdefault("render_modes", [])
        super().__init__(num_envs, autoreset=autoreset, render_mode=render_mode)
        self.envs = [first] + [
            (env_fn(render_mode=render_mode) if render_mode else env_fn())
            for _ in range(num_envs - 1)
        ]
        self.possible_agents = list(first.possible_agents)
        # gymnasium spaces define __eq__ but (Box) no __hash__: keep the distinct ones by equality
        raw_obs = _distinct(first.observation_space(a) for a in self.possible_agents)
        actions = _distinct(first.action_space(a) for a in self.possible_agents)
        if len(raw_obs) != 1 or len(actions) != 1:
            raise ValueError(
                "the generic path needs every agent to share one observation space and one action "
                f"space; got {len(raw_obs)} observation and {len(actions)} action spaces "
                "(wrap the env to pad them, e.g. with supersuit's pad_observations_v0)"
            )
        raw = raw_obs.pop()
        self._mask_in_obs = isinstance(raw, gym.spaces.Dict) and "action_mask" in raw.spaces
        self._raw_obs_space = raw.spaces["observation"] if self._mask_in_obs else raw
        flat = gym.spaces.flatten_space(self._raw_obs_space)
        self.observation_space = gym.spaces.Box(flat.low, flat.high, dtype=np.float32)
        self.action_space = actions.pop()
        if not isinstance(self.action_space, (gym.spaces.Discrete, gym.spaces.Box)):
            raise ValueError(
                f"the generic path supports Discrete and Box actions, got {self.action_space}"
            )
        try:
            state_dim = int(np.prod(first.state_space.shape))
            self._has_state = True
        except (AttributeError, NotImplementedError, TypeError):
            state_dim = self.num_agents * int(np.prod(self.observation_space.shape))
            self._has_state = False
        self.state_space = gym.spaces.Box(-np.inf, np.inf, shape=(state_dim,), dtype=np.float32)
        n, d = self.num_agents, int(np.prod(self.observation_space.shape))
        self._obs = np.zeros((num_envs, n, d), dtype=np.float32)
        self._alive = np.zeros((num_envs, n), dtype=bool)
        self._mask = np.ones((num_envs, n, getattr(self.action_space, "n", 1)), dtype=bool)

    # ------------------------------------------------------------------ hooks
    def _reset_copies(self, idx, options):
        for b in idx:
            seed = int(self.rngs[b].integers(2**31 - 1))
            obs, infos = self.envs[b].reset(seed=seed, options=options)
            self._alive[b] = False
            self._obs[b] = 0.0
            self._mask[b] = True
            self._write(b, obs, infos)

    def _step(self, actions):
        n = self.num_agents
        rewards = np.zeros((self.num_envs, n), dtype=np.float32)
        terminated = ~self._alive.copy()  # agents already gone stay done
        truncated = np.zeros((self.num_envs, n), dtype=bool)
        for b, env in enumerate(self.envs):
            if not env.agents:  # the copy ended earlier and is waiting for a reset
                terminated[b] = True
                continue
            act = {
                a: self._to_env_action(actions[b, i])
                for i, a in enumerate(self.possible_agents)
                if a in env.agents
            }
            obs, rew, term, trunc, infos = env.step(act)
            for i, a in enumerate(self.possible_agents):
                if a in rew:
                    rewards[b, i] = rew[a]
                    terminated[b, i] = bool(term.get(a, False))
                    truncated[b, i] = bool(trunc.get(a, False)) and not terminated[b, i]
            self._alive[b] = False
            self._write(b, {a: o for a, o in obs.items() if a in env.agents}, infos)
            # agents that left: freeze their observation at the last one seen
            for i, a in enumerate(self.possible_agents):
                if a in obs and a not in env.agents:
                    self._obs[b, i] = self._flatten(obs[a])
        return rewards, terminated, truncated, {"alive": self._alive.copy()}

    def _observe(self):
        return self._obs.copy()

    def state(self):
        self._require_reset("state")
        if self._has_state:
            out = np.zeros((self.num_envs, self.state_space.shape[0]), dtype=np.float32)
            for b, env in enumerate(self.envs):
                try:
                    out[b] = np.asarray(env.state(), dtype=np.float32).ravel()
                except Exception:  # a copy between episodes may not have a state
                    pass
            return out
        return self._obs.reshape(self.num_envs, -1).copy()

    def action_mask(self):
        self._require_reset("action_mask")
        return self._mask.copy()

    def _render_frame(self, index):
        return self.envs[index].render()

    def close(self):
        for env in self.envs:
            env.close()

    # ------------------------------------------------------------------ helpers
    def _flatten(self, obs) -> np.ndarray:
        if self._mask_in_obs:
            obs = obs["observation"]
        return gym.spaces.flatten(self._raw_obs_space, obs).astype(np.float32)

    def _write(self, b: int, obs: dict, infos: dict) -> None:
        for i, a in enumerate(self.possible_agents):
            if a not in obs:
                continue
            self._alive[b, i] = True
            self._obs[b, i] = self._flatten(obs[a])
            mask = None
            if self._mask_in_obs:
                mask = obs[a]["action_mask"]
            elif isinstance(infos.get(a), dict) and "action_mask" in infos[a]:
                mask = infos[a]["action_mask"]
            if mask is not None:
                self._mask[b, i] = np.asarray(mask, dtype=bool)

    def _to_env_action(self, action):
        if isinstance(self.action_space, gym.spaces.Discrete):
            return int(action)
        return np.asarray(action, dtype=self.action_space.dtype)


def _distinct(spaces) -> list[gym.Space]:
    """The distinct spaces among ``spaces``, compared with ``==``."""
    out: list[gym.Space] = []
    for space in spaces:
        if not any(space == seen for seen in out):
            out.append(space)
    return out
