"""The env registry: ``make``, ``make_vec``, ``register``, ``list_envs`` (DESIGN 1).

An entry is either a batched core class (the fast path: ``make_vec`` returns the core,
``make`` a PettingZoo view over a one-copy core) or any factory of PettingZoo
``ParallelEnv`` (the generic path: ``make_vec`` steps B copies behind the batched
interface). Families may also register *aliases*: a regular expression over ids that maps
a name such as ``Foraging-8x8-2p-2f-coop-v3`` to an entry plus keyword arguments, so
published names work while parameters stay keyword arguments.

Each family also registers its scripted reference policies (``register_scripted``, looked up
with ``scripted_policies(core)``; see :mod:`envs.scripted`).

Our own ids are mirrored into PettingZoo's registry under the ``marlgym/`` namespace, so
``pettingzoo.make("parallel", "marlgym/foraging-v0")`` works too.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pettingzoo import ParallelEnv

from envs.core import BatchedCore
from envs.generic import ParallelEnvBatch
from envs.hints import closest
from envs.parallel_view import ParallelView
from envs.scripted import register_scripted, scripted_policies

__all__ = [
    "BatchedCore",
    "EnvSpec",
    "ParallelView",
    "ParallelEnvBatch",
    "make",
    "make_vec",
    "register",
    "register_alias",
    "register_scripted",
    "scripted_policies",
    "register_torch_core",
    "has_torch_core",
    "torch_core_ids",
    "list_envs",
    "spec",
    "import_env_modules",
    "add_import_option",
]


@dataclass(frozen=True)
class EnvSpec:
    """What the registry knows of one id: how to build it and its default keyword arguments."""

    id: str
    core: type[BatchedCore] | Callable[..., BatchedCore] | None = None
    parallel: Callable[..., ParallelEnv] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def batched(self) -> bool:
        return self.core is not None


@dataclass(frozen=True)
class _Alias:
    pattern: re.Pattern
    resolve: Callable[[re.Match], tuple[str, dict[str, Any]]]
    examples: tuple[str, ...]


_REGISTRY: dict[str, EnvSpec] = {}
_ALIASES: list[_Alias] = []


def register(
    env_id: str,
    core: type[BatchedCore] | Callable[..., BatchedCore] | None = None,
    *,
    parallel: Callable[..., ParallelEnv] | None = None,
    kwargs: dict[str, Any] | None = None,
    description: str = "",
    override: bool = False,
    pettingzoo_namespace: str | None = None,
) -> EnvSpec:
    """Register an env under ``env_id``.

    Args:
        env_id: the id, e.g. ``"my-env-v0"``.
        core: a batched core class (or factory) called as ``core(num_envs=B, **kwargs)``.
        parallel: a factory of a PettingZoo ParallelEnv, called as ``parallel(**kwargs)``
            (and with ``render_mode=`` when one is asked for). Give exactly one of the two.
        kwargs: default keyword arguments, overridden by those given to ``make``.
        override: allow replacing an existing id.
        pettingzoo_namespace: if set, also register ``<namespace>/<env_id>`` in PettingZoo's
            registry.
    """
    if (core is None) == (parallel is None):
        raise ValueError(
            "register() needs exactly one of core= (a batched core) or parallel= (a ParallelEnv factory)"
        )
    if env_id in _REGISTRY and not override:
        raise ValueError(
            f"env id {env_id!r} is already registered (pass override=True to replace it)"
        )
    entry = EnvSpec(
        env_id, core=core, parallel=parallel, kwargs=dict(kwargs or {}), description=description
    )
    _REGISTRY[env_id] = entry
    if pettingzoo_namespace:
        _register_in_pettingzoo(f"{pettingzoo_namespace}/{env_id}", env_id)
    return entry


def register_alias(
    pattern: str,
    resolve: Callable[[re.Match], tuple[str, dict[str, Any]]],
    examples: tuple[str, ...] = (),
    pettingzoo_ids: Sequence[str] = (),
    pettingzoo_namespace: str | None = None,
) -> None:
    """Accept every id matching ``pattern`` (a full-match regex) as an alias.

    ``resolve(match)`` returns ``(registered_id, kwargs)``; ``examples`` are shown in
    ``list_envs(aliases=True)`` and in unknown-id errors. PettingZoo's registry takes names, not
    patterns: ``pettingzoo_ids`` (matching ids) are registered there as ``<namespace>/<id>``.
    """
    compiled = re.compile(pattern)
    stray = [i for i in pettingzoo_ids if not compiled.fullmatch(i)]
    if stray:
        raise ValueError(f"{stray[0]!r} does not match the alias pattern {pattern!r}")
    _ALIASES.append(_Alias(compiled, resolve, tuple(examples)))
    for alias_id in pettingzoo_ids if pettingzoo_namespace else ():
        _register_in_pettingzoo(f"{pettingzoo_namespace}/{alias_id}", alias_id)


def spec(env_id: str) -> tuple[EnvSpec, dict[str, Any]]:
    """Resolve ``env_id`` (an id or an alias) to its spec and the kwargs the alias implies."""
    if env_id in _REGISTRY:
        return _REGISTRY[env_id], {}
    for alias in _ALIASES:
        match = alias.pattern.fullmatch(env_id)
        if match:
            target, kwargs = alias.resolve(match)
            return _REGISTRY[target], kwargs
    candidates = list(_REGISTRY) + [e for a in _ALIASES for e in a.examples]
    close = closest(env_id, candidates, n=5, cutoff=0.4)
    hint = f"closest registered ids: {close}" if close else f"registered ids: {sorted(_REGISTRY)}"
    raise KeyError(f"unknown env id {env_id!r}; {hint} (list_envs() lists them all)")


def make(
    env_id: str, render_mode: str | None = None, action_masks: bool = False, **kwargs
) -> ParallelEnv:
    """A PettingZoo ParallelEnv for ``env_id``.

    Args:
        env_id: a registered id or alias.
        render_mode: None, ``"rgb_array"`` or ``"human"``.
        action_masks: batched-core envs only: observations become
            ``{"observation", "action_mask"}`` dicts.
        **kwargs: override the registered keyword arguments.
    """
    entry, alias_kwargs = spec(env_id)
    merged = {**entry.kwargs, **alias_kwargs, **kwargs}
    if entry.batched:
        core = entry.core(num_envs=1, autoreset=False, render_mode=render_mode, **merged)
        return ParallelView(core, action_masks=action_masks)
    if render_mode is not None:
        merged["render_mode"] = render_mode
    return entry.parallel(**merged)


def make_vec(env_id: str, num_envs: int = 1, device: str | None = None, **kwargs) -> BatchedCore:
    """The batched core for ``env_id`` with ``num_envs`` copies (auto-resetting).

    A batched-core entry is built directly; a ParallelEnv entry is wrapped in
    :class:`~envs.generic.ParallelEnvBatch`. With ``device`` (``"cuda"``, ``"cuda:k"`` or
    ``"cpu"``) the family's torch core is built instead (:mod:`envs.torch_core`), tensors on
    that device; without it the numba/numpy core is the default.
    """
    entry, alias_kwargs = spec(env_id)
    merged = {**entry.kwargs, **alias_kwargs, **kwargs}
    if device is not None:
        return _torch_core(entry.id)(num_envs=num_envs, device=device, **merged)
    if entry.batched:
        return entry.core(num_envs=num_envs, **merged)
    render_mode = merged.pop("render_mode", None)
    autoreset = merged.pop("autoreset", True)
    return ParallelEnvBatch(
        lambda **kw: entry.parallel(**merged, **kw),
        num_envs,
        autoreset=autoreset,
        render_mode=render_mode,
    )


# registered id -> "module:Class" of its torch core, imported only when asked for
_TORCH_CORES: dict[str, str] = {}


def register_torch_core(env_id: str, target: str) -> None:
    """Give the registered ``env_id`` a torch core: ``target`` is ``"module:Class"``."""
    _TORCH_CORES[env_id] = target


def has_torch_core(env_id: str) -> bool:
    """True when the registered id or alias ``env_id`` has a torch core (``make_vec(device=)``)."""
    return spec(env_id)[0].id in _TORCH_CORES


def torch_core_ids() -> list[str]:
    """The registered ids with a torch core."""
    return sorted(_TORCH_CORES)


def _torch_core(env_id: str) -> Callable[..., Any]:
    """The torch core class of a registered id, or an error naming the ids that have one."""
    if env_id not in _TORCH_CORES:
        raise ValueError(
            f"env {env_id!r} has no torch core (device=...); torch cores exist for "
            f"{sorted(_TORCH_CORES)} and their aliases. Leave device unset for the numpy core."
        )
    module, name = _TORCH_CORES[env_id].split(":")
    return getattr(importlib.import_module(module), name)


def list_envs(aliases: bool = False) -> list[str]:
    """The registered ids (sorted); with ``aliases=True`` also an example of each alias family."""
    ids = sorted(_REGISTRY)
    if aliases:
        ids += [e for a in _ALIASES for e in a.examples]
    return ids


def add_import_option(parser: argparse.ArgumentParser, what: str = "first") -> None:
    """The ``--import MODULE`` option of the command lines that take a user's env (train.py,
    the render command, the leaderboard); :func:`import_env_modules` imports what it collects."""
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help=f"import MODULE {what} (it registers your env, see the README); repeatable",
    )


def import_env_modules(modules: Sequence[str], workdir: str | None = None) -> None:
    """Import the modules that register a user's envs (train.py, the render command and the
    leaderboard's ``--import``), finding them in ``workdir`` (default: the current directory)
    as ``python -m`` would; a module that cannot be found is named in the error."""
    workdir = os.getcwd() if workdir is None else workdir
    if os.path.isdir(workdir) and workdir not in sys.path:
        sys.path.insert(0, workdir)
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module.split(".")[0] and err.name != module:
                raise  # the module exists; something it imports does not
            raise ModuleNotFoundError(
                f"cannot import env module {module!r} (looked in {workdir} and on sys.path)",
                name=err.name,
            ) from None


def _register_in_pettingzoo(pz_id: str, env_id: str) -> None:
    import pettingzoo

    if pz_id in pettingzoo.parallel_registry:
        return

    def factory(**kwargs):
        return make(env_id, **kwargs)

    pettingzoo.register("parallel", pz_id, entry_point=factory)


# The families register themselves on import.
from envs import donor, foraging, routing, swarming  # noqa: E402,F401
