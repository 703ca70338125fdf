"""Compiled (numba) kernels of the foraging step: movement, loading and the action mask.

Why a compiled loop and not numpy array ops: a foraging step is a few dozen tiny decisions per
agent (is the move valid, is the cell claimed twice, which food is adjacent, is the group strong
enough). As numpy calls that is about 60 calls per step whatever the batch size, and at B=1
numpy's per-call overhead alone (about 0.5-1 us each) costs more than lbforaging's whole
pure-Python step. One compiled pass over ``[B, N]`` does the same work in a few microseconds
at B=1 and scales linearly with B, on the same batched arrays the rest of the core uses.

The step and the full-sight observation also come in a ``_parallel`` form: the copies are
cut into contiguous slices, one per thread, each running the same serial loop (``prange``
over slices, so scratch arrays are allocated once per slice, not per copy). The core picks
the serial form for one thread or small batches (:func:`chunks_for`), so that path, and
single-core speed, are what they were.

The rules are those of :mod:`envs.foraging.core` (its docstring states them); the
differential test against lbforaging checks this module step by step.
"""

from __future__ import annotations

import numba
import numpy as np

NONE, NORTH, SOUTH, WEST, EAST, LOAD = range(6)
FREE = -1
# (d_row, d_col) of each action; NONE and LOAD stay
_DROW = (0, -1, 1, 0, 0, 0)
_DCOL = (0, 0, 0, -1, 1, 0)
# copies per thread below which waking the thread pool costs more than it saves: a copy's
# step takes tens of nanoseconds, a parallel launch microseconds (far more on a loaded machine)
MIN_COPIES_PER_THREAD = 1024


@numba.njit(cache=True, nogil=True)
def _write_mask(pos, field, mask, b, i):
    """Valid actions of agent ``i`` of copy ``b``: NONE always, a move when the target cell of
    the padded ``field`` is FREE, LOAD when one of the four neighbours holds food."""
    r = pos[b, i, 0] + 1
    c = pos[b, i, 1] + 1
    north, south, west, east = (
        field[b, r - 1, c],
        field[b, r + 1, c],
        field[b, r, c - 1],
        field[b, r, c + 1],
    )
    mask[b, i, NONE] = True
    mask[b, i, NORTH] = north == FREE
    mask[b, i, SOUTH] = south == FREE
    mask[b, i, WEST] = west == FREE
    mask[b, i, EAST] = east == FREE
    mask[b, i, LOAD] = north >= 0 or south >= 0 or west >= 0 or east >= 0


@numba.njit(cache=True, nogil=True)
def update_mask(pos, field, mask, copies):
    """Recompute the action ``mask [B, N, 6]`` of copies ``copies`` (after a reset)."""
    for b in copies:
        for i in range(pos.shape[1]):
            _write_mask(pos, field, mask, b, i)


@numba.njit(cache=True, nogil=True)
def _step_copies(
    lo,
    hi,
    actions,
    pos,
    level,
    food_pos,
    food_level,
    food_alive,
    field,
    food_spawned,
    mask,
    normalize,
    penalty,
    rewards,
    done,
):
    """Advance copies ``lo .. hi-1`` (see :func:`step`); the scratch arrays are per call."""
    n = actions.shape[1]
    n_food = food_level.shape[1]
    width = field.shape[2]
    act = np.empty(n, dtype=np.int64)
    here = np.empty(n, dtype=np.int64)
    there = np.empty(n, dtype=np.int64)
    moving = np.empty(n, dtype=np.bool_)
    target_food = np.empty(n, dtype=np.int64)
    group_level = np.empty(n_food, dtype=np.int64)
    eaten = np.empty(n_food, dtype=np.bool_)
    for b in range(lo, hi):
        # invalid actions act as NONE
        any_move = False
        any_load = False
        for i in range(n):
            a = actions[b, i]
            if not mask[b, i, a]:
                a = NONE
            act[i] = a
            here[i] = pos[b, i, 0] * width + pos[b, i, 1]
            there[i] = (pos[b, i, 0] + _DROW[a]) * width + pos[b, i, 1] + _DCOL[a]
            moving[i] = NORTH <= a <= EAST
            any_move |= moving[i]
            any_load |= a == LOAD
        # movement: a cell claimed by more than one agent (a staying agent claims its own) is refused
        if any_move:
            for i in range(n):
                if moving[i]:
                    for j in range(n):
                        if j != i and there[j] == there[i]:
                            moving[i] = False
                            break
            # fixed point: a move into the cell of an agent that stays fails too (defect 2 fixed)
            changed = True
            while changed:
                changed = False
                for i in range(n):
                    if moving[i]:
                        for j in range(n):
                            if not moving[j] and there[i] == here[j]:
                                moving[i] = False
                                changed = True
                                break
            for i in range(n):
                if moving[i]:
                    pos[b, i, 0] += _DROW[act[i]]
                    pos[b, i, 1] += _DCOL[act[i]]
        for i in range(n):
            rewards[b, i] = 0.0
        # loading: each loader takes its first 4-adjacent food in N, S, W, E order
        if any_load:
            for f in range(n_food):
                group_level[f] = 0
            for i in range(n):
                target_food[i] = -1
                if act[i] == LOAD:
                    r = pos[b, i, 0] + 1
                    c = pos[b, i, 1] + 1
                    for k in range(1, 5):
                        code = field[b, r + _DROW[k], c + _DCOL[k]]
                        if code >= 0:
                            target_food[i] = code
                            group_level[code] += level[b, i]
                            break
            for f in range(n_food):
                eaten[f] = (
                    group_level[f] > 0 and food_alive[b, f] and group_level[f] >= food_level[b, f]
                )
            for i in range(n):
                f = target_food[i]
                if f < 0:
                    continue
                if eaten[f]:
                    if normalize:
                        share = food_level[b, f] / max(group_level[f] * food_spawned[b], 1e-12)
                    else:
                        share = food_level[b, f] / group_level[f]
                    rewards[b, i] = level[b, i] * share
                elif penalty != 0.0:
                    rewards[b, i] = -penalty
            for f in range(n_food):
                if eaten[f]:
                    food_alive[b, f] = False
                    field[b, food_pos[b, f, 0] + 1, food_pos[b, f, 1] + 1] = FREE
        left = False
        for f in range(n_food):
            left |= food_alive[b, f]
        done[b] = not left
        # the mask of the new state
        for i in range(n):
            _write_mask(pos, field, mask, b, i)


@numba.njit(cache=True, nogil=True)
def step(
    actions,
    pos,
    level,
    food_pos,
    food_level,
    food_alive,
    field,
    food_spawned,
    mask,
    normalize,
    penalty,
    rewards,
    done,
):
    """Advance every copy by one joint action ``actions [B, N]`` in place.

    Writes ``rewards [B, N]`` (float32) and ``done [B]`` (all food gone), updates positions,
    food, the padded ``field`` of food ids and the action ``mask`` (which, on entry, is the
    mask of the state being left: invalid actions act as NONE).
    """
    _step_copies(
        0,
        actions.shape[0],
        actions,
        pos,
        level,
        food_pos,
        food_level,
        food_alive,
        field,
        food_spawned,
        mask,
        normalize,
        penalty,
        rewards,
        done,
    )


@numba.njit(cache=True, nogil=True, parallel=True)
def step_parallel(
    actions,
    pos,
    level,
    food_pos,
    food_level,
    food_alive,
    field,
    food_spawned,
    mask,
    normalize,
    penalty,
    rewards,
    done,
    chunks,
):
    """:func:`step` with the copies cut into ``chunks`` contiguous slices stepped in parallel
    (numba threads); each slice runs the serial loop, its scratch arrays allocated once."""
    num_envs = actions.shape[0]
    for c in numba.prange(chunks):
        _step_copies(
            c * num_envs // chunks,
            (c + 1) * num_envs // chunks,
            actions,
            pos,
            level,
            food_pos,
            food_level,
            food_alive,
            field,
            food_spawned,
            mask,
            normalize,
            penalty,
            rewards,
            done,
        )


def chunks_for(num_envs: int, threads: int) -> int:
    """How many parallel slices to cut ``num_envs`` copies into with ``threads`` threads.

    1 means "use the serial kernels": with one thread, or with too few copies per thread to
    repay the cost of waking the thread pool (about ``MIN_COPIES_PER_THREAD`` copies each).
    """
    return max(1, min(threads, num_envs // MIN_COPIES_PER_THREAD))


@numba.njit(cache=True, nogil=True)
def observe_full(pos, level, food_pos, food_level, food_alive, self_first, with_levels, out):
    """Vector observations ``out [B, N, 3F + 3N]`` when every agent sees the whole field: the
    live food in slot (row-major) order then (-1, -1, 0) slots, and the players self first;
    (row, col[, level]) in grid coordinates."""
    _observe_copies(
        0,
        level.shape[0],
        pos,
        level,
        food_pos,
        food_level,
        food_alive,
        self_first,
        with_levels,
        out,
    )


@numba.njit(cache=True, nogil=True, parallel=True)
def observe_full_parallel(
    pos, level, food_pos, food_level, food_alive, self_first, with_levels, out, chunks
):
    """:func:`observe_full` over ``chunks`` slices of the copies in parallel."""
    num_envs = level.shape[0]
    for c in numba.prange(chunks):
        _observe_copies(
            c * num_envs // chunks,
            (c + 1) * num_envs // chunks,
            pos,
            level,
            food_pos,
            food_level,
            food_alive,
            self_first,
            with_levels,
            out,
        )


@numba.njit(cache=True, nogil=True)
def _observe_copies(
    lo, hi, pos, level, food_pos, food_level, food_alive, self_first, with_levels, out
):
    n = level.shape[1]
    n_food = food_level.shape[1]
    per_player = 3 if with_levels else 2
    for b in range(lo, hi):
        for i in range(n):
            k = 0
            for f in range(n_food):
                if food_alive[b, f]:
                    out[b, i, k] = food_pos[b, f, 0]
                    out[b, i, k + 1] = food_pos[b, f, 1]
                    out[b, i, k + 2] = food_level[b, f]
                    k += 3
            while k < 3 * n_food:
                out[b, i, k] = -1.0
                out[b, i, k + 1] = -1.0
                out[b, i, k + 2] = 0.0
                k += 3
            for slot in range(n):
                j = self_first[i, slot]
                out[b, i, k] = pos[b, j, 0]
                out[b, i, k + 1] = pos[b, j, 1]
                if with_levels:
                    out[b, i, k + 2] = level[b, j]
                k += per_player
