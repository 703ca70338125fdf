"""The PettingZoo ``ParallelEnv`` view over a batched core with one copy (DESIGN 2.1).

Written once for every family: the view converts between PettingZoo's per-agent dicts and
the core's ``[1, N, ...]`` arrays, and keeps PettingZoo's bookkeeping (live agents, spaces
returned as the same object on every call, human rendering on every step).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from envs.core import BatchedCore


class ParallelView(ParallelEnv):
    """A PettingZoo ``ParallelEnv`` backed by ``core`` (which must have ``num_envs == 1``).

    Args:
        core: a batched core built with ``num_envs=1, autoreset=False``.
        action_masks: if True, observations are dicts ``{"observation", "action_mask"}``
            (PettingZoo's convention); the mask is also in every agent's info either way.
    """

    def __init__(self, core: BatchedCore, action_masks: bool = False):
        if core.num_envs != 1:
            raise ValueError(
                f"ParallelView needs a core with one copy, got num_envs={core.num_envs}"
            )
        core.autoreset = False
        self.core = core
        self.action_masks = bool(action_masks) and core.is_discrete
        self.metadata = dict(core.metadata)
        self.metadata.setdefault("name", type(core).__name__)
        self.metadata["is_parallelizable"] = True
        self.render_mode = core.render_mode
        self.possible_agents = list(core.possible_agents)
        self.agents: list[str] = []
        self._index = {agent: i for i, agent in enumerate(self.possible_agents)}
        if self.action_masks:
            mask_space = gym.spaces.Box(0, 1, shape=(core.num_actions,), dtype=np.int8)
            obs_space = gym.spaces.Dict(
                {"observation": core.observation_space, "action_mask": mask_space}
            )
        else:
            obs_space = core.observation_space
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: core.action_space for a in self.possible_agents}
        self.state_space = core.state_space

    def __getattr__(self, name: str) -> Any:
        # ParallelEnv defines no __getattr__; forward unknown public attributes to the core
        # (e.g. family-specific parameters), never private ones.
        if name.startswith("_") or name == "core":
            raise AttributeError(name)
        return getattr(self.core, name)

    def observation_space(self, agent: str) -> gym.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, _ = self.core.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        if self.render_mode == "human":
            self.render()
        return self._obs_dict(obs), self._info_dict({})

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("the episode is over (no live agents): call reset()")
        unknown = sorted(set(actions) - set(self.possible_agents), key=str)
        if unknown:
            raise ValueError(f"unknown agent(s) {unknown}; the agents are {self.possible_agents}")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"missing action(s) for live agent(s) {missing}")
        joint = self._joint_action(actions)
        obs, rewards, terminated, truncated, info = self.core.step(joint)
        live = list(self.agents)
        self.agents = [
            a for a in live if not (terminated[0, self._index[a]] or truncated[0, self._index[a]])
        ]
        if self.render_mode == "human":
            self.render()
        return (
            self._obs_dict(obs, live),
            {a: float(rewards[0, self._index[a]]) for a in live},
            {a: bool(terminated[0, self._index[a]]) for a in live},
            {a: bool(truncated[0, self._index[a]]) for a in live},
            self._info_dict(info, live),
        )

    def state(self) -> np.ndarray:
        return self.core.state()[0]

    def render(self):
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; pass render_mode='rgb_array' or 'human'"
            )
            return None
        frame = self.core.render(0)
        return None if self.render_mode == "human" else frame

    def close(self) -> None:
        self.core.close()

    # ------------------------------------------------------------------ conversions
    def _joint_action(self, actions: dict[str, Any]) -> np.ndarray:
        space = self.core.action_space
        if isinstance(space, gym.spaces.Discrete):
            joint = np.zeros((1, self.core.num_agents), dtype=np.int64)  # finished agents: no-op 0
        else:
            joint = np.zeros((1, self.core.num_agents, *space.shape), dtype=np.float32)
        for agent, action in actions.items():
            if agent not in self.agents:
                continue  # PettingZoo lets callers pass actions for agents that are done
            if isinstance(space, gym.spaces.Discrete):
                joint[0, self._index[agent]] = _discrete_action(agent, action, space)
            else:
                joint[0, self._index[agent]] = _box_action(agent, action, space)
        return joint

    def _obs_dict(self, obs: np.ndarray, agents: list[str] | None = None) -> dict:
        agents = self.agents if agents is None else agents
        if not self.action_masks:
            return {a: obs[0, self._index[a]] for a in agents}
        mask = self.core.action_mask()[0].astype(np.int8)
        return {
            a: {"observation": obs[0, self._index[a]], "action_mask": mask[self._index[a]]}
            for a in agents
        }

    def _info_dict(self, info: dict, agents: list[str] | None = None) -> dict:
        agents = self.agents if agents is None else agents
        infos: dict[str, dict] = {a: {} for a in agents}
        if self.core.is_discrete:
            mask = self.core.action_mask()[0].astype(np.int8)
            for a in agents:
                infos[a]["action_mask"] = mask[self._index[a]]
        episode = info.get("episode")
        if episode is not None:
            for a in agents:
                infos[a]["episode"] = {
                    k: (v[0, self._index[a]] if np.ndim(v) == 2 else v[0])
                    for k, v in episode.items()
                }
        return infos


def _discrete_action(agent: str, action: Any, space: gym.spaces.Discrete) -> int:
    """One agent's discrete action as an int; raise ValueError naming the value, the agent
    and the valid range for anything else (1.5, "1", NaN, 1e300, arrays)."""
    low, high = int(space.start), int(space.start + space.n - 1)
    valid = f"valid actions are {low}..{high}"
    if isinstance(action, (int, np.integer)):  # the common case, bools included
        value = int(action)
    else:
        array = np.asarray(action)
        if array.shape != ():
            raise ValueError(
                f"action of {agent} must be a scalar in {low}..{high}, got shape {array.shape}"
            )
        if array.dtype.kind in "iub":
            value = int(array)
        elif array.dtype.kind == "f":
            number = float(array)
            if np.isnan(number) or (low <= number <= high and not number.is_integer()):
                raise ValueError(f"action {number!r} of {agent} is not an integer: {valid}")
            if not low <= number <= high:
                raise ValueError(f"action {number!r} of {agent} is out of range: {valid}")
            value = int(number)
        else:
            raise ValueError(
                f"action {action!r} of {agent} must be an integer, "
                f"got {type(action).__name__}: {valid}"
            )
    if not low <= value <= high:
        raise ValueError(f"action {value} of {agent} is out of range: {valid}")
    return value


def _box_action(agent: str, action: Any, space: gym.spaces.Box) -> np.ndarray:
    """One agent's continuous action as float32; raise ValueError naming the agent and the
    bounds for a wrong shape, non-numbers, NaN or infinity, or values out of bounds."""
    bounds = f"[{space.low.min()}, {space.high.max()}]"
    value = np.asarray(action)
    if value.dtype.kind not in "iuf":
        raise ValueError(
            f"action of {agent} must be numbers in {bounds}, got {type(action).__name__} {action!r}"
        )
    if value.shape != space.shape:
        raise ValueError(f"action of {agent} must have shape {space.shape}, got {value.shape}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"action {value.tolist()} of {agent} must be finite, in {bounds}")
    value = value.astype(np.float32)
    if np.any(value < space.low) or np.any(value > space.high):
        raise ValueError(f"action {value.tolist()} of {agent} must lie in {bounds}")
    return value
