"""Hyperparameter sweeps in a grid file: a list of values per train.py key, crossed.

A grid's ``sweep`` (every algorithm) and an algorithm entry's own ``sweep`` map train.py keys
to lists of values; every combination of one value per key becomes an algorithm entry of its
own, so each is a column of the leaderboard and has its own runs::

    sweep: {algo.gamma: [0.95, 0.99]}            # crossed with every algorithm below
    algorithms:
      - ippo                                     # ippo[gamma=0.95], ippo[gamma=0.99]
      - name: mappo                              # 2 x 2 x 2 = 8 mappo columns
        sweep: {algo.lr: [1.0e-4, 3.0e-4], algo.ent_coef: [0.0, 0.01]}

A key both sweeps name takes the algorithm's values. The label adds each swept key (without
its ``algo.`` prefix) and value to the algorithm's label, in the order the keys are written.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any


def _value_text(value: Any) -> str:
    """A value as train.py's ``key=value`` reads it back (strings as they are)."""
    return value if isinstance(value, str) else json.dumps(value)


def _label_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else _value_text(value)


def combinations(sweep: Any, where: str) -> list[tuple[tuple[str, ...], str]]:
    """``(overrides, label suffix)`` of every combination of ``sweep`` (the last key varying
    fastest); ``[((), "")]`` for no sweep. Raises ValueError naming ``where`` and the key."""
    if sweep is None or sweep == {}:
        return [((), "")]
    if not isinstance(sweep, Mapping):
        raise ValueError(f"{where}: sweep must map train.py keys to lists of values, got {sweep!r}")
    for key, values in sweep.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(
                f"{where}: sweep key {key} must list its values (e.g. {key}: [a, b]), got {values!r}"
            )
        texts = [_value_text(v) for v in values]
        repeated = sorted({t for t in texts if texts.count(t) > 1})
        if repeated:
            raise ValueError(f"{where}: sweep key {key} lists {', '.join(repeated)} more than once")
    keys = list(sweep)
    out = []
    for values in itertools.product(*(sweep[k] for k in keys)):
        overrides = tuple(f"{k}={_value_text(v)}" for k, v in zip(keys, values))
        label = ",".join(
            f"{k.removeprefix('algo.')}={_label_text(v)}" for k, v in zip(keys, values)
        )
        out.append((overrides, label))
    return out


def merged(common: Any, own: Any, where: str) -> dict[str, Any] | None:
    """The grid's sweep with an algorithm's own on top (its values win for a shared key)."""
    for sweep, name in ((common, "sweep"), (own, f"{where}: sweep")):
        if sweep is not None and not isinstance(sweep, Mapping):
            raise ValueError(f"{name} must map train.py keys to lists of values, got {sweep!r}")
    if not common and not own:
        return None
    return {**(common or {}), **(own or {})}
