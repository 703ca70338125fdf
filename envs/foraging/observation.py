"""What each player of Level-Based Foraging sees (see the rules in :mod:`envs.foraging.core`).

Two observation types, built from the core's arrays over the whole batch: the vector
observation of a player with a limited sight window (the full-sight case is a compiled
kernel, :func:`envs.foraging.kernels.observe_full`), and the grid observation.
"""

from __future__ import annotations

import numpy as np


def observe_window(
    pos: np.ndarray,
    level: np.ndarray,
    food_pos: np.ndarray,
    food_level: np.ndarray,
    food_alive: np.ndarray,
    sight: int,
    observe_agent_levels: bool,
) -> np.ndarray:
    """Vector observations ``[B, N, 3F + 3N]`` (``2N`` for players without levels) when the
    sight window does not cover the field: visible food row-major, then the player itself
    and the visible players, relative to the clipped window; missing slots (-1, -1, 0).

    Args:
        pos: ``[B, N, 2]`` player cells; level: ``[B, N]``.
        food_pos: ``[B, F, 2]``; food_level: ``[B, F]``; food_alive: ``[B, F]``.
        sight: the sight radius; observe_agent_levels: include player levels.
    """
    b, n, f = pos.shape[0], pos.shape[1], food_pos.shape[1]
    offset = np.maximum(pos - sight, 0)  # [B, N, 2] top-left of each clipped sight window
    # food: inside the (properly clipped) window, row-major order
    rel_food = food_pos[:, None, :, :] - offset[:, :, None, :]  # [B, N, F, 2]
    far = np.abs(food_pos[:, None, :, :] - pos[:, :, None, :]).max(-1) > sight
    seen_food = food_alive[:, None, :] & ~far
    order = np.argsort(~seen_food, axis=2, kind="stable")
    seen_sorted = np.take_along_axis(seen_food, order, axis=2)
    rel_sorted = np.take_along_axis(rel_food, order[..., None], axis=2)
    lvl_sorted = np.take_along_axis(
        np.broadcast_to(food_level[:, None, :], (b, n, f)), order, axis=2
    )
    food_obs = np.where(
        seen_sorted[..., None],
        np.concatenate([rel_sorted, lvl_sorted[..., None]], axis=-1),
        np.array([-1, -1, 0]),
    )
    # players: self first, then visible others in index order (lbforaging's visibility test)
    rel = pos[:, None, :, :] - offset[:, :, None, :]  # [B, i, j, 2]
    visible = (rel.min(-1) >= 0) & (rel.max(-1) <= 2 * sight)
    rank = np.where(visible, np.arange(n) + 1, n + 1)
    rank[:, np.arange(n), np.arange(n)] = 0
    porder = np.argsort(rank, axis=2, kind="stable")
    vis_sorted = np.take_along_axis(visible, porder, axis=2)
    rel_p = np.take_along_axis(rel, porder[..., None], axis=2)
    if observe_agent_levels:
        lvl_p = np.take_along_axis(np.broadcast_to(level[:, None, :], (b, n, n)), porder, axis=2)
        player_obs = np.where(
            vis_sorted[..., None],
            np.concatenate([rel_p, lvl_p[..., None]], -1),
            np.array([-1, -1, 0]),
        )
    else:
        player_obs = np.where(vis_sorted[..., None], rel_p, np.array([-1, -1]))
    return np.concatenate(
        [food_obs.reshape(b, n, -1), player_obs.reshape(b, n, -1)], axis=-1
    ).astype(np.float32)


def observe_grid(
    pos: np.ndarray,
    level: np.ndarray,
    food_pos: np.ndarray,
    food_level: np.ndarray,
    food_alive: np.ndarray,
    rows: int,
    cols: int,
    sight: int,
    observe_agent_levels: bool,
) -> np.ndarray:
    """Grid observations ``[B, N, 3, 2s+1, 2s+1]`` around each player: player levels (or 1),
    food levels, and accessibility (free cells of the field)."""
    b, s = pos.shape[0], sight
    layers = np.zeros((b, rows + 2 * s, cols + 2 * s, 3), dtype=np.float32)  # padded by s
    ar = np.arange(b)[:, None]
    layers[ar, pos[..., 0] + s, pos[..., 1] + s, 0] = level if observe_agent_levels else 1
    fb, ff = np.nonzero(food_alive)
    fr, fc = food_pos[fb, ff, 0] + s, food_pos[fb, ff, 1] + s
    layers[fb, fr, fc, 1] = food_level[fb, ff]
    layers[:, s : s + rows, s : s + cols, 2] = 1.0
    layers[ar, pos[..., 0] + s, pos[..., 1] + s, 2] = 0.0
    layers[fb, fr, fc, 2] = 0.0
    w = np.arange(2 * s + 1)
    r_idx = pos[..., 0, None] + w  # [B, N, W]
    c_idx = pos[..., 1, None] + w
    win = layers[
        np.arange(b)[:, None, None, None], r_idx[..., :, None], c_idx[..., None, :]
    ]  # [B,N,W,W,3]
    return np.ascontiguousarray(win.transpose(0, 1, 4, 2, 3))
