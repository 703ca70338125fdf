"""Scripted reference policies, registered by each env family (and by users for their own envs).

A family's module registers its policies when it is imported (the Vicsek rule in
``envs/swarming/policies.py``, the donor game's classic strategies in
``envs/donor/policies.py``, routing's equilibrium routes in ``envs/routing/policies.py``), so
the render command (``--policy scripted[:name]``) and the benchmarks look them up here
instead of knowing the families. A user registers one for an env class of their own::

    envs.register_scripted(LampsCore, "always-first", lambda core: lambda obs, c: ...)

A builder takes the batched core the policy will drive (one copy for the render command) and
returns ``act(obs [B, N, ...], core) -> actions [B, N] (or [B, N, D])``; it may raise
ValueError saying what the env lacks (e.g. a trace to reciprocate).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from envs.generic import ParallelEnvBatch

#: ``act(obs [B, N, ...], core) -> actions [B, N] (or [B, N, D])``
ScriptedAct = Callable[[np.ndarray, Any], np.ndarray]
#: builds a scripted policy for a core (may raise ValueError saying what the env lacks)
ScriptedBuilder = Callable[[Any], ScriptedAct]

#: key (an env class, or a family package name) -> {policy name: builder}, in registration order
_SCRIPTED: dict[str | type, dict[str, ScriptedBuilder]] = {}


def register_scripted(key: str | type, name: str, builder: ScriptedBuilder) -> None:
    """Offer ``builder`` as scripted policy ``name`` (``--policy scripted:<name>``) for an env.

    Args:
        key: the env's class (a batched core, or the ParallelEnv of the generic path), or a
            family package name (e.g. ``"envs.swarming"``) for every env defined in it.
        name: the policy's name; the first registered for a key is its default.
        builder: ``builder(core) -> act(obs, core) -> actions`` for a batched core.
    """
    _SCRIPTED.setdefault(key, {})[name] = builder


def env_class(core: Any) -> type:
    """The class that defines the env: the core's, or the user's ParallelEnv behind the generic path."""
    wrapped = getattr(core, "envs", None)
    if isinstance(core, ParallelEnvBatch) and wrapped:
        return type(wrapped[0])
    return type(core)


def _family(cls: type) -> str:
    """The package a class lives in (``envs.swarming``), or its module for a top-level module."""
    return cls.__module__.rpartition(".")[0] or cls.__module__


def scripted_policies(core: Any) -> dict[str, ScriptedBuilder]:
    """The scripted policies available for ``core`` (name -> builder; the first is the default).

    Those of the env's family come first, then those registered for its class.
    """
    cls = env_class(core)
    return {**_SCRIPTED.get(_family(cls), {}), **_SCRIPTED.get(cls, {})}
