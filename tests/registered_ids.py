"""The registered env ids as test parameters for the tests that run every id.

An id whose backend needs an optional extra skips, naming the extra, when that extra is not
installed (the SUMO ids without ``marlgym[sumo]``), and runs when it is. ``FAST_KWARGS`` keep
the ids whose every day is a simulator run (about a second) to a few days.
"""

from __future__ import annotations

import pytest

import envs
from envs.routing.urb_sumo import UrbSumoCore, sumo_installed

needs_sumo = pytest.mark.skipif(
    not sumo_installed(),
    reason="SUMO is not installed (pip install 'marlgym[sumo]' or set SUMO_HOME)",
)


def uses_sumo(env_id: str) -> bool:
    """Whether ``env_id`` runs on the SUMO backend."""
    core = envs.spec(env_id)[0].core
    return isinstance(core, type) and issubclass(core, UrbSumoCore)


SUMO_IDS = tuple(i for i in envs.list_envs() if uses_sumo(i))
#: per-id keyword arguments for the generic tests: one human-learning day in SUMO
FAST_KWARGS = {i: {"human_learning_days": 1} for i in SUMO_IDS}


def id_params(ids: list[str]) -> list:
    """``ids`` as pytest parameters, each SUMO id marked to skip without SUMO."""
    return [pytest.param(i, marks=needs_sumo) if uses_sumo(i) else i for i in ids]
