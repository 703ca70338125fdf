"""The batched core protocol on a torch device (DESIGN 3b): the accelerator path.

:class:`TorchBatchedCore` is :class:`envs.core.BatchedCore` with every array a torch tensor
on one device (``"cpu"`` or ``"cuda[:k]"``): the same public methods (``reset(seed,
options)``, ``step(actions)``, ``state()``, ``action_mask()``, ``neighbour_mean``), the same
shapes, auto-reset with ``final_obs`` / ``final_state`` / ``final_action_mask`` and
``episode`` statistics in the info, and the same four hooks for a family to fill in. What
differs from the numpy cores:

- Inputs and outputs are tensors on ``core.device``; actions must be a tensor there too
  (integer ``[B, N]`` for discrete actions), so that rollouts never leave the device.
- Randomness comes from :class:`CopyRandom`, a counter-based generator with one stream per
  copy that runs on the device. Seeding makes trajectories reproducible on one device, and
  copy ``b`` of a batch seeded ``s`` behaves as a one-copy core seeded ``s + b``, as in the
  numpy cores; but the stream is not numpy's, so random layouts differ from the numpy
  core's. Layouts given through ``reset(options=...)`` are identical.
- No rendering: build the numpy core (``make_vec`` without ``device``) to render.

Per step the host waits on the device twice: once to check the actions' range, once to
learn which copies finished (their indices drive the auto-reset).
"""

from __future__ import annotations

import abc
import numbers
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import torch

from envs.core import AgentSpaces

SeedLike = int | Sequence[int] | None
_DEVICES = "'cpu', 'cuda' or 'cuda:<index>'"
_M32 = 0xFFFFFFFF


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` with an explicit CUDA index, or one clear error."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {device!r}: expected {_DEVICES}") from None
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type != "cuda":
        raise ValueError(f"device {device!r} is not supported by the torch cores: use {_DEVICES}")
    if not torch.cuda.is_available():
        build = " (this torch is a CPU-only build)" if torch.version.cuda is None else ""
        raise RuntimeError(
            f"device={device!r} needs CUDA, but torch {torch.__version__} finds no CUDA "
            f"device{build}; pass device='cpu' for the torch core on the CPU, or no device "
            "for the numba/numpy core"
        )
    index = torch.cuda.current_device() if dev.index is None else dev.index
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r}: there are only {torch.cuda.device_count()} CUDA devices"
        )
    return torch.device("cuda", index)


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x * c mod 2^32`` for ``x`` in ``[0, 2^32)`` in int64 without overflowing it."""
    low = (x & 0xFFFF) * c
    high = (((x >> 16) * c) & 0xFFFF) << 16
    return (low + high) & _M32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (Wellons' "lowbias32"), on int64 tensors holding 32-bit values."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


class CopyRandom:
    """One random stream per copy on a device: ``uniform(idx, size)`` draws a block per copy.

    Counter-based: draw ``k`` of copy ``b``'s ``c``-th block is a hash of (seed of ``b``,
    ``c``, ``k``), so the copies are independent, a block costs one pass of integer ops over
    ``[len(idx), size]``, and what one copy draws never depends on the others. Uniforms have
    32 bits of resolution in float64 and 24 in float32.
    """

    def __init__(self, num_envs: int, device: torch.device):
        self.device = device
        self.keys = torch.zeros(num_envs, dtype=torch.int64, device=device)
        self.counters = torch.zeros(num_envs, dtype=torch.int64, device=device)
        self.seed(torch.randint(0, 2**62, (num_envs,)).tolist())

    def seed(self, seeds: Sequence[int]) -> None:
        """Restart copy ``b``'s stream from ``seeds[b]`` (any Python ints)."""
        low = torch.tensor([s & _M32 for s in seeds], dtype=torch.int64)
        high = torch.tensor([(s >> 32) & _M32 for s in seeds], dtype=torch.int64)
        self.keys = _mix32(low ^ _mix32(high ^ 0x5BD1E995)).to(self.device)
        self.counters.zero_()

    def uniform(
        self, idx: torch.Tensor | None, size: int, dtype: torch.dtype = torch.float64
    ) -> torch.Tensor:
        """Uniforms in ``[0, 1)``, ``[len(idx), size]`` (all copies when ``idx`` is None)."""
        keys = self.keys if idx is None else self.keys[idx]
        counters = self.counters if idx is None else self.counters[idx]
        if idx is None:
            self.counters += 1
        else:
            self.counters[idx] += 1
        block = _mix32((keys ^ _mix32(counters & _M32)) & _M32)  # [k]
        draws = torch.arange(size, dtype=torch.int64, device=self.device) * 0x9E3779B9
        bits = _mix32(_mix32((block[:, None] + draws) & _M32) ^ 0x27D4EB2F)  # [k, size]
        if dtype == torch.float64:
            return bits.to(torch.float64) * 2.0**-32
        return (bits >> 8).to(dtype) * 2.0**-24


class TorchBatchedCore(AgentSpaces, abc.ABC):
    """Base class of the torch cores (see the module docstring for what differs from numpy).

    Subclasses set ``possible_agents``, ``observation_space``, ``action_space`` and
    ``state_space`` in ``__init__`` and implement ``_reset_copies``, ``_step``, ``_observe``
    and ``state`` on tensors; ``idx`` arguments are int64 index tensors on the device.
    """

    metadata: dict[str, Any] = {"render_modes": [], "render_fps": 5}
    team_reward: str = "sum"

    possible_agents: list[str]
    observation_space: gym.Space
    action_space: gym.Space
    state_space: gym.spaces.Box

    def __init__(
        self,
        num_envs: int = 1,
        *,
        device: str | torch.device = "cpu",
        autoreset: bool = True,
        render_mode: str | None = None,
    ):
        if isinstance(num_envs, bool) or not isinstance(num_envs, numbers.Integral) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if render_mode is not None:
            raise ValueError(
                "the torch cores do not render; make the numpy core (no device) to render"
            )
        self.device = resolve_device(device)
        self.num_envs = int(num_envs)
        self.autoreset = autoreset
        self.render_mode = None
        self.rng = CopyRandom(self.num_envs, self.device)
        self._episode_return: torch.Tensor | None = None  # [B, N] float64, set by reset
        self._episode_length = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._needs_reset = True

    # ------------------------------------------------------------------ public API
    def reset(
        self, seed: SeedLike = None, options: dict | None = None
    ) -> tuple[torch.Tensor, dict]:
        """Reset every copy. Returns observations ``[B, N, ...]`` (on the device) and an info dict."""
        if seed is not None:
            self.seed(seed)
        b, n = self.num_envs, self.num_agents
        self._episode_return = torch.zeros((b, n), dtype=torch.float64, device=self.device)
        self._episode_length.zero_()
        self._reset_copies(torch.arange(b, device=self.device), options)
        self._needs_reset = False
        return self._observe(), {}

    def seed(self, seed: SeedLike) -> None:
        """Copy ``b`` gets the stream of ``seed + b`` (or of the ``b``-th entry of a list)."""
        if isinstance(seed, numbers.Integral):
            seeds = [int(seed) + b for b in range(self.num_envs)]
        else:
            seeds = [int(s) for s in seed]
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} env copies")
        self.rng.seed(seeds)

    def step(self, actions: torch.Tensor):
        """Step every copy; as :meth:`envs.core.BatchedCore.step`, with tensors on the device."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        actions = self._check_actions(actions)
        rewards, terminated, truncated, info = self._step(actions)
        self._episode_return += rewards
        self._episode_length += 1
        done = (terminated | truncated).all(dim=1)
        idx = torch.nonzero(done).flatten()  # waits for the device: the auto-reset needs it
        if idx.numel():
            info["_final"] = done
            info["episode"] = self._episode_stats(idx)
            if self.autoreset:
                info["final_obs"] = self._observe()
                info["final_state"] = self.state()
                if self.is_discrete:
                    info["final_action_mask"] = self.action_mask()
                self._episode_return[idx] = 0.0
                self._episode_length[idx] = 0
                self._reset_copies(idx, None)
            elif idx.numel() == self.num_envs:
                self._needs_reset = True
        return self._observe(), rewards, terminated, truncated, info

    def action_mask(self) -> torch.Tensor:
        """Boolean ``[B, N, A]``: the actions that are not equivalent to doing nothing."""
        shape = (self.num_envs, self.num_agents, self.num_actions)
        return torch.ones(shape, dtype=torch.bool, device=self.device)

    @abc.abstractmethod
    def state(self) -> torch.Tensor:
        """The global state ``[B, S]`` for centralised critics."""

    def neighbour_mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean of ``values [B, N, D]`` over the other agents (the whole group by default)."""
        n = values.shape[1]
        if n == 1:
            return torch.zeros_like(values, dtype=torch.float32)
        total = values.sum(dim=1, keepdim=True)
        return ((total - values) / (n - 1)).float()

    def render(self, index: int = 0):
        raise RuntimeError("the torch cores do not render; make the numpy core (no device)")

    def close(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Nothing to release."""

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _reset_copies(self, idx: torch.Tensor, options: dict | None) -> None:
        """Start new episodes in copies ``idx``; options may fix a layout."""

    @abc.abstractmethod
    def _step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Advance every copy; return rewards, terminated, truncated ``[B, N]`` and an info dict."""

    @abc.abstractmethod
    def _observe(self) -> torch.Tensor:
        """Observations ``[B, N, *obs_shape]`` of the current state."""

    def _episode_metrics(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Env-specific per-episode metrics for ending copies ``idx`` (each ``[len(idx)]``)."""
        return {}

    # ------------------------------------------------------------------ helpers
    def _episode_stats(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Statistics of the episodes ending now in copies ``idx``, ``[B]`` (NaN elsewhere)."""
        b, n = self.num_envs, self.num_agents
        nan = dict(dtype=torch.float64, device=self.device)
        agent_return = torch.full((b, n), float("nan"), **nan)
        agent_return[idx] = self._episode_return[idx]
        team = agent_return.sum(1) if self.team_reward == "sum" else agent_return.mean(1)
        length = torch.full((b,), float("nan"), **nan)
        length[idx] = self._episode_length[idx].to(torch.float64)
        stats = {"return": team, "agent_return": agent_return, "length": length}
        for key, value in self._episode_metrics(idx).items():
            full = torch.full((b,), float("nan"), **nan)
            full[idx] = value.to(torch.float64)
            stats[key] = full
        return stats

    def _check_actions(self, actions) -> torch.Tensor:
        """The joint action as a tensor on the device, or one error naming what is wrong."""
        if not isinstance(actions, torch.Tensor):
            raise TypeError(
                f"actions must be a torch.Tensor on {self.device} (the core's device), got "
                f"{type(actions).__name__}; convert with torch.as_tensor(actions, device=core.device)"
            )
        if actions.device != self.device:
            raise ValueError(f"actions are on {actions.device}, but the core is on {self.device}")
        b, n, space = self.num_envs, self.num_agents, self.action_space
        if isinstance(space, gym.spaces.Discrete):
            if actions.shape != (b, n):
                raise ValueError(
                    f"actions must have shape [num_envs, num_agents] = ({b}, {n}), "
                    f"got {tuple(actions.shape)}"
                )
            if (
                actions.dtype.is_floating_point
                or actions.dtype.is_complex
                or actions.dtype == torch.bool
            ):
                raise ValueError(f"discrete actions must be an integer tensor, got {actions.dtype}")
            actions = actions.to(torch.int64)
            low, high = int(space.start), int(space.start + space.n - 1)
            least, most = torch.stack(torch.aminmax(actions)).tolist()  # one wait, two values
            if least < low or most > high:
                value = least if least < low else most
                raise ValueError(f"action {value} is out of range: valid actions are {low}..{high}")
            return actions
        if isinstance(space, gym.spaces.Box):
            shape = (b, n, *space.shape)
            if tuple(actions.shape) != shape:
                raise ValueError(f"actions must have shape {shape}, got {tuple(actions.shape)}")
            if not actions.dtype.is_floating_point:
                raise ValueError(f"continuous actions must be a float tensor, got {actions.dtype}")
            low, high = float(space.low.min()), float(space.high.max())
            if not bool((torch.isfinite(actions) & (actions >= low) & (actions <= high)).all()):
                raise ValueError(f"continuous actions must be finite and lie in [{low}, {high}]")
            return actions
        raise TypeError(f"unsupported action space {space}")
