"""Checks of the donor core's integer and probability arguments: each raises one error that
names the argument and what it allows (the economy's are in :mod:`envs.donor.transfers`)."""

from __future__ import annotations

import numpy as np


def check_int(name: str, value, minimum: int, maximum: int | None = None) -> None:
    """Refuse ``value`` unless it is an integer in ``[minimum, maximum]``."""
    upper = "" if maximum is None else f" and <= {maximum}"
    too_high = maximum is not None and not isinstance(value, bool) and value > maximum
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
        or too_high
    ):
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {value!r}")


def check_counts(
    num_agents, num_rounds, score_bound, trace_length, generation_length, seeded_discriminators
) -> None:
    """The population, episode and observation sizes."""
    check_int("num_agents", num_agents, 2)
    check_int("num_rounds", num_rounds, 1)
    check_int("score_bound", score_bound, 1)
    check_int("trace_length", trace_length, 0)
    if generation_length is not None:
        check_int("generation_length", generation_length, 1)
    check_int(
        "seeded_discriminators (scripted seats; at least one agent must remain)",
        seeded_discriminators,
        0,
        int(num_agents) - 1,
    )


def check_probability(name: str, value) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} is a probability and must lie in [0, 1], got {value!r}")
    return float(value)
