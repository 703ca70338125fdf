"""Checks of the swarming cores' keyword arguments: each returns the value or raises one error
that names the argument and what it allows."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

TWO_PI = 2.0 * np.pi


def real(
    name: str, value, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    """``value`` as a float, or an error naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    allowed = []
    if low is not None:
        allowed.append(f"> {low:g}" if low_open else f">= {low:g}")
    if high is not None:
        allowed.append(f"<= {high:g}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(f"{name} must be a finite number {' and '.join(allowed)}, got {value!r}")
    return float(value)


def integer(name: str, value, low: int) -> int:
    """``value`` as an int, or an error naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def noise_range(value) -> tuple[float, float]:
    """``noise`` as ``(low, high)``: a number ``eta`` is ``(eta, eta)``; a pair ``[low, high]``
    needs ``0 <= low <= high <= 2 pi``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        eta = real("noise", value, low=0.0, high=TWO_PI)
        return eta, eta
    if len(value) != 2:
        raise ValueError(f"noise must be a number or a pair [low, high], got {value!r}")
    low, high = (real("noise", v, low=0.0, high=TWO_PI) for v in value)
    if low > high:
        raise ValueError(f"noise [low, high] needs low <= high, got {list(value)!r}")
    return low, high
