"""Swarming (Vicsek / Kuramoto) as a torch core: the rules of :mod:`envs.swarming.core` on a device.

``envs.make_vec("swarming-vicsek-v0", 4096, device="cuda")`` (or ``device="cpu"``) builds
it; without ``device`` the numpy :class:`~envs.swarming.core.SwarmingCore` stays the
default. Same keyword arguments, spaces, observations, rewards, state, auto-reset and
episode statistics as that core (its docstring states the model), as tensor ops batched
over copies and agents.

Neighbours: each agent gets a padded candidate list ``[B * N, K]`` (flat agent indices and
a validity mask) from which counts, observation histograms, local order and neighbour means
are plain reductions along ``K``. Up to ``DENSE_AGENTS`` agents per copy the candidates are
all agents of the copy (``K = N``: a distance matrix is cheapest there); above that they
come from cell lists: agents sorted by (copy, cell) with cells of side ``>= radius``, and
each agent reads the 9 cells around its own, each padded to the fullest cell's count
(``K = 9 * max occupancy``), so the work stays ``O(N)`` per copy at fixed density. Both
apply the same distance test as the numpy core (minimum image, squared distance below
``radius^2``).

What differs (see :mod:`envs.torch_core`): tensors on the device in and out; the noise and
the random initial layouts come from the per-copy device generator, so trajectories differ
from the numpy core's unless the noise is the same (the differential test injects it by
replacing ``_draw_noise`` in both cores); ``dtype`` (float32 by default, float64 for
parity to rounding) sets the precision of positions and angles. Layouts given by
``reset(options=...)`` are validated and wrapped by a one-copy numpy core
(``self.reference``) and copied over, so they are identical.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from envs.swarming.core import SwarmingCore
from envs.torch_core import TorchBatchedCore

TWO_PI = 2.0 * math.pi
DENSE_AGENTS = 256  # up to this many agents per copy, candidates are all agents of the copy
_STENCIL = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)])


def wrap_angle(angle: torch.Tensor) -> torch.Tensor:
    """Angles wrapped into ``[-pi, pi)``."""
    out = torch.remainder(angle + math.pi, TWO_PI)
    return torch.where(out >= TWO_PI, 0.0, out) - math.pi


def wrap_position(positions: torch.Tensor, box: float) -> torch.Tensor:
    """Coordinates wrapped into ``[0, box)``."""
    out = torch.remainder(positions, box)
    return torch.where(out >= box, 0.0, out)


class TorchSwarmingCore(TorchBatchedCore):
    """Batched Vicsek / Kuramoto swarm as torch tensors on ``device``.

    Args:
        num_envs: B, the number of copies.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"``.
        dtype: ``torch.float32`` (default) or ``torch.float64`` for positions and angles.
        autoreset: reset finished copies inside ``step``.
        **kwargs: the keyword arguments of :class:`~envs.swarming.core.SwarmingCore`.
    """

    metadata = {"render_modes": [], "render_fps": 20, "name": "swarming_v0"}
    team_reward = "mean"

    def __init__(
        self,
        num_envs: int = 1,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        autoreset: bool = True,
        render_mode: str | None = None,
        **kwargs,
    ):
        super().__init__(num_envs, device=device, autoreset=autoreset, render_mode=render_mode)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        ref = self.reference = SwarmingCore(1, autoreset=False, **kwargs)
        self.dtype = dtype
        for name in ("n", "box_size", "speed", "radius", "model", "actions", "max_turn"):
            setattr(self, name, getattr(ref, name))
        for name in (
            "obs_bins",
            "own_velocity",
            "state_bins",
            "reward",
            "turn_cost",
            "turn_cost_power",
        ):
            setattr(self, name, getattr(ref, name))
        self.frequency_spread, self.max_episode_steps = ref.frequency_spread, ref.max_episode_steps
        self.expected_neighbours = ref.expected_neighbours
        self.possible_agents = list(ref.possible_agents)
        self.observation_space, self.action_space = ref.observation_space, ref.action_space
        self.state_space = ref.state_space

        b, n, real = self.num_envs, self.n, dict(dtype=dtype, device=self.device)
        self.turns = torch.as_tensor(ref.turns, **real)
        self.noise_range = ref.noise_range
        widths = [ref.noise_range[0]] + ([ref.heading_noise] if self.model == "kuramoto" else [])
        widths = torch.tensor(widths, **real)
        self._noise_widths = widths[None, :, None].repeat(b, 1, 1)  # [B, k, 1], one row per copy
        self._positions = torch.zeros((b, n, 2), **real)
        self._headings = torch.zeros((b, n), **real)
        self._phases = torch.zeros((b, n), **real) if self.model == "kuramoto" else None
        self._frequencies = torch.zeros((b, n), **real)
        self._t = torch.zeros(b, dtype=torch.int64, device=self.device)
        self._order_sum = torch.zeros(b, dtype=torch.float64, device=self.device)
        self._cells = max(int(self.box_size // self.radius), 1)  # M cells per side
        offsets = np.unique(_STENCIL % self._cells, axis=0)  # the 9 around, fewer if M <= 2
        self._offsets = torch.as_tensor(offsets, dtype=torch.int64, device=self.device)
        self._nbr: torch.Tensor | None = None  # [B*N, K] flat candidate indices
        self._valid: torch.Tensor | None = None  # [B*N, K] candidate is a neighbour

    # ------------------------------------------------------------------ read-only views
    @property
    def positions(self) -> torch.Tensor:
        return self._positions.clone()

    @property
    def headings(self) -> torch.Tensor:
        return self._headings.clone()

    @property
    def phases(self) -> torch.Tensor | None:
        return None if self._phases is None else self._phases.clone()

    @property
    def noise_levels(self) -> torch.Tensor:
        """Each copy's noise width eta ``[B]`` this episode (drawn at reset for a noise range)."""
        return self._noise_widths[:, 0, 0].clone()

    @property
    def frequencies(self) -> torch.Tensor:
        return self._frequencies.clone()

    @property
    def aligned_angles(self) -> torch.Tensor:
        return self._aligned().clone()

    def order_parameter(self) -> torch.Tensor:
        """``phi = |mean_i exp(i a_i)|`` per copy, ``[B]``."""
        angles = self._aligned()
        return torch.hypot(torch.cos(angles).mean(dim=1), torch.sin(angles).mean(dim=1))

    def neighbour_counts(self) -> torch.Tensor:
        """Number of neighbours within ``radius`` of each agent, ``[B, N]``."""
        return self._valid.sum(dim=1).view(self.num_envs, self.n)

    def neighbour_mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean of ``values [B, N, ...]`` over each agent's neighbours (itself excluded)."""
        if tuple(values.shape[:2]) != (self.num_envs, self.n):
            raise ValueError(
                f"values must have shape [B, N, ...] = ({self.num_envs}, {self.n}, ...), "
                f"got {tuple(values.shape)}"
            )
        flat = values.reshape(self.num_envs * self.n, -1).to(self.dtype)
        total = (flat[self._nbr] * self._valid[..., None]).sum(dim=1)
        count = torch.clamp(self._valid.sum(dim=1), min=1)[:, None]
        return (total / count).view(values.shape).float()

    def local_mean_angle(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Direction and length of ``mean exp(i a)`` over each neighbourhood, itself included."""
        angles = self._aligned().reshape(-1)
        cos, sin = torch.cos(angles), torch.sin(angles)
        sum_c = cos + (cos[self._nbr] * self._valid).sum(dim=1)
        sum_s = sin + (sin[self._nbr] * self._valid).sum(dim=1)
        size = self._valid.sum(dim=1) + 1.0
        shape = (self.num_envs, self.n)
        mean_angle = wrap_angle(torch.atan2(sum_s, sum_c)).view(shape)
        return mean_angle, (torch.hypot(sum_c, sum_s) / size).view(shape)

    def state(self) -> torch.Tensor:
        angles, bins = self._aligned(), self.state_bins
        c, s = torch.cos(angles).mean(dim=1), torch.sin(angles).mean(dim=1)
        which = torch.clamp(((angles + math.pi) * (bins / TWO_PI)).long(), max=bins - 1)
        hist = torch.zeros((self.num_envs, bins), dtype=torch.float64, device=self.device)
        hist.scatter_add_(1, which, torch.ones_like(which, dtype=torch.float64))
        counts = self.neighbour_counts().double().mean(dim=1) / self.expected_neighbours
        progress = self._t.double() / self.max_episode_steps
        cols = [torch.hypot(c, s), c, s]
        cols = [x.double()[:, None] for x in cols] + [
            hist / self.n,
            counts[:, None],
            progress[:, None],
        ]
        return torch.cat(cols, dim=1).float()

    # ------------------------------------------------------------------ hooks
    def _reset_copies(self, idx: torch.Tensor, options: dict | None) -> None:
        n, k, kuramoto = self.n, len(idx), self._phases is not None
        low, high = self.noise_range
        u = self.rng.uniform(idx, (5 if kuramoto else 3) * n + (high > low), self.dtype)
        self._positions[idx] = (u[:, : 2 * n] * self.box_size).view(k, n, 2)
        self._headings[idx] = u[:, 2 * n : 3 * n] * TWO_PI - math.pi
        if kuramoto:
            self._phases[idx] = u[:, 3 * n : 4 * n] * TWO_PI - math.pi
            self._frequencies[idx] = (u[:, 4 * n : 5 * n] - 0.5) * self.frequency_spread
        if high > low:  # each copy's noise for this episode, the last draw of its block
            self._noise_widths[idx, 0, 0] = low + u[:, -1] * (high - low)
        for key, value in self._layout(options).items():
            getattr(self, f"_{key}")[idx] = value
        self._positions[idx] = wrap_position(self._positions[idx], self.box_size)
        self._headings[idx] = wrap_angle(self._headings[idx])
        if kuramoto:
            self._phases[idx] = wrap_angle(self._phases[idx])
        self._t[idx] = 0
        self._order_sum[idx] = 0.0
        self._find_neighbours()

    def _layout(self, options: dict | None) -> dict[str, torch.Tensor]:
        """The fixed parts of a reset layout, validated and wrapped by the numpy core."""
        keys = [
            k for k in ("positions", "headings", "phases", "frequencies") if k in (options or {})
        ]
        if not keys:
            return {}
        self.reference.reset(options=options)
        return {
            k: torch.as_tensor(getattr(self.reference, k)[0], dtype=self.dtype, device=self.device)
            for k in keys
        }

    def _step(self, actions: torch.Tensor):
        turn = self.turns[actions] if self.actions == "discrete" else actions[..., 0].to(self.dtype)
        noise = self._draw_noise()  # [B, k, N]
        if self._phases is None:
            self._headings = wrap_angle(self._headings + turn + noise[:, 0])
        else:
            self._phases = wrap_angle(self._phases + self._frequencies + turn + noise[:, 0])
            self._headings = wrap_angle(self._headings + noise[:, 1])
        velocity = torch.stack([torch.cos(self._headings), torch.sin(self._headings)], dim=-1)
        self._positions = wrap_position(self._positions + velocity * self.speed, self.box_size)
        self._t += 1
        self._find_neighbours()
        phi = self.order_parameter()  # [B]
        self._order_sum += phi
        if self.reward == "global":
            rewards = phi[:, None].expand(self.num_envs, self.n)
        elif self.reward == "local":
            rewards = self.local_mean_angle()[1]
        else:  # alignment: cos of one's angle to its neighbourhood's mean direction
            rewards = torch.cos(self._aligned() - self.local_mean_angle()[0])
        if self.turn_cost:
            effort = (turn / self.max_turn).abs() ** self.turn_cost_power
            rewards = rewards - self.turn_cost * effort
        terminated = torch.zeros((self.num_envs, self.n), dtype=torch.bool, device=self.device)
        truncated = (
            (self._t >= self.max_episode_steps)[:, None].expand(self.num_envs, self.n).clone()
        )
        return rewards.float(), terminated, truncated, {"order": phi}

    def _observe(self) -> torch.Tensor:
        b, n, k = self.num_envs, self.n, self.obs_bins
        angles = self._aligned().reshape(-1)
        # a neighbour's angle relative to one's own, in steps of 2 pi / k; bin 0 is "aligned"
        steps = torch.round((angles[self._nbr] - angles[:, None]) * (k / TWO_PI)).long()
        hist = torch.zeros((b * n, k), dtype=torch.float64, device=self.device)
        hist.scatter_add_(1, torch.remainder(steps, k), self._valid.double())
        counts = self._valid.sum(dim=1).double()
        cols = [
            hist / torch.clamp(counts, min=1)[:, None],
            (counts / self.expected_neighbours)[:, None],
        ]
        if self._phases is not None:
            cols.append(self._frequencies.reshape(-1, 1).double())
        if self.own_velocity:
            heading = self._headings.reshape(-1, 1)
            cols += [torch.cos(heading).double(), torch.sin(heading).double()]
        return torch.cat(cols, dim=1).float().view(b, n, -1)

    def _episode_metrics(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        order = self.order_parameter()[idx].double()
        mean_order = self._order_sum[idx] / torch.clamp(self._t[idx], min=1)
        return {"order": order, "mean_order": mean_order}

    # ------------------------------------------------------------------ helpers
    def _aligned(self) -> torch.Tensor:
        return self._headings if self._phases is None else self._phases

    def _draw_noise(self) -> torch.Tensor:
        """Uniform noise ``[B, k, N]`` from each copy's stream."""
        k = self._noise_widths.shape[1]
        u = self.rng.uniform(None, k * self.n, self.dtype).view(self.num_envs, k, self.n)
        return (u - 0.5) * self._noise_widths

    def _find_neighbours(self) -> None:
        """Candidate lists ``_nbr [B*N, K]`` and ``_valid`` (the neighbours among them)."""
        b, n, dev = self.num_envs, self.n, self.device
        total = b * n
        flat = self._positions.reshape(total, 2)
        agent = torch.arange(total, device=dev)
        if n <= DENSE_AGENTS:  # every agent of the copy is a candidate: no gather needed
            nbr = (agent // n * n)[:, None] + torch.arange(n, device=dev)
            p = self._positions
            delta = (p[:, None, :, :] - p[:, :, None, :]).abs().view(total, n, 2)  # [B*N, N, 2]
        else:  # cell lists: the agents of the 9 cells around one's own
            m = self._cells
            cell_xy = torch.clamp((flat * (m / self.box_size)).long(), max=m - 1)  # [B*N, 2]
            base = agent // n * (m * m)
            order = torch.argsort(base + cell_xy[:, 0] * m + cell_xy[:, 1])
            per_cell = torch.bincount(base + cell_xy[:, 0] * m + cell_xy[:, 1], minlength=b * m * m)
            start = torch.cumsum(per_cell, 0) - per_cell
            cap = int(per_cell.max())  # waits for the device: the padding width
            near = (cell_xy[:, None, :] + self._offsets) % m  # [B*N, S, 2]
            near = base[:, None] + near[..., 0] * m + near[..., 1]  # [B*N, S]
            slot = torch.arange(cap, device=dev)
            filled = slot < per_cell[near][..., None]  # [B*N, S, cap]
            where = torch.clamp(start[near][..., None] + slot, max=total - 1)
            nbr = torch.where(filled, order[where], agent[:, None, None]).reshape(total, -1)
            delta = (flat[nbr] - flat[:, None, :]).abs()  # [B*N, K, 2]
        delta = torch.minimum(delta, self.box_size - delta)  # the nearest periodic image
        close = (delta * delta).sum(dim=-1) < self.radius * self.radius
        self._nbr, self._valid = nbr, close & (nbr != agent[:, None])
