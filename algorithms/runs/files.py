"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half of one.

The files a run, a resume or a benchmark grid reads back (checkpoints, evaluation logs,
metrics, run status, the leaderboard's JSON and README block, the MANSA benchmark's results) go
through :func:`atomic_path` (policy files use :meth:`agents.policy.Policy.save`, which writes
the same way from the layer below): the content is written to a temporary file in the same
directory, then renamed over the target (``os.replace`` is atomic on POSIX and Windows within
one filesystem). A write that raises leaves the old file untouched and removes the temporary one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path to write to; on success it replaces ``path``."""
    path = os.fspath(path)
    tmp = f"{path}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)
