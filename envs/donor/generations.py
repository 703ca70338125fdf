"""Cultural evolution between generations: the poorer half becomes copies of the richer half.

At a generation boundary (see "Generations" in :mod:`envs.donor.core`) the agents of a copy
are ranked by resources, richest first, ties broken by a uniform draw; for i < N // 2 the
agent ranked N-1-i is replaced by a copy of the agent ranked i.
"""

from __future__ import annotations

import numpy as np


def replacements(resources: np.ndarray, tie_uniforms: np.ndarray) -> np.ndarray:
    """``replaced_by [G, N]`` for G copies at a boundary: for each replaced agent the index
    of the agent it becomes a copy of, -1 for agents that stay.

    Args:
        resources: ``[G, N]`` resources at the end of the generation.
        tie_uniforms: ``[G, N]`` uniforms in [0, 1) that order agents with equal resources.
    """
    g, n = resources.shape
    order = np.lexsort((tie_uniforms, -resources), axis=-1)  # [G, N] richest first
    half = n // 2
    replaced_by = np.full((g, n), -1, dtype=np.int64)
    np.put_along_axis(replaced_by, order[:, ::-1][:, :half], order[:, :half], axis=1)
    return replaced_by
