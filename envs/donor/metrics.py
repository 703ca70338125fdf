"""The donor game's episode metrics (see "Episode metrics" in :mod:`envs.donor.core`).

Per copy, sums over the rounds of the current episode: decisions that chose to donate,
fractions actually donated, punishments, and the share of agents in good standing; plus
the cooperation rate of each round, which the renderer charts.
"""

from __future__ import annotations

import numpy as np


class EpisodeMetrics:
    """Running per-episode sums of ``num_envs`` copies."""

    def __init__(self, num_envs: int, num_rounds: int, punishment: bool):
        self.num_rounds = num_rounds
        self.punishment = punishment
        self.coop_count = np.zeros(num_envs)  # [B] decisions that chose a positive donation
        self.donated_sum = np.zeros(num_envs)  # [B] fractions actually donated
        self.punish_count = np.zeros(num_envs)  # [B] punishments
        self.good_sum = np.zeros(num_envs)  # [B] sum over rounds of the share in good standing
        self.coop_history = np.full((num_envs, num_rounds), np.nan)  # [B, T] per-round rate

    def reset(self, idx: np.ndarray) -> None:
        """Start new episodes in copies ``idx``."""
        for acc in (self.coop_count, self.donated_sum, self.punish_count, self.good_sum):
            acc[idx] = 0.0
        self.coop_history[idx] = np.nan

    def record(
        self,
        rounds: np.ndarray,
        chose_donation: np.ndarray,
        donated: np.ndarray,
        punished: np.ndarray,
        good: np.ndarray,
    ) -> None:
        """Add round ``rounds [B]`` (0-based) of every copy: the decisions ``[B, N]`` and
        who is in good standing after it ``[B, N]``."""
        b, n = chose_donation.shape
        coop_share = chose_donation.sum(axis=1) / n
        self.coop_history[np.arange(b), np.minimum(rounds, self.num_rounds - 1)] = coop_share
        self.coop_count += chose_donation.sum(axis=1)
        self.donated_sum += donated.sum(axis=1)
        self.punish_count += punished.sum(axis=1)
        self.good_sum += good.sum(axis=1) / n

    def summary(
        self, idx: np.ndarray, rounds: np.ndarray, resources: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The metrics of the episodes of copies ``idx``, given the rounds played ``[len(idx)]``
        and the final resources ``[len(idx), N]``."""
        played = np.maximum(rounds, 1)
        decisions = resources.shape[1] * played
        metrics = {
            "cooperation_rate": self.coop_count[idx] / decisions,
            "donated_fraction": self.donated_sum[idx] / decisions,
            "final_resources": resources.mean(axis=1),
            "good_reputation_share": self.good_sum[idx] / played,
        }
        if self.punishment:
            metrics["punishment_rate"] = self.punish_count[idx] / decisions
        return metrics
