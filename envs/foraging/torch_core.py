"""Level-Based Foraging as a torch core: the rules of :mod:`envs.foraging.core` on a device.

``envs.make_vec("Foraging-8x8-2p-2f-coop-v3", 4096, device="cuda")`` (or ``device="cpu"``)
builds it; without ``device`` the numba/numpy :class:`~envs.foraging.core.ForagingCore`
stays the default. Same keyword arguments, spaces, observation / state / mask layout,
rewards, auto-reset and episode statistics as that core (its docstring states the rules),
every rule done as tensor ops batched over ``[B, N]``: simultaneous moves (the claimed-twice
test as an ``N x N`` comparison, the blocked-chain fixed point as ``N`` rounds of it),
loading groups (a one-hot of each loader's first 4-adjacent food summed over agents), food
removal (a scatter into the padded field), the mask (one gather of the four neighbours).

What differs (see :mod:`envs.torch_core`): observations, rewards, masks and states are
tensors on the device, and actions must be a tensor there; random layouts come from the
per-copy device generator, so they differ from the numpy core's draws while following the
same placement rules and distributions (spawning is the numpy core's algorithm, with keys
from that generator). Layouts given by ``reset(options=...)`` are validated and placed by
a one-copy numpy core (``self.reference``) and copied over, so they are identical. The
differential tests (``tests/test_torch_foraging.py``) hold the two cores step for step.
"""

from __future__ import annotations

import torch

from envs.foraging.core import ForagingCore
from envs.foraging.kernels import FREE, LOAD, NONE
from envs.torch_core import TorchBatchedCore

WALL = -2
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

        dev, long = self.device, dict(dtype=torch.int64, device=self.device)
        self._min_level = torch.as_tensor(ref.min_player_level, **long)
        self._max_level = torch.as_tensor(ref.max_player_level, **long)
        self._min_food = torch.as_tensor(ref.min_food_level, **long)
        self._max_food = (
            None if ref.max_food_level is None else torch.as_tensor(ref.max_food_level, **long)
        )
        self._drow, self._dcol = torch.tensor(_DROW, **long), torch.tensor(_DCOL, **long)
        self._food_block = torch.tensor(_FOOD_BLOCK, **long)
        # flat offsets of the N, S, W, E neighbours in the padded field (rows of width cols + 2)
        self._width = self.cols + 2
        self._around = torch.tensor([-self._width, self._width, -1, 1], **long)
        self._eye = torch.eye(self.n_players, dtype=torch.bool, device=dev)

        b, n, f = self.num_envs, self.n_players, self.n_food
        self.pos = torch.zeros((b, n, 2), **long)  # [B, N, (row, col)]
        self.level = torch.zeros((b, n), **long)
        self.food_pos = torch.zeros((b, f, 2), **long)  # [B, F, (row, col)], row-major slots
        self.food_level = torch.zeros((b, f), **long)
        self.food_alive = torch.zeros((b, f), dtype=torch.bool, device=dev)
        self.food_spawned = torch.ones(b, dtype=torch.float64, device=dev)
        self.t = torch.zeros(b, **long)
        # the padded field, flattened: food slot id, FREE or WALL per cell, plus one scratch
        # cell at the end where scatters of "nothing to write" go
        self._cells = (self.rows + 2) * self._width
        self._field = torch.full((b, self._cells + 1), WALL, dtype=torch.int32, device=dev)
        self._mask = torch.ones((b, n, 6), dtype=torch.bool, device=dev)

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
        self.t[idx] = 0
        self._mask[idx] = self._mask_of(self.pos[idx], self._field[idx])

    def _spawn(self, idx: torch.Tensor) -> None:
        """Random layouts for copies ``idx``: the numpy core's algorithm on device keys."""
        rows, cols, n, f = self.rows, self.cols, self.n_players, self.n_food
        cells = rows * cols
        pending = idx
        while pending.numel():
            k = len(pending)
            u = self.rng.uniform(pending, 2 * n + 2 * f + cells * (f + 1))
            u_perm, u_lvl = u[:, :n], u[:, n : 2 * n]
            u_fperm, u_flvl = u[:, 2 * n : 2 * n + f], u[:, 2 * n + f : 2 * n + 2 * f]
            player_keys = u[:, 2 * n + 2 * f : 2 * n + 2 * f + cells]
            food_keys = u[:, 2 * n + 2 * f + cells :].reshape(k, f, cells)
            # player levels: the per-player level ranges shuffled, then one draw each
            perm = torch.argsort(u_perm, dim=1)
            lo, hi = self._min_level[perm], self._max_level[perm]
            levels = lo + torch.floor(u_lvl * (hi - lo + 1)).long()
            cell = torch.argsort(player_keys, dim=1)[:, :n]  # players on distinct uniform cells
            pos = torch.stack([cell // cols, cell % cols], dim=-1)
            if self._max_food is None:
                top = torch.sort(levels, dim=1).values[:, :3].sum(1, keepdim=True).expand(k, f)
            else:
                top = self._max_food.expand(k, f)
            fperm = torch.argsort(u_fperm, dim=1)
            top = torch.gather(top, 1, fperm)
            low = top if self.force_coop else torch.minimum(self._min_food[fperm], top)
            food_levels = low + torch.floor(u_flvl * (top - low + 1)).long()
            # food: each slot takes the free cell with the highest key; blocked is padded by 2
            width = cols + 4
            blocked = torch.ones((k, rows + 4, width), dtype=torch.bool, device=self.device)
            blocked[:, 3 : rows + 1, 3 : cols + 1] = False  # interior rows/cols 1..size-2
            blocked = blocked.view(k, -1)
            blocked.scatter_(1, (pos[..., 0] + 2) * width + pos[..., 1] + 2, True)
            food_pos = torch.zeros((k, f, 2), dtype=torch.int64, device=self.device)
            placed = torch.zeros((k, f), dtype=torch.bool, device=self.device)
            for slot in range(f):  # a loop over food slots; copies and cells are batched
                free = ~blocked.view(k, rows + 4, width)[:, 2 : rows + 2, 2 : cols + 2].reshape(
                    k, -1
                )
                keys = torch.where(free, food_keys[:, slot], -1.0)
                best_key, best = keys.max(dim=1)
                ok = best_key >= 0
                r, c = best // cols, best % cols
                food_pos[:, slot] = torch.stack([r, c], dim=-1)
                placed[:, slot] = ok
                near = (
                    (r[:, None] + self._food_block[:, 0] + 2) * width
                    + c[:, None]
                    + self._food_block[:, 1]
                    + 2
                )
                blocked |= torch.zeros_like(blocked).scatter_(1, near, ok[:, None].expand_as(near))
            done = placed.all(dim=1)
            # the numpy core draws again for copies where the food did not fit; so do we
            self._set_layout(
                pending[done], pos[done], levels[done], food_pos[done], food_levels[done]
            )
            pending = pending[~done]

    def _set_layout(self, idx, pos, levels, food_pos, food_levels) -> None:
        """Write layouts into copies ``idx``; food slots in row-major order (level 0: empty)."""
        k = len(idx)
        alive = food_levels > 0
        key = torch.where(alive, food_pos[..., 0] * self.cols + food_pos[..., 1], 2**62)
        order = torch.argsort(key, dim=1, stable=True)
        food_pos = torch.gather(food_pos, 1, order[..., None].expand(-1, -1, 2))
        food_levels = torch.gather(food_levels, 1, order)
        alive = torch.gather(alive, 1, order)
        self.pos[idx] = pos
        self.level[idx] = levels
        self.food_pos[idx] = food_pos
        self.food_level[idx] = torch.where(alive, food_levels, 0)
        self.food_alive[idx] = alive
        self.food_spawned[idx] = self.food_level[idx].sum(dim=1).to(torch.float64)
        field = torch.full(
            (k, self.rows + 2, self._width), WALL, dtype=torch.int32, device=self.device
        )
        field[:, 1:-1, 1:-1] = FREE
        field = torch.cat([field.view(k, -1), field.new_full((k, 1), FREE)], dim=1)
        where = torch.where(alive, self._cell(food_pos), self._cells)  # empty slots: scratch cell
        slots = torch.arange(self.n_food, dtype=torch.int32, device=self.device).expand(k, -1)
        field.scatter_(1, where, torch.where(alive, slots, FREE))
        self._field[idx] = field

    # ------------------------------------------------------------------ step
    def _cell(self, pos: torch.Tensor) -> torch.Tensor:
        """Flat index into the padded field of positions ``[..., 2]``."""
        return (pos[..., 0] + 1) * self._width + pos[..., 1] + 1

    def _neighbours(self, pos: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
        """Field codes of the N, S, W, E neighbours of each agent, ``[k, N, 4]``."""
        k = pos.shape[0]
        around = (self._cell(pos)[..., None] + self._around).view(k, -1)
        return torch.gather(field, 1, around).view(k, self.n_players, 4)

    def _mask_of(self, pos: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
        codes = self._neighbours(pos, field)
        stay = torch.ones_like(codes[..., :1], dtype=torch.bool)
        load = (codes >= 0).any(dim=-1, keepdim=True)
        return torch.cat([stay, codes == FREE, load], dim=-1)

    def _step(self, actions: torch.Tensor):
        b, n = self.num_envs, self.n_players
        act = torch.where(torch.gather(self._mask, 2, actions[..., None])[..., 0], actions, NONE)
        move = torch.stack([self._drow[act], self._dcol[act]], dim=-1)  # [B, N, 2]
        here, there = self._cell(self.pos), self._cell(self.pos + move)
        # a cell claimed by more than one agent (a staying agent claims its own) is refused
        moving = (act != NONE) & (act != LOAD)
        moving &= ~((there[:, :, None] == there[:, None, :]) & ~self._eye).any(dim=-1)
        # fixed point: a move into the cell of an agent that stays fails too (N rounds suffice)
        into = there[:, :, None] == here[:, None, :]  # [B, i, j]: i's target is j's cell
        for _ in range(n):
            moving &= ~(into & ~moving[:, None, :]).any(dim=-1)
        self.pos += move * moving[..., None]
        # loading: each loader takes its first 4-adjacent food in N, S, W, E order
        codes = self._neighbours(self.pos, self._field)
        has = codes >= 0
        first = torch.argmax(has.to(torch.uint8), dim=-1, keepdim=True)
        loads = (act == LOAD) & has.any(dim=-1)
        target = torch.where(loads, torch.gather(codes, 2, first)[..., 0].long(), 0)
        takes = loads[..., None] & (
            target[..., None] == torch.arange(self.n_food, device=self.device)
        )
        group = (takes * self.level[..., None]).sum(dim=1)  # [B, F] level sum of each food's group
        eaten = (group > 0) & self.food_alive & (group >= self.food_level)
        food_level = torch.gather(self.food_level, 1, target).double()
        group_level = torch.gather(group, 1, target).double()
        if self.normalize_reward:
            share = food_level / torch.clamp(group_level * self.food_spawned[:, None], min=1e-12)
        else:
            share = food_level / torch.clamp(group_level, min=1)
        success = loads & torch.gather(eaten, 1, target)
        rewards = torch.where(success, self.level * share, 0.0)
        if self.penalty != 0.0:
            rewards = torch.where(loads & ~success, -self.penalty, rewards)
        rewards = rewards.float()
        self.food_alive &= ~eaten
        self._field.scatter_(1, torch.where(eaten, self._cell(self.food_pos), self._cells), FREE)
        terminated = ~self.food_alive.any(dim=1)
        self._mask = self._mask_of(self.pos, self._field)
        self.t += 1
        truncated = (self.t >= self.max_episode_steps) & ~terminated
        return (
            rewards,
            terminated[:, None].expand(b, n).clone(),
            truncated[:, None].expand(b, n).clone(),
            {},
        )

    def action_mask(self) -> torch.Tensor:
        return self._mask.clone()

    # ------------------------------------------------------------------ observations
    def _observe(self) -> torch.Tensor:
        if self.grid_observation:
            return self._observe_grid()
        b, n, f = self.num_envs, self.n_players, self.n_food
        missing = torch.tensor([-1, -1, 0], device=self.device)
        offset = torch.clamp(self.pos - self.sight, min=0)  # [B, N, 2] window corners
        # food: inside the (properly clipped) window, in slot (row-major) order
        rel_food = self.food_pos[:, None] - offset[:, :, None]  # [B, N, F, 2]
        far = (self.food_pos[:, None] - self.pos[:, :, None]).abs().amax(dim=-1) > self.sight
        seen = self.food_alive[:, None, :] & ~far
        order = torch.argsort((~seen).to(torch.uint8), dim=2, stable=True)
        food = torch.cat([rel_food, self.food_level[:, None, :, None].expand(b, n, f, 1)], dim=-1)
        food = torch.gather(food, 2, order[..., None].expand(-1, -1, -1, 3))
        food = torch.where(torch.gather(seen, 2, order)[..., None], food, missing)
        # players: self first, then the visible others in index order (lbforaging's test)
        rel = self.pos[:, None] - offset[:, :, None]  # [B, i, j, 2]
        visible = (rel.amin(dim=-1) >= 0) & (rel.amax(dim=-1) <= 2 * self.sight)
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
        layers = torch.zeros(
            (b, rows + 1, cols, 3), dtype=torch.float32, device=dev
        )  # + scratch row
        ar = torch.arange(b, device=dev)[:, None]
        pr, pc = self.pos[..., 0] + s, self.pos[..., 1] + s
        agent = (
            self.level.float()
            if self.observe_agent_levels
            else torch.ones_like(pr, dtype=torch.float32)
        )
        layers[ar, pr, pc, 0] = agent
        fr = torch.where(self.food_alive, self.food_pos[..., 0] + s, rows)  # eaten: scratch row
        fc = self.food_pos[..., 1] + s
        layers[ar, fr, fc, 1] = self.food_level.float()
        layers[:, s : s + self.rows, s : s + self.cols, 2] = 1.0
        layers[ar, pr, pc, 2] = 0.0
        layers[ar, fr, fc, 2] = 0.0
        w = torch.arange(2 * s + 1, device=dev)
        r_idx, c_idx = self.pos[..., 0, None] + w, self.pos[..., 1, None] + w  # [B, N, W]
        win = layers[
            ar[..., None, None], r_idx[..., :, None], c_idx[..., None, :]
        ]  # [B, N, W, W, 3]
        return win.permute(0, 1, 4, 2, 3).contiguous()

    def state(self) -> torch.Tensor:
        b = self.num_envs
        missing = torch.tensor([-1, -1, 0], device=self.device)
        food = torch.cat([self.food_pos, self.food_level[..., None]], dim=-1)
        food = torch.where(self.food_alive[..., None], food, missing)
        players = torch.cat([self.pos, self.level[..., None]], dim=-1)
        time = (self.t.double() / self.max_episode_steps)[:, None]
        parts = [food.reshape(b, -1).double(), players.reshape(b, -1).double(), time]
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
