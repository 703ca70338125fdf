"""The donor game's reset options: a scenario set up in every copy being reset.

``reset(options={...})`` may fix ``resources`` and ``reputation`` (arrays broadcastable to
``[N]``), ``recipients`` (``[N]``, the first round's recipients) and ``seating`` (``[N]``
permutation, round-robin pairing only); see :mod:`envs.donor.core`. This module checks
them and returns the arrays to write; unknown keys are ignored with a warning, as
gymnasium envs ignore them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from envs.donor.norms import Norm

RESET_OPTIONS = ("resources", "reputation", "recipients", "seating")


def check_reset_options(
    options: Mapping,
    shape: tuple[int, int],
    norm: Norm,
    score_bound: int,
    pairing: str,
) -> dict[str, np.ndarray]:
    """The validated options for ``shape = (copies being reset, N)``.

    Returns a dict with the keys given among :data:`RESET_OPTIONS`: ``resources`` (float,
    broadcast to ``shape``), ``reputation`` (int64, broadcast to ``shape``), ``seating`` and
    ``recipients`` (``[N]`` agent indices). Raises ValueError naming the option and what it
    accepts.
    """
    unknown = sorted(set(options) - set(RESET_OPTIONS), key=str)
    if unknown:  # ignored, as gymnasium envs do, but said out loud
        warnings.warn(
            f"ignoring unknown reset option(s) {unknown}; the donor game's options are "
            f"{list(RESET_OPTIONS)}",
            stacklevel=5,  # the caller of reset()
        )
    n = shape[1]
    checked: dict[str, np.ndarray] = {}
    if "resources" in options:
        value = _broadcast(options, "resources", shape, np.float64)
        if np.any(~np.isfinite(value)) or np.any(value < 0):
            raise ValueError("options['resources'] must be finite and >= 0")
        checked["resources"] = value
    if "reputation" in options:
        value = _broadcast(options, "reputation", shape, None)
        if value.dtype.kind not in "biuf":
            raise ValueError(
                f"options['reputation'] must be numbers, got {options['reputation']!r}"
            )
        if norm.kind == "binary":
            allowed, what = np.isin(value, (0, 1)), "0 (bad) or 1 (good)"
        else:
            allowed = (value == np.round(value)) & (np.abs(value) <= score_bound)
            what = f"integer scores in [-{score_bound}, {score_bound}]"
        if not np.all(allowed):
            raise ValueError(f"options['reputation'] under norm {norm.name!r} must be {what}")
        checked["reputation"] = value.astype(np.int64)
    if "seating" in options:
        if pairing != "round_robin":
            raise ValueError("options['seating'] needs pairing='round_robin'")
        seats = np.asarray(options["seating"])
        if seats.shape != (n,) or not np.array_equal(np.sort(seats), np.arange(n)):
            raise ValueError(f"options['seating'] must be a permutation of 0..{n - 1}")
        checked["seating"] = seats
    if "recipients" in options:
        rec = np.asarray(options["recipients"])
        if (
            rec.shape != (n,)
            or not np.issubdtype(rec.dtype, np.integer)
            or rec.min() < 0
            or rec.max() >= n
            or np.any(rec == np.arange(n))
        ):
            raise ValueError(
                f"options['recipients'] must be {n} agent indices in 0..{n - 1}, "
                f"none equal to its own position (no self-donation)"
            )
        checked["recipients"] = rec
    return checked


def _broadcast(options: Mapping, key: str, shape: tuple[int, int], dtype) -> np.ndarray:
    """``options[key]`` as an array broadcast to ``shape``; ValueError naming the option."""
    try:
        return np.broadcast_to(np.asarray(options[key], dtype=dtype), shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"options[{key!r}] must be a number or an array broadcastable to [N] = "
            f"({shape[1]},), got {options[key]!r}"
        ) from None
