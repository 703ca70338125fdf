"""The donor game of indirect reciprocity, as a batched numpy core (DESIGN 2.4).

| Import             | `envs.make("donor-v0")`, `envs.make_vec("donor-v0", num_envs=B)`            |
|--------------------|------------------------------------------------------------------------------|
| Agents             | `agents = ["agent_0", ..., "agent_{N-1}"]` (N = 12 by default)               |
| Action space       | `Discrete(L)`, L donation levels (5 by default), `Discrete(L + 1)` with punishment |
| Observation space  | `Box(float32, (1 + 2k + 2,))` by default (k = 3): 9 values                   |
| State shape        | `(4N + 1,)`                                                                  |
| Parallel API       | yes                                                                          |
| Team reward        | mean of the agents' rewards (general-sum game)                               |

A population of N agents plays ``num_rounds`` rounds. **One step is one round**: every
agent is a donor exactly once, towards the recipient the pairing rule assigns it, and all
agents decide at the same time. Each agent is also the recipient of exactly one donor per
round. The pairing of round t is drawn *before* round t, so **the observation returned by
``reset`` / step t-1 describes the recipient the agent faces at step t**; the reward of step
t is what that round did to the agent's resources.

## Observations
A vector (float32), in this order (``core.obs_slices`` names the parts):

- ``reputation`` (1 value, left out with ``observe_reputation=False``): the recipient's
  reputation under the norm before this round: +1 good / -1 bad for the binary norms,
  score / ``score_bound`` in [-1, 1] for image scoring.
- ``trace`` (2 k values, or 3 k with punishment; none with ``trace_length=0``): the
  recipient's last k decisions as a donor, most recent first, each as ``present`` (1 if
  that slot holds a decision), ``fraction`` (the fraction it actually donated, after
  execution errors), and with punishment ``punished`` (1 if it punished).
- ``resources`` (1): own resources on a log scale, ``log2(1 + resources / start_resources)``
  (1.0 at the start, 0 when broke).
- ``round`` (1): the round about to be played divided by ``num_rounds`` (1.0 in a final
  observation).
- ``generation_round`` (1, only with generations): the round within the current
  generation divided by ``generation_length``.

Hiding everything about the recipient takes ``observe_reputation=False, trace_length=0``.

## Actions
``Discrete(L)``: action a donates ``donation_levels[a]`` of the donor's current resources
(default levels 0, 0.25, 0.5, 0.75, 1). With ``punishment=True`` action L punishes: the
donor pays ``x = punish_fraction * own resources`` and the recipient loses
``punish_fine * x`` (the recipient's resources are floored at 0). The recipient of a
donation receives ``multiplier`` times it. An execution error (probability
``execution_error``) turns a chosen positive donation into giving nothing; punishments and
zero donations are executed as chosen.

All transfers of a round are computed from the resources at the start of the round and
applied together: ``new = max(0, old - donated - punishment cost + multiplier * received
- fines)``. Donations and punishment costs never exceed the donor's resources, so the floor
only ever cuts fines.

## Reputations
A public observer assesses every donor after each round with the chosen norm
(:mod:`envs.donor.norms`) from the donor's executed action (cooperate = a positive
fraction, even of zero resources; a punishment counts as defection) and the recipient's
standing before the round. With probability ``assessment_error`` it records the opposite
verdict. Everyone starts in good standing (score 0 under image scoring).

## Rewards
The change of the agent's own resources in the round (general-sum; ``team_reward =
"mean"``). Resources compound: a population of full donors doubles its resources every
round (``multiplier`` 2), so rewards grow geometrically over an episode.

## Generations
With ``generation_length=G``, after every G-th round that is not the episode's last the
agents are ranked by resources (ties broken at random); for i < N // 2 the agent ranked
N-1-i (0 = richest) is replaced by a copy of the agent ranked i. Then a new generation
starts: every agent's resources, reputation and trace are reset, and with round-robin
pairing the agents are seated anew. ``info["replaced_by"]`` ``[B, N]`` int gives, for each
agent replaced after this step, the index of the agent it is now a copy of (-1 elsewhere),
so that a trainer can copy that agent's policy parameters; ``info["generation"] [B]``
counts the generations started so far. The step's reward is the change from play, before
the reset.

## Step info
``recipients [B, N]`` (this round's recipient of each donor), ``donated [B, N]`` (fraction
actually donated), ``punished [B, N]`` (bool), ``replaced_by [B, N]``, ``generation [B]``.

## Episode metrics (``info["episode"]``)
- ``cooperation_rate``: the share of donor decisions in the episode that chose a positive
  donation level (the agents' intent, before execution errors; punishing is not
  cooperating).
- ``donated_fraction``: the mean fraction actually donated per decision (after execution
  errors; a punishment donates 0).
- ``final_resources``: the mean resources at the end of the episode.
- ``good_reputation_share``: the share of agents in good standing after a round, averaged
  over the episode's rounds.
- ``punishment_rate`` (with punishment): the share of decisions that punished.

## Arguments
- ``num_agents`` (12): population size N, at least 2 (even for round-robin pairing).
- ``num_rounds`` (12): rounds per episode (a time limit: reported as truncation).
- ``start_resources`` (10.0): each agent's resources at the start (and of each generation).
- ``donation_levels`` ((0, 0.25, 0.5, 0.75, 1)): the donatable fractions, distinct, in [0, 1].
- ``multiplier`` (2.0): b, what the recipient gets per unit donated; at least 1.
- ``pairing`` ("random"): ``"random"`` or ``"round_robin"`` (:mod:`envs.donor.pairing`).
- ``norm`` ("image_scoring"): ``"image_scoring"``, ``"simple_standing"``,
  ``"stern_judging"`` or ``"shunning"``.
- ``score_bound`` (5): image scoring keeps scores in [-score_bound, score_bound].
- ``execution_error``, ``assessment_error`` (0.02 each): probabilities in [0, 1].
- ``observe_reputation`` (True), ``trace_length`` (3): what a donor sees of its recipient.
- ``punishment`` (False), ``punish_fraction`` (0.25), ``punish_fine`` (2.0): the costly
  punishment action.
- ``generation_length`` (None): rounds per generation; None for no generations.

## Reset options
``reset(options={...})`` sets up a scenario in every copy being reset: ``resources`` and
``reputation`` (arrays broadcastable to [N]; reputations 0/1 for binary norms, integer
scores for image scoring), ``recipients`` ([N], the first round's recipients, overriding
the pairing rule for that round) and ``seating`` ([N] permutation, round-robin only).
Unknown keys are ignored with a warning, as gymnasium envs ignore them.

## Version History
- v0: initial version.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from envs.core import BatchedCore
from envs.donor.norms import Norm, get_norm
from envs.donor.pairing import (
    check_pairing,
    random_matching,
    round_robin,
    round_robin_schedule,
    seating,
)

RESET_OPTIONS = ("resources", "reputation", "recipients", "seating")
DEFAULT_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)


class DonorCore(BatchedCore):
    """B copies of the iterated donor game with reputations (see the module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["human", "rgb_array"],
        "render_fps": 4,
        "name": "donor_v0",
    }
    team_reward = "mean"

    def __init__(
        self,
        num_envs: int = 1,
        *,
        autoreset: bool = True,
        render_mode: str | None = None,
        num_agents: int = 12,
        num_rounds: int = 12,
        start_resources: float = 10.0,
        donation_levels: Sequence[float] = DEFAULT_LEVELS,
        multiplier: float = 2.0,
        pairing: str = "random",
        norm: str = "image_scoring",
        score_bound: int = 5,
        execution_error: float = 0.02,
        assessment_error: float = 0.02,
        observe_reputation: bool = True,
        trace_length: int = 3,
        punishment: bool = False,
        punish_fraction: float = 0.25,
        punish_fine: float = 2.0,
        generation_length: int | None = None,
    ):
        super().__init__(num_envs, autoreset=autoreset, render_mode=render_mode)
        _check_int("num_agents", num_agents, 2)
        _check_int("num_rounds", num_rounds, 1)
        _check_int("score_bound", score_bound, 1)
        _check_int("trace_length", trace_length, 0)
        if generation_length is not None:
            _check_int("generation_length", generation_length, 1)
        self.pairing = check_pairing(pairing, int(num_agents))
        self.norm: Norm = get_norm(norm)
        if not np.isfinite(multiplier) or multiplier < 1:
            raise ValueError(
                f"multiplier must be a finite number >= 1 (donating must not destroy value), "
                f"got {multiplier!r}"
            )
        if not np.isfinite(start_resources) or start_resources <= 0:
            raise ValueError(f"start_resources must be a positive number, got {start_resources!r}")
        for name, p in (
            ("execution_error", execution_error),
            ("assessment_error", assessment_error),
        ):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"{name} is a probability and must lie in [0, 1], got {p!r}")
        levels = np.asarray(donation_levels, dtype=np.float64)
        if (
            levels.ndim != 1
            or levels.size == 0
            or np.any(~np.isfinite(levels))
            or np.any(levels < 0)
            or np.any(levels > 1)
            or np.unique(levels).size != levels.size
        ):
            raise ValueError(
                f"donation_levels must be a non-empty sequence of distinct fractions in [0, 1], "
                f"got {donation_levels!r}"
            )
        if punishment:
            if not 0 < punish_fraction <= 1:
                raise ValueError(f"punish_fraction must lie in (0, 1], got {punish_fraction!r}")
            if not np.isfinite(punish_fine) or punish_fine < 0:
                raise ValueError(f"punish_fine must be a finite number >= 0, got {punish_fine!r}")

        n = int(num_agents)
        self.num_rounds = int(num_rounds)
        self.start_resources = float(start_resources)
        self.donation_levels = tuple(float(x) for x in levels)
        self.multiplier = float(multiplier)
        self.score_bound = int(score_bound)
        self.execution_error = float(execution_error)
        self.assessment_error = float(assessment_error)
        self.observe_reputation = bool(observe_reputation)
        self.trace_length = int(trace_length)
        self.punishment = bool(punishment)
        self.punish_fraction = float(punish_fraction)
        self.punish_fine = float(punish_fine)
        self.generation_length = None if generation_length is None else int(generation_length)
        #: The action that punishes, or None without punishment.
        self.punish_action: int | None = len(levels) if self.punishment else None

        self.possible_agents = [f"agent_{i}" for i in range(n)]
        self.action_space = gym.spaces.Discrete(len(levels) + int(self.punishment))
        # fraction donated by each action; the punishment action donates nothing
        self._fractions = np.concatenate([levels, [0.0] if self.punishment else []])
        self._build_observation_space()
        self.state_space = gym.spaces.Box(-np.inf, np.inf, shape=(4 * n + 1,), dtype=np.float32)
        self._schedule = round_robin_schedule(n) if self.pairing == "round_robin" else None

        b = self.num_envs
        self._rows = np.arange(b)[:, None]  # [B, 1] row index for gathers
        self._flat_offset = self._rows * n  # [B, 1] offsets into flattened [B * N] arrays
        # [B, 4N] each step's uniforms, refilled in place row by row (no views kept: a
        # pickled or deep-copied core must not fill a row that _block no longer owns)
        self._block = np.empty((b, 4 * n))
        self._resources = np.full((b, n), self.start_resources)  # [B, N]
        self._reputation = np.full((b, n), self.norm.initial, dtype=np.int64)  # [B, N]
        self._trace = np.zeros(
            (b, n, self.trace_length, self._trace_channels), dtype=np.float32
        )  # [B, N, k, C]
        self._recipients = np.zeros((b, n), dtype=np.int64)  # [B, N] the coming round's recipients
        self._seats = np.tile(np.arange(n), (b, 1))  # [B, N] agent in each seat (round-robin)
        self._seat_round = np.zeros(b, dtype=np.int64)  # [B] rounds since the seating was drawn
        self._round = np.zeros(b, dtype=np.int64)  # [B] rounds played this episode
        self._generation = np.zeros(b, dtype=np.int64)  # [B] generations started (0 = the first)
        # per-episode sums for the metrics
        self._coop_count = np.zeros(b)
        self._donated_sum = np.zeros(b)
        self._punish_count = np.zeros(b)
        self._good_sum = np.zeros(b)
        # the last round, for the renderer
        self._coop_history = np.full(
            (b, self.num_rounds), np.nan
        )  # [B, T] cooperation rate per round
        self._last_recipients = np.full((b, n), -1, dtype=np.int64)
        self._last_donated = np.zeros((b, n))
        self._last_punished = np.zeros((b, n), dtype=bool)
        self._renderer = None

    # ------------------------------------------------------------------ spaces
    @property
    def _trace_channels(self) -> int:
        return 3 if self.punishment else 2

    def _build_observation_space(self) -> None:
        low: list[float] = []
        high: list[float] = []
        self.obs_slices: dict[str, slice] = {}

        def add(name: str, lo: list[float], hi: list[float]) -> None:
            self.obs_slices[name] = slice(len(low), len(low) + len(lo))
            low.extend(lo)
            high.extend(hi)

        if self.observe_reputation:
            add("reputation", [-1.0], [1.0])
        if self.trace_length:
            add(
                "trace",
                [0.0] * self.trace_length * self._trace_channels,
                [1.0] * self.trace_length * self._trace_channels,
            )
        add("resources", [0.0], [np.inf])
        add("round", [0.0], [1.0])
        if self.generation_length is not None:
            add("generation_round", [0.0], [1.0])
        self.observation_space = gym.spaces.Box(
            np.array(low, dtype=np.float32), np.array(high, dtype=np.float32), dtype=np.float32
        )

    # ------------------------------------------------------------------ public views
    @property
    def resources(self) -> np.ndarray:
        """Current resources ``[B, N]`` (a copy)."""
        return self._resources.copy()

    @property
    def reputation(self) -> np.ndarray:
        """Current reputations ``[B, N]``: 0/1 (binary norms) or scores (image scoring)."""
        return self._reputation.copy()

    @property
    def good(self) -> np.ndarray:
        """Whether each agent is in good standing ``[B, N]``."""
        return self.norm.is_good(self._reputation)

    @property
    def recipients(self) -> np.ndarray:
        """The recipient of each donor in the coming round ``[B, N]``."""
        return self._recipients.copy()

    @property
    def seats(self) -> np.ndarray:
        """Round-robin seating ``[B, N]``: the agent in each seat (seats < N/2 form half A)."""
        return self._seats.copy()

    @property
    def schedule_round(self) -> np.ndarray:
        """Round-robin: the coming round's index in the schedule (rounds since seating) ``[B]``."""
        return self._seat_round.copy()

    @property
    def round(self) -> np.ndarray:
        """Rounds played in the current episode ``[B]``."""
        return self._round.copy()

    @property
    def generation(self) -> np.ndarray:
        """Generations started in the current episode ``[B]`` (0 = the first one)."""
        return self._generation.copy()

    # ------------------------------------------------------------------ hooks
    def _reset_copies(self, idx: np.ndarray, options: dict | None) -> None:
        n = self.num_agents
        uniforms = np.stack([self.rngs[b].random(n) for b in idx])  # [len(idx), N]
        self._resources[idx] = self.start_resources
        self._reputation[idx] = self.norm.initial
        self._trace[idx] = 0.0
        self._round[idx] = 0
        self._generation[idx] = 0
        self._seat_round[idx] = 0
        for acc in (self._coop_count, self._donated_sum, self._punish_count, self._good_sum):
            acc[idx] = 0.0
        self._coop_history[idx] = np.nan
        self._last_recipients[idx] = -1
        self._last_donated[idx] = 0.0
        self._last_punished[idx] = False
        if self.pairing == "round_robin":
            self._seats[idx] = seating(uniforms)
            self._recipients[idx] = round_robin(
                self._seats[idx], self._seat_round[idx], self._schedule
            )
        else:
            self._recipients[idx] = random_matching(uniforms)
        if options:
            self._apply_options(idx, options)

    def _step(self, actions: np.ndarray):
        b, n = self.num_envs, self.num_agents
        # one block of uniforms per copy and step: pairing | execution | assessment | ties
        for rng, row in zip(self.rngs, self._block):
            rng.random(out=row)
        u = self._block.reshape(b, 4, n)
        recipients = self._recipients
        resources = self._resources

        chosen = self._fractions[actions]  # [B, N] intended fraction
        chose_donation = chosen > 0
        donated = np.where(chose_donation & (u[:, 1] < self.execution_error), 0.0, chosen)
        gift = donated * resources  # [B, N] what each donor gives up
        flat = (recipients + self._flat_offset).ravel()
        received = np.bincount(
            flat, weights=(self.multiplier * gift).ravel(), minlength=b * n
        ).reshape(b, n)
        new_resources = resources - gift + received
        if self.punishment:
            punished = actions == self.punish_action
            cost = np.where(punished, self.punish_fraction * resources, 0.0)
            fines = np.bincount(
                flat, weights=(self.punish_fine * cost).ravel(), minlength=b * n
            ).reshape(b, n)
            new_resources -= cost + fines
            np.maximum(new_resources, 0.0, out=new_resources)
        else:
            punished = np.zeros((b, n), dtype=bool)
        rewards = new_resources - resources

        recipient_good = self.norm.is_good(self._reputation[self._rows, recipients])
        self._reputation = self.norm.assess(
            self._reputation,
            donated > 0,
            recipient_good,
            u[:, 2] < self.assessment_error,
            self.score_bound,
        )
        self._resources = new_resources
        if self.trace_length:
            self._trace[:, :, 1:] = self._trace[:, :, :-1]
            self._trace[:, :, 0, 0] = 1.0
            self._trace[:, :, 0, 1] = donated
            if self.punishment:
                self._trace[:, :, 0, 2] = punished

        coop_share = chose_donation.sum(axis=1) / n
        self._coop_history[self._rows[:, 0], np.minimum(self._round, self.num_rounds - 1)] = (
            coop_share
        )
        self._coop_count += chose_donation.sum(axis=1)
        self._donated_sum += donated.sum(axis=1)
        self._punish_count += punished.sum(axis=1)
        self._good_sum += self.norm.is_good(self._reputation).sum(axis=1) / n
        self._last_recipients = recipients.copy()
        self._last_donated = donated.copy()
        self._last_punished = punished.copy()
        self._round += 1
        self._seat_round += 1

        replaced_by = self._next_generation(u[:, 3])
        self._draw_pairing(u[:, 0], replaced_by)

        truncated = np.repeat((self._round >= self.num_rounds)[:, None], n, axis=1)
        terminated = np.zeros((b, n), dtype=bool)
        info = {
            "recipients": recipients,
            "donated": donated,
            "punished": punished,
            "replaced_by": replaced_by,
            "generation": self._generation.copy(),
        }
        return rewards, terminated, truncated, info

    def _observe(self) -> np.ndarray:
        b, n = self.num_envs, self.num_agents
        parts = []
        if self.observe_reputation:
            rec_rep = self._reputation[self._rows, self._recipients]
            parts.append(self.norm.value(rec_rep, self.score_bound)[..., None])
        if self.trace_length:
            parts.append(self._trace[self._rows, self._recipients].reshape(b, n, -1))
        parts.append(np.log2(1.0 + self._resources / self.start_resources)[..., None])
        parts.append(np.repeat((self._round / self.num_rounds)[:, None, None], n, axis=1))
        if self.generation_length is not None:
            in_generation = (self._round % self.generation_length) / self.generation_length
            parts.append(np.repeat(in_generation[:, None, None], n, axis=1))
        return np.concatenate(parts, axis=2).astype(np.float32)

    def state(self) -> np.ndarray:
        """``[B, 4N + 1]``: per agent (log resources, reputation value, its recipient's
        reputation value, its recipient's log resources), then the round fraction."""
        log_res = np.log2(1.0 + self._resources / self.start_resources)
        rep = self.norm.value(self._reputation, self.score_bound)
        per_agent = np.stack(
            [
                log_res,
                rep,
                rep[self._rows, self._recipients],
                log_res[self._rows, self._recipients],
            ],
            axis=2,
        )
        rounds = (self._round / self.num_rounds)[:, None]
        return np.concatenate([per_agent.reshape(self.num_envs, -1), rounds], axis=1).astype(
            np.float32
        )

    def _episode_metrics(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        decisions = self.num_agents * np.maximum(self._round[idx], 1)
        metrics = {
            "cooperation_rate": self._coop_count[idx] / decisions,
            "donated_fraction": self._donated_sum[idx] / decisions,
            "final_resources": self._resources[idx].mean(axis=1),
            "good_reputation_share": self._good_sum[idx] / np.maximum(self._round[idx], 1),
        }
        if self.punishment:
            metrics["punishment_rate"] = self._punish_count[idx] / decisions
        return metrics

    def _render_frame(self, index: int) -> np.ndarray | None:
        from envs.donor.rendering import DonorRenderer

        if self._renderer is None:
            self._renderer = DonorRenderer(self.render_mode, fps=self.metadata["render_fps"])
        return self._renderer.draw(self._render_snapshot(index))

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ------------------------------------------------------------------ helpers
    def _render_snapshot(self, index: int) -> dict:
        """What the renderer draws of copy ``index``: plain arrays and labels."""
        if not 0 <= index < self.num_envs:
            raise IndexError(
                f"render index {index} is out of range: the core has {self.num_envs} copies"
            )
        return {
            "resources": self._resources[index].copy(),
            "start_resources": self.start_resources,
            "reputation_value": self.norm.value(self._reputation[index], self.score_bound),
            "good": self.norm.is_good(self._reputation[index]),
            "binary": self.norm.kind == "binary",
            "recipients": self._last_recipients[index].copy(),
            "donated": self._last_donated[index].copy(),
            "punished": self._last_punished[index].copy(),
            "cooperation_history": self._coop_history[index].copy(),
            "round": int(self._round[index]),
            "num_rounds": self.num_rounds,
            "generation": int(self._generation[index]) if self.generation_length else None,
            "norm": self.norm.name,
            "pairing": self.pairing,
        }

    def _next_generation(self, tie_uniforms: np.ndarray) -> np.ndarray:
        """Replace the bottom half in copies at a generation boundary; return ``replaced_by``."""
        b, n = self.num_envs, self.num_agents
        replaced_by = np.full((b, n), -1, dtype=np.int64)
        if self.generation_length is None:
            return replaced_by
        boundary = (self._round % self.generation_length == 0) & (self._round < self.num_rounds)
        if not boundary.any():
            return replaced_by
        g = np.flatnonzero(boundary)
        order = np.lexsort((tie_uniforms[g], -self._resources[g]), axis=-1)  # richest first
        half = n // 2
        sub = replaced_by[g]
        np.put_along_axis(sub, order[:, ::-1][:, :half], order[:, :half], axis=1)
        replaced_by[g] = sub
        self._resources[g] = self.start_resources
        self._reputation[g] = self.norm.initial
        self._trace[g] = 0.0
        self._generation[g] += 1
        return replaced_by

    def _draw_pairing(self, uniforms: np.ndarray, replaced_by: np.ndarray) -> None:
        """Pair donors for the coming round (round-robin copies reseat at a new generation)."""
        if self.pairing == "random":
            self._recipients = random_matching(uniforms)
            return
        new_generation = (replaced_by >= 0).any(axis=1)
        if new_generation.any():
            self._seats[new_generation] = seating(uniforms[new_generation])
            self._seat_round[new_generation] = 0
        self._recipients = round_robin(self._seats, self._seat_round, self._schedule)

    def _apply_options(self, idx: np.ndarray, options: dict) -> None:
        unknown = sorted(set(options) - set(RESET_OPTIONS), key=str)
        if unknown:  # ignored, as gymnasium envs do, but said out loud
            warnings.warn(
                f"ignoring unknown reset option(s) {unknown}; the donor game's options are "
                f"{list(RESET_OPTIONS)}",
                stacklevel=4,
            )
        n = self.num_agents
        shape = (len(idx), n)
        if "resources" in options:
            value = np.broadcast_to(np.asarray(options["resources"], dtype=np.float64), shape)
            if np.any(~np.isfinite(value)) or np.any(value < 0):
                raise ValueError("options['resources'] must be finite and >= 0")
            self._resources[idx] = value
        if "reputation" in options:
            value = np.broadcast_to(np.asarray(options["reputation"]), shape)
            if self.norm.kind == "binary":
                allowed, what = np.isin(value, (0, 1)), "0 (bad) or 1 (good)"
            else:
                allowed = (value == np.round(value)) & (np.abs(value) <= self.score_bound)
                what = f"integer scores in [-{self.score_bound}, {self.score_bound}]"
            if not np.all(allowed):
                raise ValueError(
                    f"options['reputation'] under norm {self.norm.name!r} must be {what}"
                )
            self._reputation[idx] = value.astype(np.int64)
        if "seating" in options:
            if self.pairing != "round_robin":
                raise ValueError("options['seating'] needs pairing='round_robin'")
            seats = np.asarray(options["seating"])
            if seats.shape != (n,) or not np.array_equal(np.sort(seats), np.arange(n)):
                raise ValueError(f"options['seating'] must be a permutation of 0..{n - 1}")
            self._seats[idx] = seats
            self._recipients[idx] = round_robin(
                self._seats[idx], self._seat_round[idx], self._schedule
            )
        if "recipients" in options:
            rec = np.asarray(options["recipients"])
            if (
                rec.shape != (n,)
                or not np.issubdtype(rec.dtype, np.integer)
                or rec.min() < 0
                or rec.max() >= n
                or np.any(rec == np.arange(n))
            ):
                raise ValueError(
                    f"options['recipients'] must be {n} agent indices in 0..{n - 1}, "
                    f"none equal to its own position (no self-donation)"
                )
            self._recipients[idx] = rec


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
