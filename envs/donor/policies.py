"""Scripted reference policies for the donor game, acting from observations alone.

They are the classic strategies of indirect-reciprocity studies and serve as baselines for
learners and as fixtures in tests. Each is built from a donor core (or the PettingZoo view,
which forwards the attributes they read) and maps observations ``[..., obs_dim]`` to actions
``[...]``, so the same object drives a batched core (``[B, N, D]``) or one agent.

- :class:`AlwaysCooperate` donates the largest level every round (ALLC).
- :class:`AlwaysDefect` donates nothing (ALLD).
- :class:`Discriminator` donates the largest level to recipients in good standing and
  nothing (or punishes, if asked) to the others (DISC).
- :class:`TraceReciprocator` donates the level closest to the fraction its recipient donated
  last time (a fully cooperative first move); it needs the trace.
- :class:`RandomPolicy` picks uniform random actions (seeded).
- :class:`Mixture` assigns a policy to each agent: mixed populations.

The first four are the family's scripted policies (:func:`envs.register_scripted`), which
the render command plays with ``--policy scripted:<name>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from envs.scripted import register_scripted


class DonorPolicy(Protocol):
    def __call__(self, obs: np.ndarray) -> np.ndarray: ...


class _Levels:
    """The action indices the scripted policies need, read from a core's parameters."""

    def __init__(self, core):
        levels = np.asarray(core.donation_levels)
        self.levels = levels
        self.most = int(np.argmax(levels))
        self.least = int(np.argmin(levels))
        self.punish = core.punish_action
        self.slices = core.obs_slices


class AlwaysCooperate:
    """Donate the largest donation level to everyone."""

    def __init__(self, core):
        self._levels = _Levels(core)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.full(np.shape(obs)[:-1], self._levels.most, dtype=np.int64)


class AlwaysDefect:
    """Donate the smallest donation level (nothing, with the default levels) to everyone."""

    def __init__(self, core):
        self._levels = _Levels(core)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.full(np.shape(obs)[:-1], self._levels.least, dtype=np.int64)


class Discriminator:
    """Donate the largest level to recipients in good standing; defect (or punish) otherwise.

    Good standing is read from the observed reputation: +1 for the binary norms, a score
    >= 0 under image scoring (value >= 0 in both cases).

    Args:
        core: the env (needs ``observe_reputation=True``).
        punish_bad: punish recipients in bad standing instead of defecting (needs
            ``punishment=True``).
    """

    def __init__(self, core, punish_bad: bool = False):
        self._levels = _Levels(core)
        if "reputation" not in self._levels.slices:
            raise ValueError(
                "Discriminator reads reputations: build the env with observe_reputation=True"
            )
        if punish_bad and self._levels.punish is None:
            raise ValueError(
                "Discriminator(punish_bad=True) needs an env built with punishment=True"
            )
        self._bad_action = self._levels.punish if punish_bad else self._levels.least

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        reputation = np.asarray(obs)[..., self._levels.slices["reputation"]][..., 0]
        return np.where(reputation >= 0, self._levels.most, self._bad_action).astype(np.int64)


class TraceReciprocator:
    """Return the recipient's last donated fraction (closest level); cooperate fully first."""

    def __init__(self, core):
        self._levels = _Levels(core)
        if "trace" not in self._levels.slices:
            raise ValueError(
                "TraceReciprocator reads the trace: build the env with trace_length >= 1"
            )

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        trace = np.asarray(obs)[..., self._levels.slices["trace"]]
        present, fraction = trace[..., 0], trace[..., 1]  # the most recent decision comes first
        closest = np.abs(fraction[..., None] - self._levels.levels).argmin(axis=-1)
        return np.where(present > 0, closest, self._levels.most).astype(np.int64)


class RandomPolicy:
    """Uniform random actions from its own seeded generator."""

    def __init__(self, core, seed: int | None = None):
        self._n = int(core.action_space.n)
        self._rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self._rng.integers(self._n, size=np.shape(obs)[:-1])


class Mixture:
    """Agent i follows ``assignment[i]``; observations must be ``[..., N, obs_dim]``."""

    def __init__(self, assignment: Sequence[DonorPolicy]):
        self._assignment = list(assignment)
        self._distinct = list({id(p): p for p in self._assignment}.values())

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.shape[-2] != len(self._assignment):
            raise ValueError(
                f"Mixture has {len(self._assignment)} agents, observations have {obs.shape[-2]}"
            )
        by_policy = {id(p): p(obs) for p in self._distinct}
        columns = [by_policy[id(p)][..., i] for i, p in enumerate(self._assignment)]
        return np.stack(columns, axis=-1)


def _scripted(cls):
    def build(core):
        policy = cls(core)
        return lambda obs, _core: policy(obs)

    return build


for _name, _cls in (
    ("always-cooperate", AlwaysCooperate),
    ("always-defect", AlwaysDefect),
    ("discriminator", Discriminator),
    ("trace-reciprocator", TraceReciprocator),
):
    register_scripted("envs.donor", _name, _scripted(_cls))
