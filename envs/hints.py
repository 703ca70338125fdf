"""The "did you mean" hint of every error that refuses an unknown name (env ids, config keys, learners).

It lives in the lowest layer so that envs, agents, algorithms and the runs layer share it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.5) -> list[str]:
    """Up to ``n`` of ``choices`` closest to ``name`` (difflib's ratio of at least ``cutoff``)."""
    return difflib.get_close_matches(str(name), [str(c) for c in choices], n=n, cutoff=cutoff)


def closest_hint(name: str, choices: Iterable[str], valid: str = "valid keys") -> str:
    """``"; did you mean 'x'?"`` for the closest choice, else ``"; <valid>: a, b, ..."``."""
    choices = [str(c) for c in choices]
    close = closest(name, choices)
    return f"; did you mean '{close[0]}'?" if close else f"; {valid}: {', '.join(sorted(choices))}"
