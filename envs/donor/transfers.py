"""What one round does to resources: donations, execution errors and costly punishment,
and the checks of the parameters that govern them.

All transfers of a round are computed from the resources at the start of the round and
applied together (see "Actions" in :mod:`envs.donor.core`): ``new = max(0, old - donated -
punishment cost + multiplier * received - fines)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


def check_economy(
    start_resources: float,
    donation_levels: Sequence[float],
    multiplier: float,
    execution_error: float,
    punishment: bool,
    punish_fraction: float,
    punish_fine: float,
) -> np.ndarray:
    """Check the parameters of the transfers (see "Arguments" in :mod:`envs.donor.core`);
    return the donation levels as an array. Raises ValueError naming the parameter."""
    if not np.isfinite(multiplier) or multiplier < 1:
        raise ValueError(
            f"multiplier must be a finite number >= 1 (donating must not destroy value), "
            f"got {multiplier!r}"
        )
    if not np.isfinite(start_resources) or start_resources <= 0:
        raise ValueError(f"start_resources must be a positive number, got {start_resources!r}")
    if not 0.0 <= float(execution_error) <= 1.0:
        raise ValueError(
            f"execution_error is a probability and must lie in [0, 1], got {execution_error!r}"
        )
    levels = np.asarray(donation_levels, dtype=np.float64)
    if (
        levels.ndim != 1
        or levels.size == 0
        or np.any(~np.isfinite(levels))
        or np.any(levels < 0)
        or np.any(levels > 1)
        or np.unique(levels).size != levels.size
    ):
        raise ValueError(
            f"donation_levels must be a non-empty sequence of distinct fractions in [0, 1], "
            f"got {donation_levels!r}"
        )
    if punishment:
        if not 0 < punish_fraction <= 1:
            raise ValueError(f"punish_fraction must lie in (0, 1], got {punish_fraction!r}")
        if not np.isfinite(punish_fine) or punish_fine < 0:
            raise ValueError(f"punish_fine must be a finite number >= 0, got {punish_fine!r}")
    return levels


class RoundOutcome(NamedTuple):
    """The result of one round in every copy, each ``[B, N]`` indexed by donor."""

    resources: np.ndarray  #: resources after the round
    chose_donation: np.ndarray  #: the donor chose a positive donation level (intent)
    donated: np.ndarray  #: the fraction actually donated (after execution errors)
    punished: np.ndarray  #: the donor punished its recipient


def play_round(
    actions: np.ndarray,
    resources: np.ndarray,
    recipients: np.ndarray,
    fractions: np.ndarray,
    execution_uniforms: np.ndarray,
    *,
    execution_error: float,
    multiplier: float,
    punish_action: int | None = None,
    punish_fraction: float = 0.0,
    punish_fine: float = 0.0,
) -> RoundOutcome:
    """Play one round of every copy.

    Args:
        actions: ``[B, N]`` each donor's action.
        resources: ``[B, N]`` resources at the start of the round.
        recipients: ``[B, N]`` each donor's recipient.
        fractions: ``[A]`` the fraction each action donates (0 for the punishment action).
        execution_uniforms: ``[B, N]`` uniforms; below ``execution_error`` a chosen positive
            donation becomes nothing.
        execution_error: the probability of that error.
        multiplier: what the recipient gets per unit donated.
        punish_action: the action that punishes, None without punishment.
        punish_fraction: the share of its resources a punishing donor pays.
        punish_fine: the recipient loses ``punish_fine`` times what the donor paid.
    """
    b, n = resources.shape
    chosen = fractions[actions]  # [B, N] intended fraction
    chose_donation = chosen > 0
    donated = np.where(chose_donation & (execution_uniforms < execution_error), 0.0, chosen)
    gift = donated * resources  # [B, N] what each donor gives up
    flat = (recipients + np.arange(b)[:, None] * n).ravel()  # recipients in [B * N]
    received = np.bincount(flat, weights=(multiplier * gift).ravel(), minlength=b * n).reshape(b, n)
    new_resources = resources - gift + received
    if punish_action is not None:
        punished = actions == punish_action
        cost = np.where(punished, punish_fraction * resources, 0.0)
        fines = np.bincount(flat, weights=(punish_fine * cost).ravel(), minlength=b * n).reshape(
            b, n
        )
        new_resources -= cost + fines
        np.maximum(new_resources, 0.0, out=new_resources)
    else:
        punished = np.zeros((b, n), dtype=bool)
    return RoundOutcome(new_resources, chose_donation, donated, punished)
