"""The two sides of MANSA: an IL or CL learner driven by the switcher's loop through its public hooks.

Each side offers the same five calls: ``behaviour`` (training actions for the copies it plays),
``greedy`` (evaluation actions), ``record`` (every step, whoever acted), ``update`` (after a
rollout) and its own checkpoint state. Both action calls take every copy's observations and the
rows the side plays: a recurrent value learner (``net.recurrent``, switch=act only) advances its
GRU on every copy, whoever acts there, so that its state always follows the episode (its own in
training, the evaluation memory's at evaluation); a feed-forward one looks at its rows only.

- Value learners (IQL, QMIX, VDN) are off-policy: every step goes into their episode replay, and
  each takes the gradient updates its own ``env_steps_per_update`` pays for
  (:meth:`~algorithms.value_based.ValueLearner.record_step`, ``update_from_replay``).
- PPO learners (IPPO, MAPPO) record every step with their own values (GAE runs through the
  other's steps: the critic estimates the return of the mixed behaviour it is part of), but their
  losses weigh only their *own* steps, where their log-probabilities are the behaviour's: no
  importance weights are needed (:meth:`~algorithms.ppo.PPOLearner.record_step`). A PPO learner
  that made no step in a rollout skips its update (Adam's momentum would otherwise move it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from algorithms.base import Learner
from algorithms.on_policy import next_episode_flags
from algorithms.ppo import PPOLearner
from algorithms.value_based import ValueLearner


class Side:
    """What both sides do alike: act through the learner's public ``behaviour_actions`` / ``act``."""

    learner: ValueLearner | PPOLearner
    #: True for a GRU learner: it must see every copy's observation at every step
    recurrent: bool = False

    def behaviour(
        self, obs: np.ndarray, mask: np.ndarray, state: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Training actions ``[K, N]`` for the copies ``rows`` (all if None) of the B copies."""
        if rows is not None:
            obs, mask = obs[rows], mask[rows]
        return self.learner.behaviour_actions(obs, mask)

    def greedy(
        self,
        obs: np.ndarray,
        mask: np.ndarray,
        state: np.ndarray,
        greedy: bool,
        rows: np.ndarray | None = None,
        hidden: Any = None,
    ) -> tuple[np.ndarray, Any]:
        """Evaluation actions for the copies ``rows`` (all if None) and the side's next recurrent
        state (``hidden``: None at an episode's start, and always for a feed-forward side)."""
        if rows is not None:
            obs, mask, state = obs[rows], mask[rows], state[rows]
        return self.learner.act(obs, mask, state, None, greedy=greedy)[0], None

    def cl_seconds(self) -> float:
        """Seconds this side has spent on the centralised rule (switch=learn's single side)."""
        return 0.0

    def set_horizon(self, total_env_steps: int | None) -> None:
        """The run's length, for the learner's schedules (PPO's ``anneal_lr``)."""
        self.learner.set_horizon(total_env_steps)


class ValueSide(Side):
    """An IQL / QMIX / VDN learner fed by the switcher's loop."""

    def __init__(self, learner: ValueLearner):
        self.learner = learner
        self.recurrent = learner.q_net.recurrent

    def behaviour(self, obs, mask, state, rows=None) -> np.ndarray:
        return self.learner.behaviour_actions(obs, mask, rows)

    def greedy(self, obs, mask, state, greedy, rows=None, hidden=None):
        if not self.recurrent:
            return super().greedy(obs, mask, state, greedy, rows)
        actions, hidden = self.learner.act(obs, mask, state, hidden, greedy=greedy)
        return (actions if rows is None else actions[rows]), hidden

    def record(self, t, obs, mask, state, actions, own, step) -> None:
        state = state if self.learner.needs_state else None
        self.learner.record_step(obs, mask, state, actions, *step)

    def update(self, new_env_steps: int, obs: np.ndarray, state: np.ndarray) -> dict[str, float]:
        learner = self.learner
        learner.apply_learning_rate()
        metrics = learner.update_from_replay(new_env_steps)
        learner.updates += 1
        metrics.update(learner.exploration_metrics())
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class PolicySide(Side):
    """An IPPO / MAPPO learner fed by the switcher's loop: values on every step, losses on its own.

    It keeps the episode flags of the mixed behaviour (the learner's own describe its own
    collection, which MANSA never runs).
    """

    def __init__(self, learner: PPOLearner):
        self.learner = learner
        b, n = learner.env.num_envs, learner.env.num_agents
        self.agent_done = np.zeros((b, n), dtype=bool)
        self.starts = np.ones(b, dtype=bool)
        #: ``[T, B]`` the rollout's steps this side learns from (every step is recorded anew)
        self.own_rows = np.zeros((learner.cfg.rollout_length, b), dtype=bool)

    @property
    def own_steps(self) -> int:
        """Steps of this rollout the side learns from (both sides update after every rollout)."""
        return int(self.own_rows.sum())

    def record(self, t, obs, mask, state, actions, own, step) -> None:
        if t == 0:  # the rate of this rollout's update, by the env steps before it
            self.learner.apply_learning_rate()
        self.learner.record_step(
            t, obs, mask, state, actions, step, self.starts, self.agent_done, own
        )
        self.own_rows[t] = own
        self.starts, self.agent_done = next_episode_flags(self.agent_done, *step[2:])

    def update(self, new_env_steps: int, obs: np.ndarray, state: np.ndarray) -> dict[str, float]:
        learner = self.learner
        if self.own_steps == 0:  # nothing of its own to learn from in this rollout
            return {}
        # the PPO passes run on its own steps only, so CL's update cost grows with its calls
        rows = None if self.own_rows.all() else torch.as_tensor(self.own_rows)
        last_values = learner.rollout_values(obs, state, self.starts)
        metrics = learner.update_from_rollout(last_values, rows=rows)
        learner.updates += 1
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"agent_done": self.agent_done.copy(), "starts": self.starts.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent_done = np.array(state["agent_done"], dtype=bool)
        self.starts = np.array(state["starts"], dtype=bool)


def side(learner: Learner) -> ValueSide | PolicySide:
    """The side that drives ``learner``."""
    return ValueSide(learner) if isinstance(learner, ValueLearner) else PolicySide(learner)
