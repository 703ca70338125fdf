"""Episode replay for the value-based learners (IQL, VDN, QMIX, MF-Q), after EPyMARL.

Whole episodes, not single transitions, are the unit of storage and sampling: a recurrent
agent replays an episode from its first step, and every learner sees time-major batches
``[E, L, ...]`` (E episodes, L steps) with a ``filled`` mask for the padding.

Two pieces, and two helpers (:func:`check_replay_size`, :func:`next_obs_items`: what a learner
stores after an episode's last step):

- :class:`EpisodeWriter` holds the B episodes being collected, one row per env copy, each
  copy at its own step (copies end episodes at different times); finished rows are handed
  over as a block and the row starts afresh.
- :class:`EpisodeReplay` is a circular buffer of ``capacity`` episodes in preallocated numpy
  arrays; :meth:`EpisodeReplay.sample` draws E distinct episodes and trims the batch to the
  longest of them.

The arrays are numpy on the host, or torch tensors on a device (``device``: the replay of a
learner that steps a torch core, so that collection and sampling never leave it); sampling
then draws with a ``torch.Generator`` on that device instead of a numpy one.

Fields are *step* fields (one entry per step: actions, rewards, terminations, ...) or *obs*
fields (one entry per step plus one for the observation after the last step: observations,
action masks, states), so a batch of L steps carries ``obs [E, L+1, ...]`` and bootstrapping
needs nothing else. An episode longer than ``max_length`` is stored as consecutive chunks of
at most ``max_length`` steps, each ending with the observation that follows it (its last step
then bootstraps from there, as a truncation does); a recurrent agent starts every chunk from
a zero hidden state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: the storage of a host replay (numpy) or of a device replay (tensors)
Array = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class Field:
    """One stored quantity: its per-step shape and dtype, and whether it is an obs field."""

    shape: tuple[int, ...]
    dtype: Any
    obs: bool = False
    """True: ``max_length + 1`` entries per episode (the observation after the last step too)."""


def episode_bytes(max_length: int, fields: dict[str, Field]) -> int:
    """Bytes one stored episode of ``max_length`` steps takes (to size a buffer before allocating it)."""
    return sum(
        (max_length + int(f.obs))
        * int(np.prod(f.shape, dtype=np.int64))
        * np.dtype(f.dtype).itemsize
        for f in fields.values()
    )


#: the largest replay buffer a learner allocates without being told to use a smaller one
MAX_REPLAY_BYTES = 4 * 2**30


def check_replay_size(
    capacity: int, max_length: int, fields: dict[str, Field], agents: int
) -> None:
    """Refuse a buffer of ``capacity`` episodes over :data:`MAX_REPLAY_BYTES`, naming the keys to lower."""
    need = capacity * episode_bytes(max_length, fields)
    if need > MAX_REPLAY_BYTES:
        raise ValueError(
            f"the replay buffer would take {need / 2**30:.1f} GiB ({capacity} episodes of up to "
            f"{max_length} steps of {agents} agents), more than {MAX_REPLAY_BYTES / 2**30:.0f} GiB; lower "
            "algo.buffer_size (or algo.max_episode_length: longer episodes are stored in chunks)"
        )


def next_obs_items(
    env: Any,
    idx: np.ndarray,
    ended: Array,
    next_obs: Array,
    info: dict,
    *,
    mask: bool = True,
    state: bool = False,
) -> dict[str, np.ndarray]:
    """The obs fields to store after the last step of rows ``idx`` of a batched core ``env``:
    ``obs``, and ``mask`` / ``state`` if asked. Where the episode ended (``ended [B]``) they are
    the final ones from ``info`` (the core has already reset those copies); elsewhere (a chunk
    that is only full) the current ones."""
    b = env.num_envs
    items = {"obs": next_obs.reshape(b, env.num_agents, -1)}
    if mask:
        items["mask"] = env.action_mask()
    if state:
        items["state"] = env.state().reshape(b, -1)
    if ended.any():
        where = torch.where if torch.is_tensor(ended) else np.where
        gone = ended[:, None, None]
        items["obs"] = where(gone, info["final_obs"].reshape(items["obs"].shape), items["obs"])
        if mask:  # without the core's final mask, every action counts as valid in the final state
            items["mask"] = where(gone, info.get("final_action_mask", True), items["mask"])
        if state:
            final = info["final_state"].reshape(b, -1)
            items["state"] = where(ended[:, None], final, items["state"])
    return {name: value[idx] for name, value in items.items()}


def _zeros(shape: tuple[int, ...], dtype: Any, device: torch.device | None) -> Array:
    """numpy zeros on the host (``device`` None), else a tensor of the matching dtype there."""
    if device is None:
        return np.zeros(shape, dtype=dtype)
    like = torch.from_numpy(np.zeros(0, dtype=dtype))
    return torch.zeros(shape, dtype=like.dtype, device=device)


def _allocate(
    rows: int, max_length: int, fields: dict[str, Field], device: torch.device | None
) -> dict[str, Array]:
    return {
        name: _zeros((rows, max_length + int(f.obs), *f.shape), f.dtype, device)
        for name, f in fields.items()
    }


def _like(value: Array, array: Array) -> Array:
    """``value`` (a checkpoint's numpy array or CPU tensor) as ``array``'s kind, on its device."""
    if torch.is_tensor(array):
        return torch.as_tensor(value).to(array.device, array.dtype)
    return np.asarray(value.numpy() if torch.is_tensor(value) else value, dtype=array.dtype)


def _copy(x: Array) -> Array:
    return x.clone() if torch.is_tensor(x) else x.copy()


def _arange(n: int, device: torch.device | None) -> Array:
    return np.arange(n) if device is None else torch.arange(n, device=device)


def _host(x: Array) -> Array:
    """A copy for a checkpoint: numpy stays numpy, a tensor moves to the CPU."""
    return x.detach().cpu().clone() if torch.is_tensor(x) else x.copy()


def flatnonzero(x: Array) -> Array:
    """The indices where the 1-d ``x`` is True, as numpy's ``flatnonzero`` (a tensor for a tensor)."""
    return torch.nonzero(x).flatten() if torch.is_tensor(x) else np.flatnonzero(x)


class EpisodeWriter:
    """The episodes in progress, one row per env copy: ``[B, T(+1), ...]`` arrays and a step index per row.

    Per env step: :meth:`write_obs` (observation, mask, state the actions are chosen from),
    then :meth:`write_step` (actions, rewards, ...) which advances every row by one step.
    When copies end their episode (or fill ``max_length`` steps), :meth:`finish` writes the
    observation that follows their last step and returns their rows.
    """

    def __init__(
        self,
        num_copies: int,
        max_length: int,
        fields: dict[str, Field],
        device: torch.device | None = None,
    ):
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        self.max_length = max_length
        self.fields = dict(fields)
        self.data = _allocate(num_copies, max_length, fields, device)
        self.t = _zeros((num_copies,), np.int64, device)
        self._rows = _arange(num_copies, device)

    def write_obs(self, **items: np.ndarray) -> None:
        """Store obs fields ``[B, ...]`` at every row's current step."""
        for name, value in items.items():
            self.data[name][self._rows, self.t] = value

    def write_step(self, **items: np.ndarray) -> None:
        """Store step fields ``[B, ...]`` at every row's current step, then advance every row."""
        if (self.t >= self.max_length).any():
            raise RuntimeError("an episode row is full: finish() it before writing another step")
        for name, value in items.items():
            self.data[name][self._rows, self.t] = value
        self.t += 1

    def full(self) -> np.ndarray:
        """``[B]`` True where a row holds ``max_length`` steps and must be finished now."""
        return self.t >= self.max_length

    def finish(
        self, idx: np.ndarray, **final_obs: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Close rows ``idx``: store ``final_obs`` (obs fields ``[len(idx), ...]``) after their
        last step, return ``(episodes [K, T(+1), ...], lengths [K])`` and clear the rows."""
        idx = idx if torch.is_tensor(idx) else np.asarray(idx)
        lengths = _copy(self.t[idx])
        for name, value in final_obs.items():
            self.data[name][idx, lengths] = value
        episodes = {name: array[idx] for name, array in self.data.items()}  # fancy indexing copies
        for array in self.data.values():
            array[idx] = 0
        self.t[idx] = 0
        return episodes, lengths

    def state_dict(self) -> dict[str, Any]:
        return {"data": {k: _host(v) for k, v in self.data.items()}, "t": _host(self.t)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, value in state["data"].items():
            self.data[name][...] = _like(value, self.data[name])
        self.t[...] = _like(state["t"], self.t)


class EpisodeReplay:
    """A circular buffer of ``capacity`` episodes of at most ``max_length`` steps.

    Args:
        capacity: episodes kept; the oldest is overwritten first.
        max_length: T, the longest episode (or chunk) stored.
        fields: ``{name: Field}``.
    """

    def __init__(
        self,
        capacity: int,
        max_length: int,
        fields: dict[str, Field],
        device: torch.device | None = None,
    ):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        self.capacity, self.max_length = int(capacity), int(max_length)
        self.fields = dict(fields)
        self.device = device
        self.data = _allocate(self.capacity, self.max_length, fields, device)
        self.lengths = _zeros((self.capacity,), np.int64, device)
        self.ptr = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, episodes: dict[str, np.ndarray], lengths: np.ndarray) -> None:
        """Store K episodes (``[K, T(+1), ...]`` per field, every field present) with their lengths."""
        lengths = _like(lengths, self.lengths)
        k = len(lengths)
        if k == 0:
            return
        if missing := set(self.fields) - set(episodes):
            raise KeyError(f"episodes lack the fields {sorted(missing)}")
        if (lengths < 1).any() or (lengths > self.max_length).any():
            raise ValueError(
                f"episode lengths must lie in 1..{self.max_length}, got {lengths.tolist()}"
            )
        if k > self.capacity:  # only the newest `capacity` survive anyway
            episodes = {name: value[-self.capacity :] for name, value in episodes.items()}
            lengths, k = lengths[-self.capacity :], self.capacity
        slots = (self.ptr + _arange(k, self.device)) % self.capacity
        for name, array in self.data.items():
            array[slots] = episodes[name]
        self.lengths[slots] = lengths
        self.ptr = int((self.ptr + k) % self.capacity)
        self.size = min(self.size + k, self.capacity)

    def sample(
        self, batch_size: int, rng: np.random.Generator | torch.Generator
    ) -> dict[str, Array]:
        """E = ``batch_size`` distinct episodes, trimmed to the longest (L steps): :meth:`gather`
        of indices drawn by ``rng`` (a numpy generator, or a torch one on the replay's device)."""
        if batch_size > self.size:
            raise ValueError(
                f"cannot sample {batch_size} episodes from a buffer holding {self.size}"
            )
        if self.device is None:
            idx = rng.choice(self.size, size=batch_size, replace=False)
        else:
            idx = torch.randperm(self.size, generator=rng, device=self.device)[:batch_size]
        return self.gather(idx)

    def gather(self, idx: Array) -> dict[str, Array]:
        """The stored episodes ``idx``, trimmed to the longest of them (L steps).

        Returns every field (``[E, L, ...]`` or ``[E, L+1, ...]`` for obs fields) plus
        ``filled [E, L]`` (True on real steps) and ``lengths [E]``.
        """
        lengths = self.lengths[idx]
        steps = int(lengths.max())
        batch = {
            name: array[idx, : steps + int(self.fields[name].obs)]
            for name, array in self.data.items()
        }
        batch["filled"] = _arange(steps, self.device)[None, :] < lengths[:, None]
        batch["lengths"] = lengths
        return batch

    def state_dict(self) -> dict[str, Any]:
        """The stored episodes (only the filled slots) and the write position."""
        return {
            "data": {k: _host(v[: self.size]) for k, v in self.data.items()},
            "lengths": _host(self.lengths[: self.size]),
            "ptr": self.ptr,
            "size": self.size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(
                f"the saved buffer holds {size} episodes, more than this buffer's capacity {self.capacity}"
            )
        for name, array in self.data.items():
            array[...] = 0
            array[:size] = _like(state["data"][name], array)
        self.lengths[...] = 0
        self.lengths[:size] = _like(state["lengths"], self.lengths)
        self.ptr, self.size = int(state["ptr"]), size


class ReplayCollector:
    """What a learner that writes episodes into replay shares: paying for gradient updates with env
    steps, and what it keeps between iterations, checkpointed alike
    by the value learners and MADDPG: reward statistics, the numpy generator, the replay and the
    episodes being written, the env core with its current observations and per-agent flags, the
    update credit and the counters. The learner sets these attributes in its ``__init__``."""

    def update_from_replay(self, new_env_steps: int) -> dict[str, float]:
        """The gradient updates (``self._update()``, the learner's own) that ``new_env_steps``
        freshly recorded env steps pay for (one per ``env_steps_per_update``, none while the buffer
        fills); the mean ``losses/*`` over them. ``train_iteration`` calls it after collecting; so
        does MANSA after ``record_step``."""
        cfg = self.cfg
        self._update_credit += new_env_steps / cfg.env_steps_per_update
        if len(self.replay) < cfg.batch_size:
            self._update_credit = 0.0  # no backlog of updates while the buffer fills
        totals: dict[str, Any] = {}
        count = 0
        while self._update_credit >= 1.0:
            self._update_credit -= 1.0
            for k, v in self._update().items():
                totals[k] = totals.get(k, 0.0) + v
            count += 1
        return {f"losses/{k}": float(v) / count for k, v in totals.items()}

    def collector_state(self) -> dict[str, Any]:
        return {
            "reward_norm": self.reward_norm.state_dict() if self.reward_norm is not None else None,
            "rng": self.rng.get_state()
            if isinstance(self.rng, torch.Generator)
            else self.rng.bit_generator.state,
            "replay": self.replay.state_dict(),
            "writer": self.writer.state_dict(),
            "env": self.env,
            "obs": self._obs,
            "agent_done": _host(self._agent_done),
            "hidden": self._hidden.cpu(),
            "update_credit": self._update_credit,
            "env_steps": self.env_steps,
            "updates": self.updates,
            "gradient_updates": self.gradient_updates,
        }

    def load_collector_state(self, state: dict[str, Any]) -> None:
        if self.reward_norm is not None:
            self.reward_norm.load_state_dict(state["reward_norm"])
        if isinstance(self.rng, torch.Generator):
            self.rng.set_state(state["rng"])
        else:
            self.rng.bit_generator.state = state["rng"]
        self.replay.load_state_dict(state["replay"])
        self.writer.load_state_dict(state["writer"])
        self.env = state["env"]
        self._obs = state["obs"]
        self._agent_done = _like(state["agent_done"], self._agent_done)
        self._hidden = state["hidden"].to(self.device)
        self._update_credit = float(state["update_credit"])
        self.env_steps = int(state["env_steps"])
        self.updates = int(state["updates"])
        self.gradient_updates = int(state["gradient_updates"])
