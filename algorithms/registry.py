"""The algorithm registry: a plain dict from name to (config dataclass, learner class).

Capability flags live on the learner class (:class:`algorithms.base.Learner`), so code that
picks pairs (train.py, tests, the leaderboard) can ask ``ALGORITHMS[name][1].on_policy`` etc.
"""

from __future__ import annotations

from algorithms.base import AlgoConfig, Learner
from envs.hints import closest

#: name -> (config dataclass, learner class)
ALGORITHMS: dict[str, tuple[type[AlgoConfig], type[Learner]]] = {}


def register_algorithm(name: str, config_cls: type[AlgoConfig], learner_cls: type[Learner]) -> None:
    """Add a learner under ``name``; its config's ``name`` field must default to ``name``."""
    if name in ALGORITHMS:
        raise ValueError(f"algorithm {name!r} is already registered")
    if config_cls().name != name:
        raise ValueError(
            f"{config_cls.__name__}.name defaults to {config_cls().name!r}, expected {name!r}"
        )
    ALGORITHMS[name] = (config_cls, learner_cls)


def get_algorithm(name: str) -> tuple[type[AlgoConfig], type[Learner]]:
    """The (config, learner) pair for ``name``; an unknown name is refused naming the closest."""
    if name not in ALGORITHMS:
        close = closest(name, ALGORITHMS, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise KeyError(f"unknown algorithm {name!r}; {hint}registered: {sorted(ALGORITHMS)}")
    return ALGORITHMS[name]
