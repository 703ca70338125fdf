"""What each donor observes, and the global state of the donor game (DESIGN 2.4).

The vector layout is documented in :mod:`envs.donor.core` ("Observations"); this module
builds it: the observation space with a slice per named part (``DonorCore.obs_slices``),
the observations ``[B, N, D]`` and the state ``[B, 4N + 1]`` from the core's arrays.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.donor.norms import Norm


class DonorObserver:
    """Builds the donor game's observations and state for one configuration.

    Args:
        norm: the social norm (turns stored reputations into values in [-1, 1]).
        score_bound: image scoring's score bound.
        start_resources: resources at the start (the scale of the log-resources entry).
        num_rounds: rounds per episode (the scale of the round entry).
        observe_reputation: include the recipient's reputation.
        trace_length: k, the recipient's last k decisions (0 for none).
        trace_channels: values per trace slot (2, or 3 with punishment).
        generation_length: rounds per generation, or None without generations.
        observe_resources: include the agent's own log resources.
        observe_round: include the round fraction (and the round within the generation).
    """

    def __init__(
        self,
        norm: Norm,
        score_bound: int,
        start_resources: float,
        num_rounds: int,
        observe_reputation: bool,
        trace_length: int,
        trace_channels: int,
        generation_length: int | None,
        observe_resources: bool = True,
        observe_round: bool = True,
    ):
        self.norm = norm
        self.score_bound = score_bound
        self.start_resources = start_resources
        self.num_rounds = num_rounds
        self.observe_reputation = observe_reputation
        self.trace_length = trace_length
        self.generation_length = generation_length
        self.observe_resources, self.observe_round = observe_resources, observe_round
        low: list[float] = []
        high: list[float] = []
        #: The named parts of the observation vector.
        self.slices: dict[str, slice] = {}

        def add(name: str, lo: list[float], hi: list[float]) -> None:
            self.slices[name] = slice(len(low), len(low) + len(lo))
            low.extend(lo)
            high.extend(hi)

        if observe_reputation:
            add("reputation", [-1.0], [1.0])
        if trace_length:
            add(
                "trace",
                [0.0] * trace_length * trace_channels,
                [1.0] * trace_length * trace_channels,
            )
        if observe_resources:
            add("resources", [0.0], [np.inf])
        if observe_round:
            add("round", [0.0], [1.0])
            if generation_length is not None:
                add("generation_round", [0.0], [1.0])
        if not low:  # nothing observed: one constant, so that a policy is a fixed mixed action
            add("constant", [1.0], [1.0])
        #: One agent's observation space.
        self.space = gym.spaces.Box(
            np.array(low, dtype=np.float32), np.array(high, dtype=np.float32), dtype=np.float32
        )

    def observe(
        self,
        reputation: np.ndarray,
        recipients: np.ndarray,
        trace: np.ndarray,
        resources: np.ndarray,
        rounds: np.ndarray,
    ) -> np.ndarray:
        """Observations ``[B, N, D]`` from reputations, recipients, resources ``[B, N]``, the
        traces ``[B, N, k, C]`` and the rounds played ``[B]``."""
        b, n = resources.shape
        rows = np.arange(b)[:, None]
        parts = []
        if self.observe_reputation:
            rec_rep = reputation[rows, recipients]
            parts.append(self.norm.value(rec_rep, self.score_bound)[..., None])
        if self.trace_length:
            parts.append(trace[rows, recipients].reshape(b, n, -1))
        if self.observe_resources:
            parts.append(np.log2(1.0 + resources / self.start_resources)[..., None])
        if self.observe_round:
            parts.append(np.repeat((rounds / self.num_rounds)[:, None, None], n, axis=1))
            if self.generation_length is not None:
                in_generation = (rounds % self.generation_length) / self.generation_length
                parts.append(np.repeat(in_generation[:, None, None], n, axis=1))
        if not parts:
            parts.append(np.ones((b, n, 1)))
        return np.concatenate(parts, axis=2).astype(np.float32)

    def state(
        self,
        reputation: np.ndarray,
        recipients: np.ndarray,
        resources: np.ndarray,
        rounds: np.ndarray,
    ) -> np.ndarray:
        """``[B, 4N + 1]``: per agent (log resources, reputation value, its recipient's
        reputation value, its recipient's log resources), then the round fraction."""
        b = resources.shape[0]
        rows = np.arange(b)[:, None]
        log_res = np.log2(1.0 + resources / self.start_resources)
        rep = self.norm.value(reputation, self.score_bound)
        per_agent = np.stack(
            [log_res, rep, rep[rows, recipients], log_res[rows, recipients]],
            axis=2,
        )
        fraction = (rounds / self.num_rounds)[:, None]
        return np.concatenate([per_agent.reshape(b, -1), fraction], axis=1).astype(np.float32)
