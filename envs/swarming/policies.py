"""The scripted Vicsek rule: turn to the mean aligned angle of one's neighbourhood.

The classic rule of Vicsek et al. (1995) sets each heading to the mean heading of the
agents within ``r`` (itself included); the env then adds the noise. Here the rule is
expressed as the env's action: the turn that lands the aligned angle on that mean
(after the natural frequency, for Kuramoto phases), clipped to ``max_turn`` and, for
discrete actions, rounded to the nearest turn of the table. It is the reference the
learners are compared with, and a policy the render command can play (both forms are
registered as the family's scripted policies, ``vicsek`` first). Two forms:

- :func:`vicsek_actions` reads the exact angles from the core: the reference rule.
- :class:`VicsekPolicy` acts from observations alone (the binned histogram), like a
  learned policy, so it plugs into observation-driven evaluation. On the default task it
  orders the flock almost as well (mean order about 0.98 against 0.985 at noise 0.5).
"""

from __future__ import annotations

import numpy as np

from envs.scripted import register_scripted
from envs.swarming.core import SwarmingCore, wrap_angle


def vicsek_turns(core: SwarmingCore) -> np.ndarray:
    """The unclipped turn ``[B, N]`` (radians) that aligns each agent with its neighbourhood."""
    target, _ = core.local_mean_angle()
    return wrap_angle(target - core.aligned_angles - core.frequencies)


def vicsek_actions(core: SwarmingCore) -> np.ndarray:
    """Joint actions of the Vicsek rule in ``core``'s action format.

    Returns ``[B, N]`` int64 turn indices for discrete actions, ``[B, N, 1]`` float32 turns
    for continuous ones; ready for ``core.step``.
    """
    return _to_actions(vicsek_turns(core), core)


def _to_actions(turn: np.ndarray, env) -> np.ndarray:
    """Clip turns to ``max_turn`` and put them in ``env``'s action format."""
    turn = np.clip(turn, -env.max_turn, env.max_turn)
    if env.actions == "continuous":
        return turn[..., None].astype(np.float32)
    spacing = 2 * env.max_turn / (env.num_turns - 1)
    return np.clip(np.rint((turn + env.max_turn) / spacing), 0, env.num_turns - 1).astype(np.int64)


class VicsekPolicy:
    """The Vicsek rule read from observations alone: ``obs [..., D] -> actions [...]``.

    The observation holds the neighbours' relative angles only as a histogram, so the rule
    aligns to the mean of the bin centres, weighted by the counts, with the agent itself
    at relative angle 0 (and, for Kuramoto, subtracts the observed natural frequency). It
    is therefore a little coarser than :func:`vicsek_actions`, which reads the exact angles,
    but it acts like a learned policy would: from what one agent observes, in any batch
    shape. Built from a :class:`SwarmingCore` or the PettingZoo view of one.
    """

    def __init__(self, env):
        self.bins = env.obs_bins
        self.expected_neighbours = env.expected_neighbours
        self.kuramoto = env.model == "kuramoto"
        self.env = env
        self._centres = np.exp(2j * np.pi * np.arange(self.bins) / self.bins)  # [K] bin centres

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        counts = obs[..., self.bins] * self.expected_neighbours
        mean = 1.0 + counts * (obs[..., : self.bins] @ self._centres)  # [...] self + neighbours
        turn = np.angle(mean)
        if self.kuramoto:
            turn = turn - obs[..., self.bins + 1]
        return _to_actions(turn, self.env)


def _observed(core):
    policy = VicsekPolicy(core)
    return lambda obs, _core: policy(obs)


register_scripted("envs.swarming", "vicsek", lambda core: lambda obs, c: vicsek_actions(c))
register_scripted("envs.swarming", "vicsek-observed", _observed)
