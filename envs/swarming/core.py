"""Swarming: Vicsek flocking (and Kuramoto phases) on a periodic box, batched (DESIGN 2.3).

| | |
|---|---|
| Agents | `agent_0` ... `agent_{N-1}` (default N = 100) |
| Action space | `Discrete(num_turns)` (default 7 turns spread over `[-max_turn, max_turn]`, `max_turn = pi/4`) or `Box(-max_turn, max_turn, (1,), float32)` |
| Observation space | `Box(float32, (obs_bins + 1 [+ 1 Kuramoto] [+ 2 own_velocity],))`, default `(9,)` |
| State shape | `(state_bins + 5,)`, default `(21,)` |
| Import | `envs.make("swarming-vicsek-v0")`, `envs.make("swarming-kuramoto-v0")` |

N agents move at constant speed ``speed`` (v0) on an ``L x L`` torus. In the **Vicsek** model
(``model="vicsek"``) each agent steers its heading: ``theta <- theta + turn + xi`` with noise
``xi ~ U[-noise/2, noise/2]``, then moves ``x <- x + v0 (cos theta, sin theta)`` (mod L).
Left to the classic Vicsek rule (turn to the mean heading of the neighbours within ``radius``;
see :mod:`envs.swarming.policies`) the flock orders at low noise and disorders at high noise.
In the **Kuramoto** model (``model="kuramoto"``) the agents carry a phase besides their
heading: headings diffuse (``theta <- theta + U[-heading_noise/2, heading_noise/2]``) and the
agents steer their phase instead, ``psi <- psi + omega_i + turn + xi``, against a natural
frequency ``omega_i ~ U[-frequency_spread/2, frequency_spread/2]`` of their own. Below, the
*aligned angle* is the heading (Vicsek) or the phase (Kuramoto).

Neighbours are the other agents closer than ``radius`` (minimum image on the torus), found
by cell lists (:mod:`envs.swarming.neighbours`) in ``O(N)`` per copy, so 10^4 agents per copy
step quickly. With ``rho = N / L^2`` the classic defaults are ``v0 = 0.03``, ``r = 1``,
``N = 100``, ``L = 5`` (``rho = 4``).

### Observations
A float32 vector per agent:

- ``obs_bins`` values: histogram of the neighbours' aligned angles *relative to one's own*,
  as fractions of the neighbours (all zero without neighbours). Bin ``k`` holds relative
  angles nearest to ``2 pi k / obs_bins``: bin 0 is "aligned with me".
- 1 value: the neighbour count divided by its expectation for uniformly spread agents,
  ``(N - 1) pi r^2 / L^2``.
- Kuramoto only, 1 value: the agent's natural frequency ``omega_i`` (radians per step).
- with ``own_velocity=True``, 2 values: ``(cos theta, sin theta)`` of one's heading.

### Actions
The change of the aligned angle before noise: ``Discrete(num_turns)`` picks one of
``linspace(-max_turn, max_turn, num_turns)`` (the middle one is "keep going" when
``num_turns`` is odd); continuous actions give the turn in radians.

### Rewards
Shared and cooperative: every agent gets the order parameter of its copy,
``phi = |mean_i exp(i a_i)|`` over the aligned angles ``a_i`` (polar order for Vicsek,
Kuramoto order for Kuramoto). With ``reward="local"`` each agent gets instead the order of
its own neighbourhood (itself included); with ``reward="alignment"``, ``cos`` of the angle
between its own aligned angle and its neighbourhood's mean direction (itself included), the
quantity the Vicsek rule turns to maximise: one agent's own credit, where the local order
mixes in every neighbour's turn. ``turn_cost`` subtracts
``turn_cost * |turn / max_turn|^turn_cost_power`` (an effort cost; the power is 2 by default,
1 charges small turns relatively more and large ones less). ``team_reward = "mean"``: the team's
episodic return is the mean of the agents' returns. Episodes never terminate; they are
truncated after ``max_episode_steps``. Episode metrics: ``order`` (at the last step) and
``mean_order`` (over the episode). ``info["order"]`` carries ``phi`` at every step.

### State
A compact global state, not the N x 3 configuration: ``[phi, mean cos a, mean sin a,
histogram of all aligned angles (state_bins fractions, absolute, bin k around
-pi + 2 pi (k + 1/2) / state_bins), mean scaled neighbour count, t / max_episode_steps]``.

### Reset options
``reset(options={"positions": [N, 2], "headings": [N], "phases": [N], "frequencies": [N]})``
fixes any of these in every copy (positions and angles are wrapped into the box and into
``[-pi, pi)``); the rest is drawn as usual. Random draws happen either way, so the
generators advance identically. Other keys are ignored.

### Arguments
- ``num_agents`` (100), ``box_size`` L (5.0), ``speed`` v0 (0.03, below L/2), ``radius`` r (1.0, at most L/2).
- ``noise`` eta (0.5): width of the uniform noise on the aligned angle, in ``[0, 2 pi]``;
  at 0.5 the Vicsek rule holds the default flock at order about 0.985, at 2 about 0.8,
  above 4 it stays disordered (about 0.1). A pair ``[low, high]`` instead draws each copy's
  eta uniformly from that range at every reset (one policy trained across the transition);
  ``noise_levels`` gives each copy's current eta.
- ``model``: ``"vicsek"`` or ``"kuramoto"``; ``frequency_spread`` (0.1) and
  ``heading_noise`` (0.5, in ``[0, 2 pi]``) apply to Kuramoto only.
- ``actions``: ``"discrete"`` or ``"continuous"``; ``num_turns`` (7, >= 2), ``max_turn`` (pi/4, in ``(0, pi]``).
- ``obs_bins`` (8), ``own_velocity`` (False), ``state_bins`` (16).
- ``reward``: ``"global"``, ``"local"`` or ``"alignment"``; ``turn_cost`` (0.0, >= 0),
  ``turn_cost_power`` (2.0, >= 1).
- ``max_episode_steps`` (200).

### Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from envs.core import BatchedCore
from envs.swarming.arguments import choice, integer, noise_range, real
from envs.swarming.neighbours import NeighbourPairs, cell_list_pairs

TWO_PI = 2.0 * np.pi
MODELS = ("vicsek", "kuramoto")
ACTION_KINDS = ("discrete", "continuous")
REWARDS = ("global", "local", "alignment")


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped into ``[-pi, pi)`` (guarding the float edge where ``%`` returns 2 pi)."""
    out = np.mod(np.asarray(angle, dtype=np.float64) + np.pi, TWO_PI)
    return np.where(out >= TWO_PI, 0.0, out) - np.pi


def wrap_position(positions: np.ndarray, box: float) -> np.ndarray:
    """Coordinates wrapped into ``[0, box)`` (guarding the float edge where ``%`` returns box)."""
    out = np.mod(positions, box)
    return np.where(out >= box, 0.0, out)


class SwarmingCore(BatchedCore):
    """Batched Vicsek / Kuramoto swarm: ``num_envs`` copies of ``num_agents`` agents each."""

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["human", "rgb_array"],
        "render_fps": 20,
        "name": "swarming_v0",
    }
    team_reward = "mean"

    def __init__(
        self,
        num_envs: int = 1,
        *,
        num_agents: int = 100,
        box_size: float = 5.0,
        speed: float = 0.03,
        radius: float = 1.0,
        noise: float | tuple[float, float] = 0.5,
        model: str = "vicsek",
        actions: str = "discrete",
        num_turns: int = 7,
        max_turn: float = np.pi / 4,
        obs_bins: int = 8,
        own_velocity: bool = False,
        state_bins: int = 16,
        reward: str = "global",
        turn_cost: float = 0.0,
        turn_cost_power: float = 2.0,
        frequency_spread: float = 0.1,
        heading_noise: float = 0.5,
        max_episode_steps: int = 200,
        autoreset: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(num_envs, autoreset=autoreset, render_mode=render_mode)
        self.n = integer("num_agents", num_agents, 1)
        self.box_size = real("box_size", box_size, low=0.0, low_open=True)
        self.speed = real("speed", speed, low=0.0)
        if self.speed >= self.box_size / 2:
            raise ValueError(
                f"speed must be below box_size / 2 = {self.box_size / 2:g} (a longer step per tick "
                f"aliases on the torus), got {speed!r}"
            )
        self.radius = real("radius", radius, low=0.0, low_open=True)
        if self.radius > self.box_size / 2:
            raise ValueError(
                f"radius must be at most box_size / 2 = {self.box_size / 2:g} (so that a neighbour's "
                f"nearest periodic image is unique), got {radius!r}"
            )
        self.noise_range = noise_range(noise)  # (eta, eta) for one noise
        self.noise = self.noise_range[0] if self.noise_range[0] == self.noise_range[1] else None
        self.model = choice("model", model, MODELS)
        self.actions = choice("actions", actions, ACTION_KINDS)
        self.num_turns = integer("num_turns", num_turns, 2)
        self.max_turn = real("max_turn", max_turn, low=0.0, high=np.pi, low_open=True)
        self.obs_bins = integer("obs_bins", obs_bins, 2)
        self.own_velocity = bool(own_velocity)
        self.state_bins = integer("state_bins", state_bins, 1)
        self.reward = choice("reward", reward, REWARDS)
        self.turn_cost = real("turn_cost", turn_cost, low=0.0)
        self.turn_cost_power = real("turn_cost_power", turn_cost_power, low=1.0)
        self.frequency_spread = real("frequency_spread", frequency_spread, low=0.0)
        self.heading_noise = real("heading_noise", heading_noise, low=0.0, high=TWO_PI)
        self.max_episode_steps = integer("max_episode_steps", max_episode_steps, 1)

        self.possible_agents = [f"agent_{i}" for i in range(self.n)]
        self.turns = np.linspace(
            -self.max_turn, self.max_turn, self.num_turns
        )  # discrete turn table
        if self.actions == "discrete":
            self.action_space = gym.spaces.Discrete(self.num_turns)
        else:
            self.action_space = gym.spaces.Box(
                -self.max_turn, self.max_turn, shape=(1,), dtype=np.float32
            )
        # expected neighbours of an agent when positions are uniform: scales the count feature
        self.expected_neighbours = max(self.n - 1, 1) * np.pi * self.radius**2 / self.box_size**2
        low = [0.0] * (self.obs_bins + 1)
        high = [1.0] * self.obs_bins + [max(self.n - 1, 1) / self.expected_neighbours]
        if self.model == "kuramoto":
            low.append(-self.frequency_spread / 2)
            high.append(self.frequency_spread / 2)
        if self.own_velocity:
            low += [-1.0, -1.0]
            high += [1.0, 1.0]
        self.observation_space = gym.spaces.Box(
            np.array(low, dtype=np.float32), np.array(high, dtype=np.float32), dtype=np.float32
        )
        self.state_space = gym.spaces.Box(
            -np.inf, np.inf, shape=(self.state_bins + 5,), dtype=np.float32
        )

        b, n = self.num_envs, self.n
        self._positions = np.zeros((b, n, 2))  # [B, N, 2] in [0, L)
        self._headings = np.zeros((b, n))  # [B, N] in [-pi, pi)
        self._phases = np.zeros((b, n)) if self.model == "kuramoto" else None  # [B, N]
        self._frequencies = np.zeros((b, n))  # [B, N] natural frequencies (zero for Vicsek)
        self._t = np.zeros(b, dtype=np.int64)  # [B] steps into the episode
        self._order_sum = np.zeros(b)  # [B] running sum of phi for the episode mean
        # noise widths per copy, one row per noisy angle: [aligned angle, (Kuramoto) heading]
        widths = [self.noise_range[0]] + ([self.heading_noise] if self._phases is not None else [])
        self._noise_widths = np.tile(np.array(widths)[None, :, None], (b, 1, 1))  # [B, k, 1]
        self._noise_block = np.zeros((b, len(widths), n))  # [B, k, N], filled copy by copy
        self._pairs: NeighbourPairs | None = None
        self._renderer = None

    # ------------------------------------------------------------------ read-only views
    @property
    def positions(self) -> np.ndarray:
        """Positions ``[B, N, 2]`` in ``[0, box_size)`` (a copy)."""
        return self._positions.copy()

    @property
    def headings(self) -> np.ndarray:
        """Headings ``[B, N]`` in ``[-pi, pi)`` (a copy)."""
        return self._headings.copy()

    @property
    def phases(self) -> np.ndarray | None:
        """Kuramoto phases ``[B, N]`` in ``[-pi, pi)`` (a copy), None for the Vicsek model."""
        return None if self._phases is None else self._phases.copy()

    @property
    def noise_levels(self) -> np.ndarray:
        """Each copy's noise width eta ``[B]`` this episode (drawn at reset for a noise range)."""
        return self._noise_widths[:, 0, 0].copy()

    @property
    def frequencies(self) -> np.ndarray:
        """Natural frequencies ``[B, N]`` (radians per step; all zero for the Vicsek model)."""
        return self._frequencies.copy()

    @property
    def aligned_angles(self) -> np.ndarray:
        """The angles the reward aligns, ``[B, N]``: headings (Vicsek) or phases (Kuramoto)."""
        return (self._headings if self._phases is None else self._phases).copy()

    def order_parameter(self) -> np.ndarray:
        """``phi = |mean_i exp(i a_i)|`` per copy, ``[B]``: 1 aligned, about ``1/sqrt(N)`` random."""
        angles = self._aligned()
        return np.hypot(np.cos(angles).mean(axis=1), np.sin(angles).mean(axis=1))

    def neighbour_pairs(self) -> NeighbourPairs:
        """The current neighbour pairs (flat indices ``b * N + i``); see :mod:`envs.swarming.neighbours`."""
        return self._pairs

    def neighbour_counts(self) -> np.ndarray:
        """Number of neighbours within ``radius`` of each agent, ``[B, N]``."""
        return self._pairs.counts.reshape(self.num_envs, self.n)

    def neighbour_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of ``values [B, N, ...]`` over each agent's neighbours within ``radius``.

        The agent itself is excluded; an agent without neighbours gets zeros. Mean-field
        learners call this with one-hot actions ``[B, N, A]``.
        """
        values = np.asarray(values)
        if values.shape[:2] != (self.num_envs, self.n):
            raise ValueError(
                f"values must have shape [B, N, ...] = ({self.num_envs}, {self.n}, ...), got {values.shape}"
            )
        total = self._pairs.sum(values.reshape(self.num_envs * self.n, -1))
        mean = total / np.maximum(self._pairs.counts, 1)[:, None]
        return mean.reshape(values.shape).astype(np.float32)

    def local_mean_angle(self) -> tuple[np.ndarray, np.ndarray]:
        """Direction and length of ``mean exp(i a)`` over each agent's neighbourhood, itself included.

        Returns ``(angle [B, N] in [-pi, pi), local order [B, N] in [0, 1])``: what the
        Vicsek rule aligns to, and the local version of the order parameter.
        """
        angles = self._aligned().ravel()
        unit = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # [B*N, 2]
        total = unit + self._pairs.sum(unit)
        sum_c, sum_s = total[:, 0], total[:, 1]
        size = self._pairs.counts + 1.0
        shape = (self.num_envs, self.n)
        mean_angle = wrap_angle(np.arctan2(sum_s, sum_c)).reshape(shape)
        return mean_angle, (np.hypot(sum_c, sum_s) / size).reshape(shape)

    def state(self) -> np.ndarray:
        self._require_reset("state")
        angles = self._aligned()
        c, s = np.cos(angles).mean(axis=1), np.sin(angles).mean(axis=1)
        bins = np.minimum(
            ((angles + np.pi) * (self.state_bins / TWO_PI)).astype(np.int64), self.state_bins - 1
        )
        flat_bins = bins + (np.arange(self.num_envs) * self.state_bins)[:, None]
        hist = np.bincount(flat_bins.ravel(), minlength=self.num_envs * self.state_bins)
        hist = hist.reshape(self.num_envs, self.state_bins) / self.n
        counts = self.neighbour_counts().mean(axis=1) / self.expected_neighbours
        progress = self._t / self.max_episode_steps
        cols = [
            np.hypot(c, s)[:, None],
            c[:, None],
            s[:, None],
            hist,
            counts[:, None],
            progress[:, None],
        ]
        return np.concatenate(cols, axis=1).astype(np.float32)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ------------------------------------------------------------------ hooks
    def _reset_copies(self, idx: np.ndarray, options: dict | None) -> None:
        layout = self._check_layout(options)
        fixed = {
            "positions": self._positions,
            "headings": self._headings,
            "phases": self._phases,
            "frequencies": self._frequencies,
        }
        n, half = self.n, self.frequency_spread / 2
        low, high = self.noise_range
        for b in idx:
            rng = self.rngs[b]
            self._positions[b] = rng.uniform(0.0, self.box_size, size=(n, 2))
            self._headings[b] = rng.uniform(-np.pi, np.pi, size=n)
            if self._phases is not None:
                self._phases[b] = rng.uniform(-np.pi, np.pi, size=n)
                self._frequencies[b] = rng.uniform(-half, half, size=n)
            for key, value in layout.items():
                fixed[key][b] = value
            if high > low:  # drawn last, so a fixed noise leaves the generators as they were
                self._noise_widths[b, 0, 0] = rng.uniform(low, high)
        self._positions[idx] = wrap_position(self._positions[idx], self.box_size)
        self._headings[idx] = wrap_angle(self._headings[idx])
        if self._phases is not None:
            self._phases[idx] = wrap_angle(self._phases[idx])
        self._t[idx] = 0
        self._order_sum[idx] = 0.0
        self._pairs = cell_list_pairs(self._positions, self.box_size, self.radius)

    def _step(self, actions: np.ndarray):
        turn = (
            self.turns[actions]
            if self.actions == "discrete"
            else actions[..., 0].astype(np.float64)
        )  # [B, N]
        noise = self._draw_noise()  # [B, k, N]
        if self._phases is None:
            self._headings = wrap_angle(self._headings + turn + noise[:, 0])
        else:
            self._phases = wrap_angle(self._phases + self._frequencies + turn + noise[:, 0])
            self._headings = wrap_angle(self._headings + noise[:, 1])
        velocity = np.stack([np.cos(self._headings), np.sin(self._headings)], axis=-1)  # [B, N, 2]
        velocity *= self.speed
        self._positions = wrap_position(self._positions + velocity, self.box_size)
        self._t += 1
        self._pairs = cell_list_pairs(self._positions, self.box_size, self.radius)

        phi = self.order_parameter()  # [B]
        self._order_sum += phi
        if self.reward == "global":
            rewards = np.repeat(phi[:, None], self.n, axis=1)
        elif self.reward == "local":
            rewards = self.local_mean_angle()[1]
        else:  # alignment: cos of one's angle to its neighbourhood's mean direction
            rewards = np.cos(self._aligned() - self.local_mean_angle()[0])
        if self.turn_cost:
            effort = np.abs(turn / self.max_turn) ** self.turn_cost_power
            rewards = rewards - self.turn_cost * effort
        terminated = np.zeros((self.num_envs, self.n), dtype=bool)
        truncated = np.repeat((self._t >= self.max_episode_steps)[:, None], self.n, axis=1)
        return rewards.astype(np.float32), terminated, truncated, {"order": phi}

    def _observe(self) -> np.ndarray:
        b, n, k = self.num_envs, self.n, self.obs_bins
        pairs, size = self._pairs, b * n * k
        i, j = (
            (pairs.i, pairs.j)
            if size < 2**31
            else (pairs.i.astype(np.int64), pairs.j.astype(np.int64))
        )
        angles = self._aligned().ravel()
        # j's angle relative to i's, in steps of 2 pi / k, is s in [-k, k]; its bin is s mod k
        # (bin 0 centred on "aligned"). rint is odd, so i's relative to j's is -s: one pass
        # over the pairs serves both directions; the mod is a lookup in a (2k + 1)-table.
        steps = np.rint((angles.take(j) - angles.take(i)) * (k / TWO_PI)).astype(i.dtype)  # [P]
        steps += k
        lookup = (np.arange(-k, k + 1) % k).astype(i.dtype)
        hist = np.bincount(i * k + lookup.take(steps), minlength=size)
        hist += np.bincount(j * k + lookup[::-1].take(steps), minlength=size)
        counts = pairs.counts
        out = np.empty((b * n, self.observation_space.shape[0]), dtype=np.float32)  # [B*N, obs]
        np.divide(
            hist.reshape(b * n, k), np.maximum(counts, 1)[:, None], out=out[:, :k], casting="unsafe"
        )
        out[:, k] = counts / self.expected_neighbours
        col = k + 1
        if self._phases is not None:
            out[:, col] = self._frequencies.ravel()
            col += 1
        if self.own_velocity:
            heading = self._headings.ravel()
            out[:, col] = np.cos(heading)
            out[:, col + 1] = np.sin(heading)
        return out.reshape(b, n, -1)

    def _render_frame(self, index: int) -> np.ndarray | None:
        if self._renderer is None:
            from envs.swarming.rendering import SwarmRenderer

            self._renderer = SwarmRenderer(
                self.box_size, self.n, self.render_mode, fps=self.metadata["render_fps"]
            )
        phi = float(self.order_parameter()[index])
        colour_angles = self._headings[index] if self._phases is None else self._phases[index]
        label = "polar order" if self._phases is None else "Kuramoto order"
        return self._renderer.draw(
            self._positions[index],
            self._headings[index],
            colour_angles,
            f"{label} {phi:.3f}",
            int(self._t[index]),
        )

    def _episode_metrics(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        order = self.order_parameter()[idx]
        mean_order = self._order_sum[idx] / np.maximum(self._t[idx], 1)
        return {"order": order, "mean_order": mean_order}

    # ------------------------------------------------------------------ helpers
    def _aligned(self) -> np.ndarray:
        return self._headings if self._phases is None else self._phases

    def _draw_noise(self) -> np.ndarray:
        """Uniform noise ``[B, k, N]``, one block per copy from that copy's generator."""
        block = self._noise_block
        if not self._noise_widths.any():
            return np.zeros_like(block)
        for b, rng in enumerate(self.rngs):
            rng.random(out=block[b])
        return (block - 0.5) * self._noise_widths

    def _check_layout(self, options: dict | None) -> dict[str, np.ndarray]:
        """The fixed parts of a reset layout, validated (see "Reset options" above)."""
        if not options:
            return {}
        shapes = {
            "positions": (self.n, 2),
            "headings": (self.n,),
            "phases": (self.n,),
            "frequencies": (self.n,),
        }
        layout = {}
        for key, value in options.items():
            if key not in shapes:
                continue  # other keys belong to callers (PettingZoo's API test passes one)
            if key in ("phases", "frequencies") and self._phases is None:
                raise ValueError(f"reset option {key!r} needs model='kuramoto'")
            try:
                array = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"reset option {key!r} must be numbers, got {value!r}") from None
            if array.shape != shapes[key]:
                raise ValueError(
                    f"reset option {key!r} must have shape {shapes[key]}, got {array.shape}"
                )
            if not np.all(np.isfinite(array)):
                raise ValueError(f"reset option {key!r} must be finite")
            half = self.frequency_spread / 2
            if key == "frequencies" and np.any(np.abs(array) > half):
                raise ValueError(
                    f"reset option 'frequencies' must lie in [-{half:g}, {half:g}] (frequency_spread / 2)"
                )
            layout[key] = array
        return layout
