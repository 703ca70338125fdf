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
- ``resources`` (1, left out with ``observe_resources=False``): own resources on a log
  scale, ``log2(1 + resources / start_resources)`` (1.0 at the start, 0 when broke).
- ``round`` (1, left out with ``observe_round=False``): the round about to be played divided
  by ``num_rounds`` (1.0 in a final observation).
- ``generation_round`` (1, with generations and the round): the round within the current
  generation divided by ``generation_length``.
- ``constant`` (1): a 1.0, only when nothing else is observed.

Hiding everything about the recipient takes ``observe_reputation=False, trace_length=0``.
Without the round and own resources (which grow round by round) a donor cannot tell how
many rounds remain, so it cannot reason backwards from the last round.

## Seeded discriminators
With ``seeded_discriminators=k`` the last k of the ``num_agents`` donors are scripted: each
gives the largest level to recipients in good standing and the smallest to the others,
reading the public reputation whatever the agents observe (Anastassacos et al. 2021 seed
populations of learners with fixed agents). The agents are the other N - k: observations,
actions, rewards and episode metrics are theirs; the state, ``info`` and reset options
cover the whole population.

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
- ``num_rounds`` (12): rounds per episode (a time limit: reported as truncation; the core
  reports it as ``max_episode_steps``, which sizes replay episodes).
- ``start_resources`` (10.0): each agent's resources at the start (and of each generation).
- ``donation_levels`` ((0, 0.25, 0.5, 0.75, 1)): the donatable fractions, distinct, in [0, 1].
- ``multiplier`` (2.0): b, what the recipient gets per unit donated; at least 1.
- ``pairing`` ("random"): ``"random"`` or ``"round_robin"`` (:mod:`envs.donor.pairing`).
- ``norm`` ("image_scoring"): ``"image_scoring"``, ``"simple_standing"``,
  ``"stern_judging"`` or ``"shunning"``.
- ``score_bound`` (5): image scoring keeps scores in [-score_bound, score_bound].
- ``execution_error``, ``assessment_error`` (0.02 each): probabilities in [0, 1].
- ``observe_reputation`` (True), ``trace_length`` (3): what a donor sees of its recipient.
- ``observe_resources`` (True), ``observe_round`` (True): what it sees of itself and the clock.
- ``seeded_discriminators`` (0): scripted discriminators among the N donors, at most N - 1.
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

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from envs.core import BatchedCore
from envs.donor.arguments import check_counts, check_probability
from envs.donor.generations import replacements
from envs.donor.metrics import EpisodeMetrics
from envs.donor.norms import Norm, get_norm
from envs.donor.observation import DonorObserver
from envs.donor.options import check_reset_options
from envs.donor.pairing import (
    check_pairing,
    random_matching,
    round_robin,
    round_robin_schedule,
    seating,
)
from envs.donor.transfers import check_economy, play_round
from envs.donor.views import DonorViews

DEFAULT_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)


class DonorCore(DonorViews, BatchedCore):
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
        observe_resources: bool = True,
        observe_round: bool = True,
        seeded_discriminators: int = 0,
    ):
        super().__init__(num_envs, autoreset=autoreset, render_mode=render_mode)
        check_counts(
            num_agents,
            num_rounds,
            score_bound,
            trace_length,
            generation_length,
            seeded_discriminators,
        )
        self.pairing = check_pairing(pairing, int(num_agents))
        self.norm: Norm = get_norm(norm)
        levels = check_economy(
            start_resources,
            donation_levels,
            multiplier,
            execution_error,
            punishment,
            punish_fraction,
            punish_fine,
        )
        n = int(num_agents)
        #: The population N (``num_agents``); the agents are its first N - seeded_discriminators.
        self.population = n
        self.seeded_discriminators = int(seeded_discriminators)
        self.num_rounds = int(num_rounds)
        self.max_episode_steps = self.num_rounds  # the time limit, as the other cores name it
        self.start_resources = float(start_resources)
        self.donation_levels = tuple(float(x) for x in levels)
        self.multiplier = float(multiplier)
        self.score_bound = int(score_bound)
        self.execution_error = float(execution_error)
        self.assessment_error = check_probability("assessment_error", assessment_error)
        self.observe_reputation = bool(observe_reputation)
        self.observe_resources, self.observe_round = bool(observe_resources), bool(observe_round)
        self.trace_length = int(trace_length)
        self.punishment = bool(punishment)
        self.punish_fraction = float(punish_fraction)
        self.punish_fine = float(punish_fine)
        self.generation_length = None if generation_length is None else int(generation_length)
        #: The action that punishes, or None without punishment.
        self.punish_action: int | None = len(levels) if self.punishment else None
        # a seeded discriminator's action by its recipient's standing: [bad, good]
        self._seed_actions = np.array([np.argmin(levels), np.argmax(levels)], dtype=np.int64)

        self.possible_agents = [f"agent_{i}" for i in range(n - self.seeded_discriminators)]
        self.action_space = gym.spaces.Discrete(len(levels) + int(self.punishment))
        # fraction donated by each action; the punishment action donates nothing
        self._fractions = np.concatenate([levels, [0.0] if self.punishment else []])
        self._observer = DonorObserver(
            self.norm,
            self.score_bound,
            self.start_resources,
            self.num_rounds,
            self.observe_reputation,
            self.trace_length,
            self._trace_channels,
            self.generation_length,
            self.observe_resources,
            self.observe_round,
        )
        self.observation_space = self._observer.space
        #: The named parts of the observation vector (see "Observations").
        self.obs_slices: dict[str, slice] = self._observer.slices
        self.state_space = gym.spaces.Box(-np.inf, np.inf, shape=(4 * n + 1,), dtype=np.float32)
        self._schedule = round_robin_schedule(n) if self.pairing == "round_robin" else None

        b = self.num_envs
        self._rows = np.arange(b)[:, None]  # [B, 1] row index for gathers
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
        self._metrics = EpisodeMetrics(b, self.num_rounds, self.punishment)
        # the last round, for the renderer
        self._last_recipients = np.full((b, n), -1, dtype=np.int64)
        self._last_donated = np.zeros((b, n))
        self._last_punished = np.zeros((b, n), dtype=bool)
        self._renderer = None

    # ------------------------------------------------------------------ spaces
    @property
    def _trace_channels(self) -> int:
        return 3 if self.punishment else 2

    # ------------------------------------------------------------------ hooks
    def _reset_copies(self, idx: np.ndarray, options: dict | None) -> None:
        n = self.population
        uniforms = np.stack([self.rngs[b].random(n) for b in idx])  # [len(idx), N]
        self._resources[idx] = self.start_resources
        self._reputation[idx] = self.norm.initial
        self._trace[idx] = 0.0
        self._round[idx] = 0
        self._generation[idx] = 0
        self._seat_round[idx] = 0
        self._metrics.reset(idx)
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
        b, n, m = self.num_envs, self.population, self.num_agents
        if self.seeded_discriminators:  # the scripted seats: all to good recipients, none to bad
            good = self.norm.is_good(self._reputation[self._rows, self._recipients[:, m:]])
            actions = np.concatenate([actions, self._seed_actions[good.astype(np.int64)]], axis=1)
        # one block of uniforms per copy and step: pairing | execution | assessment | ties
        for rng, row in zip(self.rngs, self._block):
            rng.random(out=row)
        u = self._block.reshape(b, 4, n)
        recipients = self._recipients
        resources = self._resources
        new_resources, chose_donation, donated, punished = play_round(
            actions,
            resources,
            recipients,
            self._fractions,
            u[:, 1],
            execution_error=self.execution_error,
            multiplier=self.multiplier,
            punish_action=self.punish_action,
            punish_fraction=self.punish_fraction,
            punish_fine=self.punish_fine,
        )
        rewards = (new_resources - resources)[:, :m]

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

        good = self.norm.is_good(self._reputation)
        self._metrics.record(
            self._round, chose_donation[:, :m], donated[:, :m], punished[:, :m], good[:, :m]
        )
        self._last_recipients = recipients.copy()
        self._last_donated = donated.copy()
        self._last_punished = punished.copy()
        self._round += 1
        self._seat_round += 1

        replaced_by = self._next_generation(u[:, 3])
        self._draw_pairing(u[:, 0], replaced_by)

        truncated = np.repeat((self._round >= self.num_rounds)[:, None], m, axis=1)
        terminated = np.zeros((b, m), dtype=bool)
        info = {
            "recipients": recipients,
            "donated": donated,
            "punished": punished,
            "replaced_by": replaced_by,
            "generation": self._generation.copy(),
        }
        return rewards, terminated, truncated, info

    def _observe(self) -> np.ndarray:
        return self._observer.observe(
            self._reputation, self._recipients, self._trace, self._resources, self._round
        )[:, : self.num_agents]

    def state(self) -> np.ndarray:
        """``[B, 4N + 1]``: per agent (log resources, reputation value, its recipient's
        reputation value, its recipient's log resources), then the round fraction."""
        self._require_reset("state")
        return self._observer.state(
            self._reputation, self._recipients, self._resources, self._round
        )

    def _episode_metrics(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        resources = self._resources[idx, : self.num_agents]
        return self._metrics.summary(idx, self._round[idx], resources)

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
        return {
            "resources": self._resources[index].copy(),
            "start_resources": self.start_resources,
            "reputation_value": self.norm.value(self._reputation[index], self.score_bound),
            "good": self.norm.is_good(self._reputation[index]),
            "binary": self.norm.kind == "binary",
            "recipients": self._last_recipients[index].copy(),
            "donated": self._last_donated[index].copy(),
            "punished": self._last_punished[index].copy(),
            "cooperation_history": self._metrics.coop_history[index].copy(),
            "round": int(self._round[index]),
            "num_rounds": self.num_rounds,
            "generation": int(self._generation[index]) if self.generation_length else None,
            "norm": self.norm.name,
            "pairing": self.pairing,
        }

    def _next_generation(self, tie_uniforms: np.ndarray) -> np.ndarray:
        """Replace the bottom half in copies at a generation boundary; return ``replaced_by``."""
        b, n = self.num_envs, self.population
        replaced_by = np.full((b, n), -1, dtype=np.int64)
        if self.generation_length is None:
            return replaced_by
        boundary = (self._round % self.generation_length == 0) & (self._round < self.num_rounds)
        if not boundary.any():
            return replaced_by
        g = np.flatnonzero(boundary)
        replaced_by[g] = replacements(self._resources[g], tie_uniforms[g])
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
        shape = (len(idx), self.population)
        checked = check_reset_options(options, shape, self.norm, self.score_bound, self.pairing)
        if "resources" in checked:
            self._resources[idx] = checked["resources"]
        if "reputation" in checked:
            self._reputation[idx] = checked["reputation"]
        if "seating" in checked:
            self._seats[idx] = checked["seating"]
            self._recipients[idx] = round_robin(
                self._seats[idx], self._seat_round[idx], self._schedule
            )
        if "recipients" in checked:
            self._recipients[idx] = checked["recipients"]
