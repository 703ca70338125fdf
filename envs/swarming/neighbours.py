"""Radius neighbourhoods on a periodic square box, found with cell lists (DESIGN 2.3).

The box ``[0, L) x [0, L)`` is cut into ``M x M`` cells of side ``L / M >= r``, so every
neighbour of an agent lies in its own cell or one of the 8 around it (wrapping at the
edges). Agents of all ``B`` copies are sorted by a global cell id (copy, cell) once; each
agent then reads the agents of its neighbouring cells as contiguous runs of the sorted
order. Apart from one integer sort, the work is proportional to
``B * N * (agents per cell)``, i.e. ``O(N)`` at fixed density, instead of the ``O(N^2)`` of
a distance matrix, and no Python loop runs over agents or copies (only over chunks of a
few thousand agents, to keep temporaries in cache). Candidates are screened in float32 and
the survivors decided in float64, so the pairs are those of the float64 distance test
(:func:`brute_force_pairs` is the reference the tests hold it to).

The result is a list of *unordered* pairs over flat agent indices ``b * N + i``: each pair
of distinct agents of one copy closer than ``r`` (minimum-image distance) appears once.
Per-agent sums over neighbourhoods are two ``np.bincount`` calls (one per direction); see
:meth:`NeighbourPairs.sum`.
"""

from __future__ import annotations

import numpy as np

_STENCIL = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)])  # the 3 x 3 block
_FORWARD = np.array([[1, -1], [1, 0], [1, 1], [0, 1]])  # one offset of each +-pair, (0, 0) aside
_INT32_AGENTS = 2**24  # below this many agents (all copies) indices are int32


class NeighbourPairs:
    """Unordered neighbour pairs ``(i, j)``: flat indices into ``B * N`` agents, each pair once.

    Attributes:
        i, j: ``[P]`` integer arrays (int32 below 2^24 agents, else int64), the two agents of
            each pair (same copy, ``i != j``, closer than r).
        num_agents: ``B * N``, the length of per-agent results.
        counts: ``[B * N]`` int64, the number of neighbours of each agent.
    """

    def __init__(self, i: np.ndarray, j: np.ndarray, num_agents: int):
        self.i = np.asarray(i)
        self.j = np.asarray(j)
        self.num_agents = int(num_agents)
        self.counts = np.bincount(self.i, minlength=self.num_agents) + np.bincount(
            self.j, minlength=self.num_agents
        )

    def __len__(self) -> int:
        return self.i.size

    def as_set(self) -> set[tuple[int, int]]:
        """The pairs as a set of ``(min, max)`` tuples (for comparisons in tests and debugging)."""
        lo, hi = np.minimum(self.i, self.j), np.maximum(self.i, self.j)
        return set(zip(lo.tolist(), hi.tolist()))

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values [B * N]`` or ``[B * N, D]`` over each agent's neighbours (itself excluded)."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape[:1] != (self.num_agents,):
            raise ValueError(
                f"values must have {self.num_agents} rows (B * N), got shape {values.shape}"
            )
        cols = values.reshape(self.num_agents, -1)
        out = np.empty(cols.shape)
        for d in range(cols.shape[1]):  # a handful of columns (e.g. one-hot actions); each is O(P)
            column = cols[:, d]
            out[:, d] = np.bincount(self.i, weights=column[self.j], minlength=self.num_agents)
            out[:, d] += np.bincount(self.j, weights=column[self.i], minlength=self.num_agents)
        return out.reshape(values.shape)


def _check(positions: np.ndarray, box: float, radius: float) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[-1] != 2:
        raise ValueError(f"positions must have shape [B, N, 2], got {positions.shape}")
    if not box > 0:
        raise ValueError(f"box must be positive, got {box}")
    if not 0 < radius <= box / 2:
        raise ValueError(f"radius must lie in (0, box / 2] = (0, {box / 2}], got {radius}")
    if positions.size and not (positions.min() >= 0 and positions.max() < box):
        raise ValueError(f"positions must lie in [0, box) = [0, {box}); wrap them first")
    return positions


def cell_list_pairs(
    positions: np.ndarray, box: float, radius: float, chunk: int = 8192
) -> NeighbourPairs:
    """All pairs of distinct agents of one copy closer than ``radius``, by cell lists.

    Args:
        positions: ``[B, N, 2]`` coordinates in ``[0, box)``.
        box: side ``L`` of the periodic box.
        radius: interaction radius ``r``, at most ``box / 2`` (so the minimum image is unique).
        chunk: agents handled per pass; bounds the temporary arrays (about ``20 * chunk``
            candidates) so they stay in cache. It does not change the result.
    """
    positions = _check(positions, box, radius)
    b, n, _ = positions.shape
    total = b * n
    index = np.int32 if total < _INT32_AGENTS else np.int64  # narrower indices: less memory traffic
    cells = max(int(box // radius), 1)  # M cells per side, each of side box / M >= radius
    flat = positions.reshape(total, 2)
    cell_xy = np.minimum((flat * (cells / box)).astype(index), cells - 1)  # [B*N, 2]
    copy_base = np.repeat(np.arange(b, dtype=index) * cells * cells, n)  # [B*N]
    cell_id = copy_base + cell_xy[:, 0] * cells + cell_xy[:, 1]  # [B*N] global cell id

    # everything below works in sorted order: the agents of one cell are a contiguous run
    order = np.argsort(cell_id, kind="stable").astype(index)
    per_cell = np.bincount(cell_id, minlength=b * cells * cells).astype(index)
    cell_end = np.cumsum(per_cell, dtype=index)
    cell_start = cell_end - per_cell
    sx, sy = flat[order, 0], flat[order, 1]
    s_cx, s_cy, s_base, s_cell = (
        cell_xy[order, 0],
        cell_xy[order, 1],
        copy_base[order],
        cell_id[order],
    )
    # candidates are screened in float32 with a margin well above its rounding error, and the
    # few that pass are decided in float64: the result is exact, the bulk of the work is narrow
    sx32, sy32 = sx.astype(np.float32), sy.astype(np.float32)
    loose = (radius * (1 + 1e-5) + 1e-6 * box) ** 2

    # With M >= 3 the 9 cells around a cell are distinct, and each unordered pair of
    # neighbouring cells is visited once through the 4 "forward" offsets, each pair inside a
    # cell once through j > i. With M <= 2 offsets wrap onto each other, so every distinct
    # neighbouring cell is scanned and the pairs with j > i are kept.
    half = cells >= 3
    offsets = (_FORWARD if half else np.unique(_STENCIL % cells, axis=0)).astype(index)
    found_i, found_j = [np.empty(0, index)], [np.empty(0, index)]
    for lo in range(0, total, chunk):
        hi = min(lo + chunk, total)
        near = (
            s_base[lo:hi, None]
            + ((s_cx[lo:hi, None] + offsets[:, 0]) % cells) * cells
            + (s_cy[lo:hi, None] + offsets[:, 1]) % cells
        )  # [chunk, K] neighbouring cells of each agent
        starts, lengths = cell_start[near], per_cell[near]
        if half:  # own cell: only the agents after this one in its run
            after = np.arange(lo + 1, hi + 1, dtype=index)
            starts = np.concatenate([after[:, None], starts], axis=1)
            lengths = np.concatenate([(cell_end[s_cell[lo:hi]] - after)[:, None], lengths], axis=1)
        per_agent = lengths.sum(axis=1)
        starts, lengths = starts.ravel(), lengths.ravel()
        run_end = np.cumsum(lengths, dtype=index)
        j = np.repeat(starts - (run_end - lengths), lengths)  # [C] candidates, in sorted order
        j += np.arange(j.size, dtype=index)
        i = np.repeat(np.arange(lo, hi, dtype=index), per_agent)
        if not half:
            i, j = _select(j > i, i, j)
        i, j = _select(_within(sx32, sy32, i, j, np.float32(box), np.float32(loose)), i, j)
        i, j = _select(_within(sx, sy, i, j, box, radius * radius), i, j)
        found_i.append(i)
        found_j.append(j)
    return NeighbourPairs(
        order.take(np.concatenate(found_i)), order.take(np.concatenate(found_j)), total
    )


def _select(keep: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    where = np.flatnonzero(keep)
    return i.take(where), j.take(where)


def _within(x: np.ndarray, y: np.ndarray, i: np.ndarray, j: np.ndarray, box, bound) -> np.ndarray:
    """Whether the squared torus distance of agents ``i`` and ``j`` is below ``bound`` (in place)."""
    dx = x.take(j)
    dx -= x.take(i)
    np.abs(dx, out=dx)
    np.minimum(dx, box - dx, out=dx)  # minimum image: |d| or box - |d| (both exact in float64)
    dy = y.take(j)
    dy -= y.take(i)
    np.abs(dy, out=dy)
    np.minimum(dy, box - dy, out=dy)
    dx *= dx
    dy *= dy
    dx += dy
    return dx < bound


def brute_force_pairs(positions: np.ndarray, box: float, radius: float) -> NeighbourPairs:
    """The same pairs from the full ``N x N`` distance matrix of each copy (reference, ``O(N^2)``)."""
    positions = _check(positions, box, radius)
    b, n, _ = positions.shape
    delta = np.abs(positions[:, None, :, :] - positions[:, :, None, :])  # [B, N(i), N(j), 2]
    delta = np.minimum(delta, box - delta)  # distance to the nearest periodic image, per axis
    close = (delta**2).sum(-1) < radius * radius
    close &= np.triu(np.ones((n, n), dtype=bool), k=1)  # each pair once, i < j
    copy, i, j = np.nonzero(close)
    return NeighbourPairs(copy * n + i, copy * n + j, b * n)
