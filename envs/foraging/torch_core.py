"""Level-Based Foraging as a torch core: the rules of :mod:`envs.foraging.core` on a device.

``envs.make_vec("Foraging-8x8-2p-2f-coop-v3", 4096, device="cuda")`` (or ``device="cpu"``)
builds it; without ``device`` the numba/numpy :class:`~envs.foraging.core.ForagingCore`
stays the default. Same keyword arguments, spaces, observation / state / mask layout,
rewards, auto-reset and episode statistics as that core (its docstring states the rules),
every rule done as tensor ops batched over ``[B, N]``: simultaneous moves (the claimed-twice
test as an ``N x N`` comparison; the blocked-chain fixed point as ``N - 1`` rounds of "my
move fails when the agent in my target cell stays", one ``take`` each), loading groups (a
``scatter_add`` of each loader's level onto the food it takes), food removal (a scatter into
the padded field), the mask (one gather of the four neighbours, which also gives the food a
loader takes next step: loaders do not move and food only leaves after loading).

Why the state is packed: a step at the batch sizes the CPU can serve is bound by the count
of tensor ops, not by arithmetic, so the per-copy integers (players, food, flat cells, the
level each food still needs, the step count) share one ``int64`` row per copy, and the public
``pos`` / ``level`` / ``food_pos`` / ... are views of it. A reset then writes one row per
copy, and the full-sight observation is one gather from the row's (row, col, level) triples.

What differs (see :mod:`envs.torch_core`): observations, rewards, masks and states are
tensors on the device, and actions must be a tensor there; random layouts come from the
per-copy device generator, so they differ from the numpy core's draws while following the
same placement rules and distributions (each player and food takes a uniform free cell).
Layouts given by ``reset(options=...)`` are validated and placed by a one-copy numpy core
(``self.reference``) and copied over, so they are identical. The differential tests
(``tests/test_torch_foraging.py``) hold the two cores step for step.
"""

from __future__ import annotations

import torch

from envs.foraging.core import ForagingCore
from envs.foraging.kernels import FREE, LOAD, NONE
from envs.torch_core import TorchBatchedCore

WALL = -2
BIG = 2**62  # the level an eaten food or an empty slot needs: never reached
_DROW = (0, -1, 1, 0, 0, 0)
_DCOL = (0, 0, 0, -1, 1, 0)
_FOOD_BLOCK = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)] + [
    (-2, 0),
    (2, 0),
    (0, -2),
    (0, 2),
]


class TorchForagingCore(TorchBatchedCore):
    """B copies of Level-Based Foraging as torch tensors on ``device``.

    Args:
        num_envs: B, the number of copies.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"``.
        autoreset: reset finished copies inside ``step`` (as the numpy core).
        **kwargs: the keyword arguments of :class:`~envs.foraging.core.ForagingCore`.
    """

    metadata = {"render_modes": [], "render_fps": 5, "name": "foraging_v0"}
    team_reward = "sum"

    def __init__(
        self,
        num_envs: int = 1,
        *,
        device: str | torch.device = "cpu",
        autoreset: bool = True,
        render_mode: str | None = None,
        **kwargs,
    ):
        super().__init__(num_envs, device=device, autoreset=autoreset, render_mode=render_mode)
        # the numpy core validates the arguments, owns the spaces and places given layouts
        ref = self.reference = ForagingCore(1, autoreset=False, **kwargs)
        self.rows, self.cols, self.n_players, self.n_food = (
            ref.rows,
            ref.cols,
            ref.n_players,
            ref.n_food,
        )
        self.sight, self.max_episode_steps = ref.sight, ref.max_episode_steps
        self.penalty, self.force_coop, self.normalize_reward = (
            ref.penalty,
            ref.force_coop,
            ref.normalize_reward,
        )
        self.grid_observation, self.observe_agent_levels = (
            ref.grid_observation,
            ref.observe_agent_levels,
        )
        self.possible_agents = list(ref.possible_agents)
        self.observation_space, self.action_space = ref.observation_space, ref.action_space
        self.state_space = ref.state_space
        self._full_sight = self.sight >= max(self.rows, self.cols) - 1

        b, n, f = self.num_envs, self.n_players, self.n_food
        dev, long = self.device, dict(dtype=torch.int64, device=self.device)
        self._min_level = torch.as_tensor(ref.min_player_level, **long)
        self._level_span = torch.as_tensor(ref.max_player_level, **long) - self._min_level + 1
        # the numpy core shuffles per-player (per-food) level ranges; equal ranges need no shuffle
        self._shuffle_levels = bool(
            (ref.min_player_level != ref.min_player_level[0]).any()
        ) or bool((ref.max_player_level != ref.max_player_level[0]).any())
        self._min_food = torch.as_tensor(ref.min_food_level, **long)
        self._max_food = (
            None if ref.max_food_level is None else torch.as_tensor(ref.max_food_level, **long)
        )
        ranges = [ref.min_food_level] + ([] if ref.max_food_level is None else [ref.max_food_level])
        self._shuffle_food = any(bool((r != r[0]).any()) for r in ranges)

        # the padded field, flattened (rows of width cols + 2): food slot id, FREE or WALL per
        # cell, plus one scratch cell at the end where scatters of "nothing to write" go
        w = self._width = self.cols + 2
        self._cells = (self.rows + 2) * w
        code = dict(dtype=torch.int8 if f < 64 else torch.int32, device=dev)  # cache-friendly
        template = torch.full((self.rows + 2, w), WALL, **code)
        template[1:-1, 1:-1] = FREE
        self._field_template = torch.cat([template.view(-1), template.new_full((1,), FREE)])
        self._field = self._field_template.repeat(b, 1)
        self._around = torch.tensor([-w, w, -1, 1], **long)  # N, S, W, E neighbours
        # food codes + priority: the max over the neighbours is the first food in N, S, W, E
        # order; the low byte (f < 256 here, or the low 16 bits) is the food's slot
        self._code_bits = 8 if f < 256 else 16
        self._priority = torch.tensor([3, 2, 1, 0], **long) << self._code_bits
        self._dcell = torch.tensor([dr * w + dc for dr, dc in zip(_DROW, _DCOL)], **long)
        self._dpos = torch.tensor(list(zip(_DROW, _DCOL)), **long)  # [6, 2]
        self._is_move = torch.tensor([a not in (NONE, LOAD) for a in range(6)], device=dev)
        self._occupant_weight = torch.arange(n, **long) - n  # sum + n: occupant's index, n if none
        self._eye = torch.eye(n, dtype=torch.bool, device=dev)
        # flat offsets of the cells a food blocks for other food, in a grid padded by 2
        self._food_block = torch.tensor([r * (self.cols + 4) + c for r, c in _FOOD_BLOCK], **long)

        # the packed per-copy integers (see the module docstring); views below name the parts
        self._food_cols = 3 * f  # (row, col, level) per food slot
        self._player0 = 3 * f + 3  # after the food: one (-1, -1, 0) "missing" triple
        c = self._cell0 = self._player0 + 3 * n  # flat padded cell of each player
        self._fcell0, self._need0, self._t0 = c + n, c + n + f, c + n + 2 * f + 1
        self._ints = torch.zeros((b, self._t0 + 1), **long)
        self._ints[:, 3 * f : 3 * f + 2] = -1
        table = self._ints[:, : self._cell0].view(b, f + 1 + n, 3)  # food, missing, players
        self.food_pos, self.food_level = table[:, :f, :2], table[:, :f, 2]
        self.pos, self.level = table[:, f + 1 :, :2], table[:, f + 1 :, 2]
        self._cell = self._ints[:, c : c + n]
        self._food_cell = self._ints[:, self._fcell0 : self._fcell0 + f]
        self._need = self._ints[:, self._need0 : self._need0 + f + 1]  # [B, F + 1]: + never
        self.t = self._ints[:, self._t0]
        # float64 per copy: player levels, food levels (+ a 0 column) and the spawned level sum
        self._floats = torch.zeros((b, n + f + 2), dtype=torch.float64, device=dev)
        self._level_f = self._floats[:, :n]
        self._food_f = self._floats[:, n : n + f + 1]
        self.food_spawned = self._floats[:, n + f + 1]
        self.food_alive = torch.zeros((b, f), dtype=torch.bool, device=dev)
        self._mask = torch.ones((b, n, 6), dtype=torch.bool, device=dev)
        self._first = torch.zeros((b, n), **long)  # the food each agent would load
        # gather index of the full-sight observation: food slots (filled per step), then self
        # first and the other players in index order (lbforaging's order), as table rows
        others = [[i] + [j for j in range(n) if j != i] for i in range(n)]
        self._slots = torch.arange(f, **code).expand(b, f)
        # flat-index bases: lookups are ``take`` on flat views (cheaper than gather on CPU)
        self._base_mask = torch.arange(b * n, **long).view(b, n) * 6
        self._base_field = torch.arange(b, **long)[:, None] * (self._cells + 1)
        self._base_food = torch.arange(b, **long)[:, None] * (f + 1)
        self._base_occupant = torch.arange(b, **long)[:, None] * (n + 1)
        self._dpos_flat = self._dpos.view(-1)
        self._pair = torch.tensor([0, 1], **long)
        self._true = torch.ones((b, 1), dtype=torch.bool, device=dev)
        self._observation_columns(others)

    # ------------------------------------------------------------------ reset
    def _reset_copies(self, idx: torch.Tensor, options: dict | None) -> None:
        if options and ("players" in options or "food" in options):
            ref = self.reference
            ref.reset(options=options)  # validates and sorts the layout
            k, as_long = len(idx), dict(dtype=torch.int64, device=self.device)
            self._set_layout(
                idx,
                torch.as_tensor(ref.pos, **as_long).expand(k, -1, -1),
                torch.as_tensor(ref.level, **as_long).expand(k, -1),
                torch.as_tensor(ref.food_pos, **as_long).expand(k, -1, -1),
                torch.as_tensor(ref.food_level, **as_long).expand(k, -1),
            )
        else:
            self._spawn(idx)
        mask, first = self._mask_of(self._cell[idx], self._field[idx])
        self._mask[idx] = mask
        self._first[idx] = first

    def _spawn(self, idx: torch.Tensor) -> None:
        """Random layouts for copies ``idx`` (lbforaging's rules), on the device's keys.

        Each player, then each food, takes a uniform free cell: the ``floor(u * count)``-th
        free cell, found with one cumulative sum. Copies where some food did not fit draw
        again (as the numpy core does), from the next block of their own stream.
        """
        rows, cols, n, f = self.rows, self.cols, self.n_players, self.n_food
        cells, dev = rows * cols, self.device
        pending = idx
        while pending.numel():
            k = len(pending)
            u = self.rng.uniform(pending, 3 * n + 3 * f)
            # player levels: the per-player level ranges (shuffled when they differ), one draw each
            if self._shuffle_levels:
                perm = torch.argsort(u[:, :n], dim=1)
                lo, span = self._min_level[perm], self._level_span[perm]
            else:
                lo, span = self._min_level, self._level_span
            levels = lo + (u[:, n : 2 * n] * span).long()
            # players on distinct uniform cells
            free, taken = torch.ones((k, cells), dtype=torch.int32, device=dev), []
            for i in range(n):
                j = (u[:, 2 * n + i, None] * (cells - i)).int()
                cell = j if i == 0 else self._kth_free(free, j)
                free.scatter_(1, cell.long(), 0)
                taken.append(cell)
            cell = torch.cat(taken, 1).long()
            pos = torch.stack([cell // cols, cell % cols], dim=-1)
            # food levels: uniform in [min, top]; top = max_food_level or the 3 lowest levels
            if self._max_food is None:
                top = torch.sort(levels, dim=1).values[:, :3].sum(1, keepdim=True).expand(k, f)
            else:
                top = self._max_food.expand(k, f)
            low = self._min_food.expand(k, f)
            if self._shuffle_food:
                fperm = torch.argsort(u[:, 3 * n : 3 * n + f], dim=1)
                top, low = torch.gather(top, 1, fperm), torch.gather(low, 1, fperm)
            low = top if self.force_coop else torch.minimum(low, top)
            food_levels = low + (u[:, 3 * n + f : 3 * n + 2 * f] * (top - low + 1)).long()
            # food: a uniform free interior cell away from other food, in a grid padded by 2
            width = cols + 4
            free = torch.zeros((k, rows + 4, width), dtype=torch.int32, device=dev)
            free[:, 3 : rows + 1, 3 : cols + 1] = 1  # interior rows/cols 1..size-2
            free = free.view(k, -1)
            free.scatter_(1, (pos[..., 0] + 2) * width + pos[..., 1] + 2, 0)
            block = self._food_block
            spots, placed = [], torch.ones(k, dtype=torch.bool, device=dev)
            for slot in range(f):  # a loop over food slots; copies and cells are batched
                count = free.sum(1, keepdim=True, dtype=torch.int32)
                j = (u[:, 3 * n + 2 * f + slot, None] * count).int()
                spot = self._kth_free(free, j).long()
                placed &= count[:, 0] > 0
                spot = torch.where(count > 0, spot, 2 * width + 2)  # any in-range cell
                free.scatter_(1, spot + block, 0)
                spots.append(spot)
            spot = torch.cat(spots, 1)
            food_pos = torch.stack([spot // width - 2, spot % width - 2], dim=-1)
            if bool(placed.all()):  # the common case: no boolean indexing
                self._set_layout(pending, pos, levels, food_pos, food_levels)
                return
            # the numpy core draws again for copies where the food did not fit; so do we
            self._set_layout(
                pending[placed], pos[placed], levels[placed], food_pos[placed], food_levels[placed]
            )
            pending = pending[~placed]

    @staticmethod
    def _kth_free(free: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """Index of the ``j``-th (from 0) nonzero of each row of ``free`` (int32 0/1), ``[k, 1]``."""
        return torch.searchsorted(free.cumsum(1, dtype=torch.int32), j, right=True)

    def _set_layout(self, idx, pos, levels, food_pos, food_levels) -> None:
        """Write layouts into copies ``idx``; food slots in row-major order (level 0: empty)."""
        k, n, f = len(idx), self.n_players, self.n_food
        alive = food_levels > 0
        key = torch.where(alive, food_pos[..., 0] * self.cols + food_pos[..., 1], BIG)
        order = torch.argsort(key, dim=1, stable=True)
        food_pos = torch.gather(food_pos, 1, order[..., None].expand(-1, -1, 2))
        alive = torch.gather(alive, 1, order)
        food_levels = torch.where(alive, torch.gather(food_levels, 1, order), 0)
        food_cell = torch.where(alive, self._cell_of(food_pos), self._cells)  # empty: scratch
        ints = torch.cat(
            [
                torch.cat([food_pos, food_levels[..., None]], -1).view(k, 3 * f),
                self._ints.new_tensor([-1, -1, 0]).expand(k, 3),
                torch.cat([pos, levels[..., None]], -1).reshape(k, 3 * n),
                self._cell_of(pos),
                food_cell,
                torch.where(alive, food_levels, BIG),
                self._ints.new_full((k, 2), BIG),  # the never-eaten column, then t = 0
            ],
            dim=1,
        )
        ints[:, -1] = 0
        self._ints[idx] = ints
        spawned = food_levels.sum(1, keepdim=True)
        zero = spawned.new_zeros((k, 1))
        self._floats[idx] = torch.cat([levels, food_levels, zero, spawned], 1).double()
        self.food_alive[idx] = alive
        field = self._field_template.repeat(k, 1)
        field.scatter_(1, food_cell, self._slots[:k])
        self._field[idx] = field

    # ------------------------------------------------------------------ step
    def _cell_of(self, pos: torch.Tensor) -> torch.Tensor:
        """Flat index into the padded field of positions ``[..., 2]``."""
        return (pos[..., 0] + 1) * self._width + pos[..., 1] + 1

    def _mask_of(self, cell: torch.Tensor, field: torch.Tensor):
        """The action mask ``[k, N, 6]`` of agents in ``cell [k, N]`` and the food each would
        load (its first 4-adjacent food in N, S, W, E order; meaningless where it has none)."""
        k, n = cell.shape
        base = self._base_field[:k]
        codes = field.view(-1).take((cell + base)[..., None] + self._around)  # [k, N, 4]
        best = torch.where(codes >= 0, codes + self._priority, -1).amax(2)  # [k, N]
        mask = torch.cat(
            [self._true[:k, :, None].expand(k, n, 1), codes == FREE, (best >= 0)[..., None]], 2
        )
        return mask, best & ((1 << self._code_bits) - 1)

    def _step(self, actions: torch.Tensor):
        b, n, f = self.num_envs, self.n_players, self.n_food
        # invalid actions act as NONE (0)
        act = actions * self._mask.view(-1).take(self._base_mask + actions)
        there = self._cell + self._dcell.take(act)
        # a cell claimed by more than one agent (a staying agent claims its own) is refused;
        # the agent in my target cell (``occupant``, n if none) is found in the same loop
        claims = torch.zeros_like(there)
        occupant = self._base_occupant + n
        for j in range(n):  # N small ops beat one [B, N, N] broadcast on a CPU
            claims += there == there[:, j : j + 1]
            occupant = torch.where(
                there == self._cell[:, j : j + 1], self._base_occupant + j, occupant
            )
        moving = self._is_move.take(act) & (claims == 1)
        # fixed point: a move into the cell of an agent that stays fails too; the occupant
        # decides, so N - 1 rounds reach the end of every chain (column n: "nobody", moves)
        ok = torch.cat([moving, self._true], 1)
        for _ in range(n - 1):
            ok[:, :n] &= ok.view(-1).take(occupant)
        moved = act * ok[:, :n]
        self._cell += self._dcell.take(moved)
        self.pos += self._dpos_flat.take(moved[..., None] * 2 + self._pair)
        # loading: each loader takes the food found by the last mask (it has not moved)
        target = torch.where(act == LOAD, self._first, f)  # f: no food (a scratch column)
        group = torch.zeros((b, f + 1), dtype=torch.int64, device=self.device)
        group.scatter_add_(1, target, self.level)  # [B, F + 1]: level sum of each group
        eaten = group >= self._need
        target = target + self._base_food
        success = eaten.view(-1).take(target)
        if self.normalize_reward:
            scale = torch.clamp(group * self.food_spawned[:, None], min=1e-12)
        else:
            scale = torch.clamp(group, min=1)
        share = (self._food_f / scale).view(-1).take(target)
        rewards = torch.where(success, self._level_f * share, 0.0)
        if self.penalty != 0.0:
            rewards = torch.where((act == LOAD) & ~success, -self.penalty, rewards)
        self._need.masked_fill_(eaten, BIG)
        eaten = eaten[:, :f]
        self.food_alive &= ~eaten
        self._field.scatter_(1, torch.where(eaten, self._food_cell, self._cells), FREE)
        terminated = ~self.food_alive.any(1)
        self._mask, self._first = self._mask_of(self._cell, self._field)
        self.t += 1
        truncated = (self.t >= self.max_episode_steps) & ~terminated
        return (
            rewards.float(),
            terminated[:, None].expand(b, n).contiguous(),
            truncated[:, None].expand(b, n).contiguous(),
            {},
        )

    def action_mask(self) -> torch.Tensor:
        return self._mask.clone()

    # ------------------------------------------------------------------ observations
    def _table(self) -> torch.Tensor:
        """``[B, F + 1 + N, 3]`` (row, col, level): the food slots, (-1, -1, 0), the players."""
        f1n = self.n_food + 1 + self.n_players
        return self._ints[:, : self._cell0].view(self.num_envs, f1n, 3)

    def _observe(self) -> torch.Tensor:
        if self.grid_observation:
            return self._observe_grid()
        if self._obs_columns is None:
            return self._observe_window()
        # every agent sees everything: live food in slot order then (-1, -1, 0) slots (the
        # same for all agents), then the players self first: columns of the packed row, one
        # list per pattern of live food
        b, n = self.num_envs, self.n_players
        alive = (self.food_alive * self._pow2).sum(1)
        columns = self._obs_columns.index_select(0, alive) + self._base_ints
        food = self._ints.view(-1).take(columns)[:, None].expand(b, n, -1)  # [B, N, 3F]
        players = self._ints.index_select(1, self._player_columns).view(b, n, -1)
        return torch.cat([food, players], 2).float()

    def _observation_columns(self, others: list[list[int]]) -> None:
        """The packed-row columns of the full-sight observation: of the food part for
        every pattern of live food (``[2^F, 3F]``; None when there are too many patterns),
        and of the players part of every agent (``[N * per_player * N]``)."""
        n, f, dev = self.n_players, self.n_food, self.device
        self._base_ints = torch.arange(self.num_envs, device=dev)[:, None] * self._ints.shape[1]
        self._pow2 = torch.tensor([1 << k for k in range(f)], device=dev)
        player = [0, 1, 2] if self.observe_agent_levels else [0, 1]
        table = []
        for pattern in range(1 << f if self._full_sight and f <= 12 else 0):
            live = [k for k in range(f) if pattern >> k & 1] + [f] * f  # f: the missing triple
            table.append([3 * slot + c for slot in live[:f] for c in range(3)])
        self._obs_columns = torch.tensor(table, dtype=torch.int64, device=dev) if table else None
        columns = [3 * (f + 1 + j) + c for i in range(n) for j in others[i] for c in player]
        self._player_columns = torch.tensor(columns, dtype=torch.int64, device=dev)

    def _observe_window(self) -> torch.Tensor:
        """Vector observations with a sight window (the numpy core's ``observe_window``)."""
        b, n, f, s = self.num_envs, self.n_players, self.n_food, self.sight
        missing = torch.tensor([-1, -1, 0], device=self.device)
        offset = torch.clamp(self.pos - s, min=0)  # [B, N, 2] window corners
        # food: inside the (properly clipped) window, in slot (row-major) order
        rel_food = self.food_pos[:, None] - offset[:, :, None]  # [B, N, F, 2]
        far = ((self.food_pos[:, None] - self.pos[:, :, None]).abs() > s).any(-1)
        seen = self.food_alive[:, None, :] & ~far
        order = torch.argsort((~seen).to(torch.uint8), dim=2, stable=True)
        food = torch.cat([rel_food, self.food_level[:, None, :, None].expand(b, n, f, 1)], dim=-1)
        food = torch.gather(food, 2, order[..., None].expand(-1, -1, -1, 3))
        food = torch.where(torch.gather(seen, 2, order)[..., None], food, missing)
        # players: self first, then the visible others in index order (lbforaging's test)
        rel = self.pos[:, None] - offset[:, :, None]  # [B, i, j, 2]
        visible = ((rel >= 0) & (rel <= 2 * s)).all(-1)
        index = torch.arange(n, device=self.device)
        rank = torch.where(self._eye, 0, torch.where(visible, index + 1, n + 1))
        porder = torch.argsort(rank, dim=2, stable=True)
        if self.observe_agent_levels:
            rel = torch.cat([rel, self.level[:, None, :, None].expand(b, n, n, 1)], dim=-1)
        else:
            missing = missing[:2]
        players = torch.gather(rel, 2, porder[..., None].expand(-1, -1, -1, rel.shape[-1]))
        players = torch.where(torch.gather(visible, 2, porder)[..., None], players, missing)
        return torch.cat([food.reshape(b, n, -1), players.reshape(b, n, -1)], dim=-1).float()

    def _observe_grid(self) -> torch.Tensor:
        b, s, dev = self.num_envs, self.sight, self.device
        rows, cols = self.rows + 2 * s, self.cols + 2 * s
        # + a scratch row where eaten food goes
        layers = torch.zeros((b, rows + 1, cols, 3), dtype=torch.float32, device=dev)
        ar = torch.arange(b, device=dev)[:, None]
        pr, pc = self.pos[..., 0] + s, self.pos[..., 1] + s
        agent = (
            self.level.float()
            if self.observe_agent_levels
            else torch.ones_like(pr, dtype=torch.float32)
        )
        layers[ar, pr, pc, 0] = agent
        fr = torch.where(self.food_alive, self.food_pos[..., 0] + s, rows)
        fc = self.food_pos[..., 1] + s
        layers[ar, fr, fc, 1] = self.food_level.float()
        layers[:, s : s + self.rows, s : s + self.cols, 2] = 1.0
        layers[ar, pr, pc, 2] = 0.0
        layers[ar, fr, fc, 2] = 0.0
        w = torch.arange(2 * s + 1, device=dev)
        r_idx, c_idx = self.pos[..., 0, None] + w, self.pos[..., 1, None] + w  # [B, N, W]
        win = layers[ar[..., None, None], r_idx[..., :, None], c_idx[..., None, :]]
        return win.permute(0, 1, 4, 2, 3).contiguous()  # [B, N, 3, W, W]

    def state(self) -> torch.Tensor:
        b, f = self.num_envs, self.n_food
        table = self._table()
        food = torch.where(self.food_alive[..., None], table[:, :f], table[:, f : f + 1])
        time = (self.t.double() / self.max_episode_steps)[:, None]
        parts = [food.reshape(b, -1).double(), table[:, f + 1 :].reshape(b, -1).double(), time]
        return torch.cat(parts, dim=1).float()

    def neighbour_mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean over the other agents within sight (Chebyshev distance <= sight)."""
        dist = (self.pos[:, :, None] - self.pos[:, None]).abs().amax(dim=-1)
        near = ((dist <= self.sight) & ~self._eye).float()
        count = near.sum(dim=-1, keepdim=True)
        total = torch.einsum("bij,bjd->bid", near, values.float())
        return torch.where(count > 0, total / torch.clamp(count, min=1), 0.0)

    def _episode_metrics(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        level = self.food_level[idx]
        eaten = torch.where(~self.food_alive[idx], level, 0).sum(dim=1).double()
        return {"food_collected": eaten / torch.clamp(level.sum(dim=1), min=1)}
