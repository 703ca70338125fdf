"""The batched core protocol (DESIGN 2.1): B independent copies of one env, N agents each.

Every env family subclasses :class:`BatchedCore` and implements four hooks
(``_reset_copies``, ``_step``, ``_observe``, ``_render_frame``); this module does,
once for all families, what every core needs around them: per-copy seeding, action
validation with readable errors, episode bookkeeping, auto-reset with the final
observation kept in the info, and the default (whole-group) mean-field neighbourhood.

Array shapes: observations ``[B, N, *obs_shape]``, rewards / terminated / truncated
``[B, N]``, ``action_mask() -> [B, N, A]``, ``state() -> [B, S]``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

SeedLike = int | Sequence[int] | None
#: The largest seed: seeds are kept (in configs, run records, numpy arrays) as int64.
MAX_SEED = 2**63 - 1


class AgentSpaces:
    """What every batched core (numpy or torch) derives from its agents and action space."""

    possible_agents: list[str]
    action_space: gym.Space

    @property
    def num_agents(self) -> int:
        return len(self.possible_agents)

    @property
    def is_discrete(self) -> bool:
        return isinstance(self.action_space, gym.spaces.Discrete)

    @property
    def num_actions(self) -> int:
        """Number of discrete actions (A); raises for continuous action spaces."""
        if not self.is_discrete:
            raise TypeError(f"{type(self).__name__} has continuous actions ({self.action_space})")
        return int(self.action_space.n)


class BatchedCore(AgentSpaces, abc.ABC):
    """Base class of the batched env cores.

    Subclasses set, in ``__init__`` before calling ``super().__init__`` or right after:
    ``possible_agents``, ``observation_space`` / ``action_space`` (one agent's; all agents
    share them) and ``state_space``; then implement the four hooks.

    Seeding: ``reset(seed=s)`` gives copy ``b`` its own generator seeded ``s + b`` (or the
    ``b``-th entry of a list of seeds), so copy ``b`` of a batch behaves exactly like a
    single-copy core seeded ``s + b``. Later resets (auto-resets too) continue each copy's
    stream. Randomness used while stepping must come from ``self.rngs[b]`` as well.
    """

    metadata: dict[str, Any] = {"render_modes": ["human", "rgb_array"], "render_fps": 5}
    #: How the per-agent rewards add up to the team's episodic return: "sum" or "mean".
    team_reward: str = "sum"

    possible_agents: list[str]
    #: Whether reset() has been called (state, masks and frames exist only after it).
    _started: bool = False
    observation_space: gym.Space
    action_space: gym.Space
    state_space: gym.spaces.Box

    def __init__(
        self, num_envs: int = 1, *, autoreset: bool = True, render_mode: str | None = None
    ):
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; "
                f"choose one of {self.metadata['render_modes']} or None"
            )
        self.num_envs = int(num_envs)
        self.autoreset = autoreset
        self.render_mode = render_mode
        self.rngs: list[np.random.Generator] = [
            np.random.default_rng() for _ in range(self.num_envs)
        ]
        self._episode_return = None  # [B, N], allocated on first reset
        self._episode_length = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = True

    # ------------------------------------------------------------------ public API
    def reset(self, seed: SeedLike = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Reset every copy. Returns observations ``[B, N, ...]`` and an info dict.

        Args:
            seed: None (continue each copy's stream), an integer ``s`` in ``[0, 2**63 - 1]``
                (copy ``b`` gets ``s + b``), or one such integer per copy.
            options: None or a dict (the family's reset options, e.g. a layout).
        """
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(
                f"options must be a dict (the env's reset options) or None, "
                f"got {type(options).__name__} {options!r}"
            )
        if seed is not None:
            self.seed(seed)
        self._episode_return = np.zeros((self.num_envs, self.num_agents), dtype=np.float64)
        self._episode_length[:] = 0
        self._reset_copies(np.arange(self.num_envs), options)
        self._needs_reset = False
        self._started = True
        return self._observe(), {}

    def seed(self, seed: SeedLike) -> None:
        """Give every copy a fresh generator (see the class docstring); raises TypeError or
        ValueError naming ``seed`` and what is accepted."""
        b = self.num_envs
        accepted = (
            f"seed must be None, an integer in [0, 2**63 - 1] (copy b gets seed + b) "
            f"or a list of {b} such integers (one per copy)"
        )
        if _is_integer(seed):
            if not 0 <= int(seed) <= MAX_SEED - (b - 1):
                raise ValueError(f"{accepted}; got {seed!r}, out of range for {b} copies")
            seeds = [int(seed) + i for i in range(b)]
        elif isinstance(seed, (Sequence, np.ndarray)) and not isinstance(seed, (str, bytes)):
            seeds = list(seed)
            if len(seeds) != b or not all(_is_integer(s) for s in seeds):
                raise ValueError(f"{accepted}; got {seed!r}")
            if not all(0 <= int(s) <= MAX_SEED for s in seeds):
                raise ValueError(f"{accepted}; got {seed!r}, out of range")
            seeds = [int(s) for s in seeds]
        else:
            raise TypeError(f"{accepted}; got {type(seed).__name__} {seed!r}")
        self.rngs = [np.random.default_rng(s) for s in seeds]

    def step(self, actions: np.ndarray):
        """Step every copy with joint actions ``[B, N]`` (discrete) or ``[B, N, D]``.

        Returns ``obs, rewards, terminated, truncated, info``. With auto-reset, a copy whose
        episode ended is reset at once: ``obs`` holds its new first observation, and
        ``info["final_obs"]`` / ``info["final_state"]`` the last ones of the ended episode
        (and, for discrete actions, ``info["final_action_mask"]`` its last action mask),
        with ``info["_final"] [B]`` marking those copies and ``info["episode"]`` holding
        their episode statistics (``return`` [B] team return, ``agent_return`` [B, N],
        ``length`` [B], plus any env metrics).
        """
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        actions = self._check_actions(actions)
        rewards, terminated, truncated, info = self._step(actions)
        self._episode_return += rewards
        self._episode_length += 1
        done = np.logical_or(terminated, truncated).all(axis=1)
        if done.any():
            idx = np.flatnonzero(done)
            info["_final"] = done
            info["episode"] = self._episode_stats(idx)
            if self.autoreset:
                info["final_obs"] = self._observe()
                info["final_state"] = self.state()
                if (
                    self.is_discrete
                ):  # value learners take the max of a truncated episode's target over it
                    info["final_action_mask"] = self.action_mask()
                self._episode_return[idx] = 0.0
                self._episode_length[idx] = 0
                self._reset_copies(idx, None)
            elif done.all():
                self._needs_reset = True
        return self._observe(), rewards, terminated, truncated, info

    def action_mask(self) -> np.ndarray:
        """Boolean ``[B, N, A]``: the actions that are not equivalent to doing nothing."""
        self._require_reset("action_mask")
        return np.ones((self.num_envs, self.num_agents, self.num_actions), dtype=bool)

    @abc.abstractmethod
    def state(self) -> np.ndarray:
        """The global state ``[B, S]`` for centralised critics."""

    def neighbour_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of ``values [B, N, D]`` over each agent's neighbours (mean-field learners).

        The default neighbourhood is the whole group except the agent itself; families with
        positions override this with a local radius.
        """
        n = values.shape[1]
        if n == 1:
            return np.zeros_like(values, dtype=np.float32)
        total = values.sum(axis=1, keepdims=True)
        return ((total - values) / (n - 1)).astype(np.float32)

    def render(self, index: int = 0) -> np.ndarray | None:
        """Render copy ``index``: an RGB array ``[H, W, 3]`` uint8, or draw to a window."""
        if self.render_mode is None:
            raise RuntimeError(
                "render() needs a render_mode; create the env with render_mode='rgb_array' or 'human'"
            )
        self._require_reset("render")
        copies = f"valid copies are 0..{self.num_envs - 1}"
        if not _is_integer(index):
            raise TypeError(f"render index must be an integer ({copies}), got {index!r}")
        if not 0 <= index < self.num_envs:
            raise IndexError(f"render index {index} is out of range: {copies}")
        return self._render_frame(int(index))

    def close(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Release the renderer's window, if any."""

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _reset_copies(self, idx: np.ndarray, options: dict | None) -> None:
        """Start new episodes in copies ``idx`` using ``self.rngs[b]``; options may fix a layout."""

    @abc.abstractmethod
    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Advance every copy; return rewards, terminated, truncated ``[B, N]`` and an info dict."""

    @abc.abstractmethod
    def _observe(self) -> np.ndarray:
        """Observations ``[B, N, *obs_shape]`` of the current state."""

    def _render_frame(self, index: int) -> np.ndarray | None:
        raise NotImplementedError(f"{type(self).__name__} has no renderer")

    def _episode_metrics(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Env-specific per-episode metrics for ending copies ``idx`` (each a ``[len(idx)]`` array)."""
        return {}

    # ------------------------------------------------------------------ helpers
    def _require_reset(self, what: str) -> None:
        """Refuse ``what`` (a method name) before the first reset: there is no state yet."""
        if not self._started:
            raise RuntimeError(
                f"call reset() before {what}(): {type(self).__name__} has no episode yet"
            )

    def _episode_stats(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Statistics of the episodes ending now in copies ``idx``, as ``[B]`` arrays (NaN elsewhere)."""
        agent_return = np.full((self.num_envs, self.num_agents), np.nan)
        agent_return[idx] = self._episode_return[idx]
        aggregate = np.sum if self.team_reward == "sum" else np.mean
        stats = {"return": aggregate(agent_return, axis=1), "agent_return": agent_return}
        length = np.full(self.num_envs, np.nan)
        length[idx] = self._episode_length[idx]
        stats["length"] = length
        for key, value in self._episode_metrics(idx).items():
            full = np.full(self.num_envs, np.nan)
            full[idx] = value
            stats[key] = full
        return stats

    def _check_actions(self, actions) -> np.ndarray:
        """Validate the shape and range of a joint action; raise naming the offending value,
        its agent and copy, and what is allowed."""
        actions = np.asarray(actions)
        b, n = self.num_envs, self.num_agents
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            if actions.shape != (b, n):
                raise ValueError(
                    f"actions must have shape [num_envs, num_agents] = ({b}, {n}), got {actions.shape}"
                )
            low, high = int(space.start), int(space.start + space.n - 1)
            valid = f"valid actions are {low}..{high}"
            if actions.dtype.kind == "b":
                actions = actions.astype(np.int64)
            elif actions.dtype.kind == "f":
                with np.errstate(invalid="ignore"):
                    fractional = actions != np.floor(actions)  # NaN included; inf is out of range
                if fractional.any():
                    raise ValueError(
                        f"discrete actions must be integers: {self._action_at(actions, fractional)} "
                        f"is not ({valid})"
                    )
                outside = (actions < low) | (actions > high)
                if outside.any():
                    raise ValueError(
                        f"{self._action_at(actions, outside)} is out of range: {valid}"
                    )
                actions = actions.astype(np.int64)
            elif actions.dtype.kind not in "iu":
                raise ValueError(
                    f"discrete actions must be integers, got dtype {actions.dtype} ({valid})"
                )
            # one comparison catches both ends: below `low` wraps to a huge unsigned value
            offset = (
                actions.view(np.uint64)
                if low == 0 and actions.dtype == np.int64
                else (actions - low).astype(np.uint64)
            )
            if (offset > high - low).any():
                outside = (actions < low) | (actions > high)
                raise ValueError(f"{self._action_at(actions, outside)} is out of range: {valid}")
            return actions
        if isinstance(space, gym.spaces.Box):
            shape = (b, n, *space.shape)
            if actions.shape != shape:
                raise ValueError(f"actions must have shape {shape}, got {actions.shape}")
            if actions.dtype.kind not in "iuf":
                raise ValueError(f"continuous actions must be numbers, got dtype {actions.dtype}")
            actions = actions.astype(np.float32)
            bounds = f"[{space.low.min()}, {space.high.max()}]"
            finite = np.isfinite(actions)
            if not finite.all():
                raise ValueError(
                    f"continuous actions must be finite: {self._action_at(actions, ~finite)} "
                    f"is not (valid actions lie in {bounds})"
                )
            outside = (actions < space.low) | (actions > space.high)
            if outside.any():
                raise ValueError(
                    f"continuous actions must lie in {bounds}: "
                    f"{self._action_at(actions, outside)} does not"
                )
            return actions
        raise TypeError(f"unsupported action space {space}")

    def _action_at(self, actions: np.ndarray, bad: np.ndarray) -> str:
        """``"action <value> of <agent> in copy <b>"`` for the first True entry of ``bad``."""
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        value = actions[where]
        value = float(value) if value.dtype.kind == "f" else int(value)
        components = where[2:]
        part = (
            f" (component {', '.join(map(str, components))})"
            if components and actions[where[:2]].size > 1
            else ""
        )
        return f"action {value!r}{part} of {self.possible_agents[where[1]]} in copy {where[0]}"


def _is_integer(value) -> bool:
    """An int or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
