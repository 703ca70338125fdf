"""Level-Based Foraging as a batched numpy core, rule for rule with ``lbforaging`` 2.0.0.

| | |
|---|---|
| Agents | ``player_0 ... player_{P-1}`` |
| Actions | ``Discrete(6)``: NONE, NORTH (row-1), SOUTH (row+1), WEST (col-1), EAST (col+1), LOAD |
| Observations (vector) | ``Box(3F + 3P)``: F food slots then P player slots of (row, col, level) |
| Observations (grid) | ``Box(3, 2s+1, 2s+1)``: agent levels, food levels, accessibility |
| State | ``Box(3F + 3P + 1)``: absolute (row, col, level) of every food and player, and t / T |

## Rules (lbforaging 2.0.0)
- Players (levels uniform in ``[min_player_level, max_player_level]``) are placed first,
  uniformly on distinct cells. Food is then placed only in rows/cols ``1 .. S-2``, on a
  free cell, never within the 3x3 neighbourhood of other food nor within distance 2 along
  its row or column. Food levels are uniform in ``[min_food_level, L]`` where ``L`` is
  ``max_food_level`` or, if None, the sum of the three lowest player levels; with
  ``force_coop`` every food gets ``L``.
- Invalid actions (off the grid, onto food, LOAD with no 4-adjacent food) act as NONE.
- Moves are simultaneous; agents claiming the same cell (a staying agent claims its own)
  all stay. Loading comes after movement: a loading agent takes its first 4-adjacent food
  in N, S, W, E order; the food's group is the loading agents that took it; if the group's
  level sum is at least the food level, the food is removed and each member gets
  ``level_i * food_level / (group_level_sum * total_spawned_food_level)`` (unnormalised:
  ``level_i * food_level``), so a cleared episode's rewards sum to 1; otherwise each member
  gets ``-penalty``.
- Vector observation: food in the agent's sight window (row-major), then the agent itself
  and the visible players (in index order), as (row, col, level) relative to the sight
  window clipped at the grid edge; missing slots are (-1, -1, 0). As in lbforaging, a
  player is visible when both its window coordinates lie in ``[0, 2*sight]``; near the top
  or left edge this reaches up to ``2*sight`` cells from the agent (kept for comparability).
- The episode terminates when all food is gone and is truncated at ``max_episode_steps``.

## Defects of lbforaging 2.0.0 fixed here (everything else matches; see tests)
1. The time limit is reported as termination; here it is a truncation.
2. An agent whose move fails can end in the cell of another: positions (2,1),(2,2),(2,4)
   with actions E,E,W leave two agents on (2,2). Here a move into a cell whose occupant
   stays also fails (resolved to a fixed point), so agents never share a cell.
3. Grid observations crash (their Box is built with the wrong shape); here they work.
4. The PyPI build registers at most 4 food; here any number that fits.
5. No action mask; here ``action_mask()`` gives the valid actions.
6. Loading ignores food in row 0 / column 0 (``row > 1`` tests) and, when an agent touches
   two foods, the group depends on set iteration order. Spawning never produces either
   case (food stays off the border and apart); with layouts given by ``reset(options=...)``
   the rule above applies.

## Arguments
``field_size`` (int or (rows, cols)), ``players``, ``max_num_food``, ``sight`` (default:
the field size, i.e. full observation), ``min_player_level``, ``max_player_level``,
``min_food_level``, ``max_food_level``, ``force_coop``, ``penalty``, ``max_episode_steps``,
``normalize_reward``, ``grid_observation``, ``observe_agent_levels``, ``threads`` (numba
threads the step uses, default all: ``numba.config.NUMBA_NUM_THREADS``).

``reset(options={"players": [(row, col, level), ...], "food": [(row, col, level), ...]})``
places a given layout in every copy (validated).

## Speed
The state lives in batched numpy arrays; spawning and observations are numpy array ops over
the batch, while the step itself (movement, loading, action mask) is one compiled loop over
``[B, N]`` in :mod:`envs.foraging.kernels`, since as numpy ops its many tiny decisions cost
more in per-call overhead than lbforaging's whole step at B=1. With ``threads`` > 1 and at
least a few hundred copies per thread the kernels run in parallel over slices of the copies;
below that (and at B=1) the serial kernels run, so single-core speed is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numba
import numpy as np

from envs.core import BatchedCore
from envs.foraging import kernels
from envs.foraging.kernels import EAST, FREE, LOAD, NONE, NORTH, SOUTH, WEST  # noqa: F401  (the action ids)
from envs.foraging.layout import FOOD_BLOCK, check_layout, max_food_that_fits
from envs.foraging.observation import observe_grid, observe_window

WALL = -2  # cell code of the padded field's border (FREE: empty; food cells hold the food's slot)
ACTION_NAMES = ("NONE", "NORTH", "SOUTH", "WEST", "EAST", "LOAD")


def _positive_int(name: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class ForagingCore(BatchedCore):
    """B copies of Level-Based Foraging (see the module docstring for the rules)."""

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 5, "name": "foraging_v0"}
    team_reward = "sum"

    def __init__(
        self,
        num_envs: int = 1,
        *,
        field_size: int | Sequence[int] = 8,
        players: int = 2,
        max_num_food: int = 2,
        sight: int | None = None,
        min_player_level: int | Sequence[int] = 1,
        max_player_level: int | Sequence[int] = 2,
        min_food_level: int | Sequence[int] = 1,
        max_food_level: int | Sequence[int] | None = None,
        force_coop: bool = False,
        penalty: float = 0.0,
        max_episode_steps: int = 50,
        normalize_reward: bool = True,
        grid_observation: bool = False,
        observe_agent_levels: bool = True,
        threads: int | None = None,
        autoreset: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(num_envs, autoreset=autoreset, render_mode=render_mode)
        if isinstance(field_size, (int, np.integer)):
            field_size = (field_size, field_size)
        if len(field_size) != 2:
            raise ValueError(f"field_size must be an int or (rows, cols), got {field_size!r}")
        self.rows = _positive_int("field_size rows", field_size[0])
        self.cols = _positive_int("field_size cols", field_size[1])
        self.n_players = _positive_int("players", players)
        self.n_food = _positive_int("max_num_food", max_num_food)
        self.sight = _positive_int("sight", max(self.rows, self.cols) if sight is None else sight)
        self.max_episode_steps = _positive_int("max_episode_steps", max_episode_steps)
        if penalty < 0:
            raise ValueError(f"penalty must be >= 0, got {penalty}")
        self.penalty = float(penalty)
        self.force_coop = bool(force_coop)
        self.normalize_reward = bool(normalize_reward)
        self.grid_observation = bool(grid_observation)
        self.observe_agent_levels = bool(observe_agent_levels)
        most = numba.config.NUMBA_NUM_THREADS
        self.threads = most if threads is None else threads
        integer = isinstance(self.threads, (int, np.integer)) and not isinstance(threads, bool)
        if not integer or not 1 <= self.threads <= most:
            raise ValueError(
                f"threads must be an integer in 1..{most} (all cores), got {threads!r}"
            )
        self._chunks = kernels.chunks_for(self.num_envs, int(self.threads))  # 1: serial kernels

        self.min_player_level = self._levels("min_player_level", min_player_level, self.n_players)
        self.max_player_level = self._levels("max_player_level", max_player_level, self.n_players)
        if np.any(self.min_player_level > self.max_player_level):
            raise ValueError(
                f"min_player_level {self.min_player_level.tolist()} must not exceed "
                f"max_player_level {self.max_player_level.tolist()}"
            )
        self.min_food_level = self._levels("min_food_level", min_food_level, self.n_food)
        self.max_food_level = (
            None
            if max_food_level is None
            else self._levels("max_food_level", max_food_level, self.n_food)
        )
        if self.max_food_level is not None and np.any(self.min_food_level > self.max_food_level):
            raise ValueError(
                f"min_food_level {self.min_food_level.tolist()} must not exceed "
                f"max_food_level {self.max_food_level.tolist()}"
            )
        cells = self.rows * self.cols
        if self.n_players > cells:
            raise ValueError(
                f"players={self.n_players} do not fit on a {self.rows}x{self.cols} field ({cells} cells)"
            )
        fits = max_food_that_fits(self.rows, self.cols)
        if self.n_food > fits:
            raise ValueError(
                f"max_num_food={self.n_food} cannot be placed on a {self.rows}x{self.cols} field: at most {fits} "
                "fit (food goes in rows/cols 1..size-2, with its 3x3 neighbourhood and 2 cells along its "
                "row and column free of other food)"
            )
        if self.n_players + self.n_food > cells:
            raise ValueError(
                f"{self.n_players} players and {self.n_food} food need more than {cells} cells"
            )

        self.possible_agents = [f"player_{i}" for i in range(self.n_players)]
        self._build_spaces()

        b, n, f = self.num_envs, self.n_players, self.n_food
        self.pos = np.zeros((b, n, 2), dtype=np.int64)
        self.level = np.zeros((b, n), dtype=np.int64)
        self.food_pos = np.zeros((b, f, 2), dtype=np.int64)
        self.food_level = np.zeros((b, f), dtype=np.int64)
        self.food_alive = np.zeros((b, f), dtype=bool)
        self.food_spawned = np.ones(b, dtype=np.float64)
        self.t = np.zeros(b, dtype=np.int64)
        # the field padded by one cell on each side: food id (>= 0), FREE or WALL; one gather
        # of an agent's four neighbours then gives both move validity and adjacent food
        code_type = np.int8 if f < 127 else np.int32  # small codes keep the gathers cache-friendly
        self._food_id = np.full((b, self.rows + 2, self.cols + 2), WALL, dtype=code_type)
        self._food_id[:, 1:-1, 1:-1] = FREE
        self._mask = np.ones((b, n, 6), dtype=bool)
        self._rewards = np.zeros((b, n), dtype=np.float32)  # written by the step kernel
        self._terminated = np.zeros(b, dtype=bool)
        # full observation: every agent sees everything; the slot order of players is fixed
        self._full_sight = self.sight >= max(self.rows, self.cols) - 1
        self._self_first = np.array([[i] + [j for j in range(n) if j != i] for i in range(n)])
        self._renderer = None

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _levels(name: str, value, count: int) -> np.ndarray:
        arr = np.asarray(value, dtype=np.int64)
        if arr.ndim == 0:
            arr = np.full(count, int(arr))
        if arr.shape != (count,):
            raise ValueError(f"{name} must be an int or a list of {count} ints, got {value!r}")
        if np.any(arr < 1):
            raise ValueError(f"{name} must be >= 1, got {value!r}")
        return arr

    @property
    def food_level_cap(self) -> int:
        """The highest food level the spawning rule can produce (used for observation bounds)."""
        if self.max_food_level is not None:
            return int(self.max_food_level.max())
        return int(np.sort(self.max_player_level)[:3].sum())

    def _build_spaces(self) -> None:
        n, f = self.n_players, self.n_food
        top_level = int(self.max_player_level.max())
        top_food = self.food_level_cap
        if self.grid_observation:
            w = 2 * self.sight + 1
            high = np.empty((3, w, w), dtype=np.float32)
            high[0] = top_level if self.observe_agent_levels else 1
            high[1] = top_food
            high[2] = 1
            self.observation_space = gym.spaces.Box(np.zeros_like(high), high, dtype=np.float32)
        else:
            coord = max(self.rows, self.cols) - 1
            per_player = 3 if self.observe_agent_levels else 2
            low = [-1, -1, 0] * f + ([-1, -1, 0] if self.observe_agent_levels else [-1, -1]) * n
            high = [coord, coord, top_food] * f + (
                [coord, coord, top_level] if per_player == 3 else [coord, coord]
            ) * n
            self.observation_space = gym.spaces.Box(
                np.array(low, dtype=np.float32), np.array(high, dtype=np.float32), dtype=np.float32
            )
        self.action_space = gym.spaces.Discrete(6)
        coord = max(self.rows, self.cols) - 1
        state_low = np.array([-1, -1, 0] * (f + n) + [0], dtype=np.float32)
        state_high = np.array(
            [coord, coord, top_food] * f + [coord, coord, top_level] * n + [1], dtype=np.float32
        )
        self.state_space = gym.spaces.Box(state_low, state_high, dtype=np.float32)

    # ------------------------------------------------------------------ reset
    def _reset_copies(self, idx: np.ndarray, options: dict | None) -> None:
        if options and ("players" in options or "food" in options):
            self._place_layout(idx, options)
        else:
            self._spawn(idx)
        self.t[idx] = 0
        kernels.update_mask(self.pos, self._food_id, self._mask, np.asarray(idx, dtype=np.int64))

    def _spawn(self, idx: np.ndarray) -> None:
        """Random layouts for copies ``idx`` (lbforaging's rules).

        Each copy draws one block of uniforms from its own generator per attempt (so copy b
        of a batch equals a one-copy core seeded seed + b); the rest is vectorised over copies.
        """
        rows, cols, n, f = self.rows, self.cols, self.n_players, self.n_food
        cells = rows * cols
        pending = np.asarray(idx)
        while len(pending):
            k = len(pending)
            u = np.stack([self.rngs[b].random(2 * n + 2 * f + cells * (f + 1)) for b in pending])
            u_perm, u_lvl, u_fperm, u_flvl = (
                u[:, :n],
                u[:, n : 2 * n],
                u[:, 2 * n : 2 * n + f],
                u[:, 2 * n + f : 2 * n + 2 * f],
            )
            player_keys = u[:, 2 * n + 2 * f : 2 * n + 2 * f + cells]
            food_keys = u[:, 2 * n + 2 * f + cells :].reshape(k, f, cells)
            # player levels: lbforaging shuffles the per-player level ranges, then draws each
            perm = np.argsort(u_perm, axis=1)
            lo, hi = self.min_player_level[perm], self.max_player_level[perm]
            levels = lo + np.floor(u_lvl * (hi - lo + 1)).astype(np.int64)
            # players on distinct uniform cells
            cell = np.argsort(player_keys, axis=1)[:, :n]
            pos = np.stack([cell // cols, cell % cols], axis=-1)
            # food levels: uniform in [min, top]; top = max_food_level or the 3 lowest player levels
            if self.max_food_level is None:
                top = np.repeat(
                    np.sort(levels, axis=1)[:, :3].sum(axis=1, keepdims=True), f, axis=1
                )
            else:
                top = np.broadcast_to(self.max_food_level, (k, f))
            fperm = np.argsort(u_fperm, axis=1)
            top = np.take_along_axis(top, fperm, axis=1)
            low = top if self.force_coop else np.minimum(self.min_food_level[fperm], top)
            food_levels = low + np.floor(u_flvl * (top - low + 1)).astype(np.int64)
            # food: each slot takes the free cell with the highest key (uniform over free cells)
            blocked = np.ones((k, rows + 4, cols + 4), dtype=bool)  # padded by 2
            blocked[:, 3 : rows + 1, 3 : cols + 1] = False  # interior rows/cols 1..size-2
            ar = np.arange(k)
            blocked[ar[:, None], pos[..., 0] + 2, pos[..., 1] + 2] = True
            food_pos = np.zeros((k, f, 2), dtype=np.int64)
            placed = np.zeros((k, f), dtype=bool)
            for slot in range(f):
                free = ~blocked[:, 2 : rows + 2, 2 : cols + 2].reshape(k, -1)
                keys = np.where(free, food_keys[:, slot], -1.0)
                best = keys.argmax(axis=1)
                ok = keys[ar, best] >= 0
                r, c = best // cols, best % cols
                food_pos[:, slot] = np.stack([r, c], axis=-1)
                placed[:, slot] = ok
                rr = (r[:, None] + FOOD_BLOCK[:, 0] + 2)[ok]
                cc = (c[:, None] + FOOD_BLOCK[:, 1] + 2)[ok]
                blocked[np.repeat(ar[ok], len(FOOD_BLOCK)), rr.ravel(), cc.ravel()] = True
            done = placed.all(axis=1)
            # lbforaging gives up after 1000 attempts and plays with fewer food; we draw again
            # for those copies (construction already checked that the food fits).
            if done.any():
                self._set_layout(
                    pending[done], pos[done], levels[done], food_pos[done], food_levels[done]
                )
            pending = pending[~done]

    def _place_layout(self, idx: np.ndarray, options: dict) -> None:
        players, food = check_layout(
            options,
            self.rows,
            self.cols,
            self.n_players,
            self.n_food,
            int(self.max_player_level.max()),
            self.food_level_cap,
        )
        k = len(idx)
        pos = np.broadcast_to(np.array([p[:2] for p in players]), (k, self.n_players, 2))
        levels = np.broadcast_to(np.array([p[2] for p in players]), (k, self.n_players))
        food_pos = np.zeros((k, self.n_food, 2), dtype=np.int64)
        food_levels = np.zeros((k, self.n_food), dtype=np.int64)
        food_pos[:, : len(food)] = np.array([p[:2] for p in food])
        food_levels[:, : len(food)] = np.array([p[2] for p in food])
        self._set_layout(idx, pos, levels, food_pos, food_levels)

    def _set_layout(self, idx, pos, levels, food_pos, food_levels) -> None:
        """Write layouts into copies ``idx``; food slots are kept in row-major order (slots
        with level 0 are empty)."""
        alive = food_levels > 0
        key = np.where(
            alive, food_pos[..., 0] * self.cols + food_pos[..., 1], np.iinfo(np.int64).max
        )
        order = np.argsort(key, axis=1, kind="stable")
        food_pos = np.take_along_axis(food_pos, order[..., None], axis=1)
        food_levels = np.take_along_axis(food_levels, order, axis=1)
        alive = np.take_along_axis(alive, order, axis=1)
        self.pos[idx] = pos
        self.level[idx] = levels
        self.food_pos[idx] = food_pos
        self.food_level[idx] = np.where(alive, food_levels, 0)
        self.food_alive[idx] = alive
        self.food_spawned[idx] = self.food_level[idx].sum(axis=1)
        self._food_id[idx, 1:-1, 1:-1] = FREE
        bb, ff = np.nonzero(alive)
        self._food_id[np.asarray(idx)[bb], food_pos[bb, ff, 0] + 1, food_pos[bb, ff, 1] + 1] = ff

    # ------------------------------------------------------------------ step
    def _step(self, actions: np.ndarray):
        args = (
            actions.astype(np.int64, copy=False),
            self.pos,
            self.level,
            self.food_pos,
            self.food_level,
            self.food_alive,
            self._food_id,
            self.food_spawned,
            self._mask,
            self.normalize_reward,
            self.penalty,
            self._rewards,
            self._terminated,
        )
        if self._chunks > 1:
            kernels.step_parallel(*args, self._chunks)
        else:
            kernels.step(*args)
        self.t += 1
        truncated = self.t >= self.max_episode_steps
        truncated &= ~self._terminated
        n = self.n_players
        # fresh arrays: callers may keep them across steps
        return (
            self._rewards.copy(),
            self._terminated[:, None].repeat(n, 1),
            truncated[:, None].repeat(n, 1),
            {},
        )

    def action_mask(self) -> np.ndarray:
        self._require_reset("action_mask")
        return self._mask.copy()

    # ------------------------------------------------------------------ observations
    def _observe(self) -> np.ndarray:
        if self.grid_observation:
            return observe_grid(
                self.pos,
                self.level,
                self.food_pos,
                self.food_level,
                self.food_alive,
                self.rows,
                self.cols,
                self.sight,
                self.observe_agent_levels,
            )
        if self._full_sight:
            return self._observe_full()
        return observe_window(
            self.pos,
            self.level,
            self.food_pos,
            self.food_level,
            self.food_alive,
            self.sight,
            self.observe_agent_levels,
        )

    def _observe_full(self) -> np.ndarray:
        """The vector observation when every agent sees the whole field (the common case):
        the same food slots for everyone, players in a fixed self-first order."""
        out = np.empty(
            (self.num_envs, self.n_players, self.observation_space.shape[0]), dtype=np.float32
        )
        args = (
            self.pos,
            self.level,
            self.food_pos,
            self.food_level,
            self.food_alive,
            self._self_first,
            self.observe_agent_levels,
            out,
        )
        if self._chunks > 1:
            kernels.observe_full_parallel(*args, self._chunks)
        else:
            kernels.observe_full(*args)
        return out

    def state(self) -> np.ndarray:
        self._require_reset("state")
        food = np.where(
            self.food_alive[..., None],
            np.concatenate([self.food_pos, self.food_level[..., None]], -1),
            np.array([-1, -1, 0]),
        )
        players = np.concatenate([self.pos, self.level[..., None]], -1)
        time = (self.t / self.max_episode_steps)[:, None]
        return np.concatenate(
            [food.reshape(self.num_envs, -1), players.reshape(self.num_envs, -1), time], axis=1
        ).astype(np.float32)

    def neighbour_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean over the other agents within sight (Chebyshev distance <= sight)."""
        dist = np.abs(self.pos[:, :, None, :] - self.pos[:, None, :, :]).max(-1)
        near = (dist <= self.sight) & ~np.eye(self.n_players, dtype=bool)
        count = near.sum(-1, keepdims=True)
        total = np.einsum("bij,bjd->bid", near.astype(np.float32), values.astype(np.float32))
        return np.where(count > 0, total / np.maximum(count, 1), 0.0).astype(np.float32)

    def _episode_metrics(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        spawned = self.food_level[idx].sum(axis=1)
        eaten = np.where(~self.food_alive[idx], self.food_level[idx], 0).sum(axis=1)
        return {"food_collected": eaten / np.maximum(spawned, 1)}

    # ------------------------------------------------------------------ rendering
    def _render_frame(self, index: int):
        if self._renderer is None:
            from envs.foraging.rendering import ForagingRenderer

            self._renderer = ForagingRenderer(
                self.rows, self.cols, self.render_mode, self.metadata["render_fps"]
            )
        return self._renderer.draw(
            self.pos[index],
            self.level[index],
            self.food_pos[index][self.food_alive[index]],
            self.food_level[index][self.food_alive[index]],
            int(self.t[index]),
            self.sight,
        )

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
