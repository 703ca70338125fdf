"""CL-to-IL transfer for ``switch=act`` (``transfer_weight > 0``): IL also learns CL's actions.

Where CL acts on a few percent of the steps, IL learns its values from those steps but not that
CL chose differently; a behaviour-cloning term carries the choice over, weighted by
``transfer_weight``, on the steps CL acted only:

- value pairing: DQfD's large-margin loss (Hester et al. 2018),
  ``max_a [Q_i(o_i, a) + m * (a != a_CL)] - Q_i(o_i, a_CL)`` over the valid actions, ``m`` =
  :data:`MARGIN`, added to IQL's TD loss (the replay keeps which steps CL acted: ``demo``);
- on-policy: ``-log pi_IL(a_CL | o_i)`` added to IPPO's PPO loss (the ``imitation`` argument of
  :meth:`~algorithms.ppo.PPOLearner.update_from_rollout`), also in a rollout where IL made no step.

With weight 0 none of this is built: MANSA runs as without it, bit for bit.

``demonstrator=uniform`` and ``il`` are its controls: the called steps are played by uniformly
random valid actions, or by IL's own greedy actions, instead of CL's (:class:`StandInSeat`),
everything else the same. If IL gains as much from IL's own actions, the margin term works as a
regulariser of IQL's values (a wider action gap), not by carrying CL's choices over.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from algorithms.iql import IQLLearner
from algorithms.mansa.sides import PolicySide, Side, ValueSide
from algorithms.replay import Field
from algorithms.value_targets import allow_all_if_empty

#: DQfD's margin between CL's action and any other
MARGIN = 0.8


class DemonstrationIQL(IQLLearner):
    """IQL plus DQfD's large-margin loss on the stored steps CL acted (``demo``)."""

    #: weight of the margin loss (set by MANSA from ``transfer_weight``)
    transfer_weight: float = 0.0

    def _step_fields(self, n: int):
        return {**super()._step_fields(n), "demo": Field((), np.bool_)}

    def _loss(self, batch):
        q_all = self.online_q(batch)  # one forward pass for both terms
        loss, logs = self.td_loss(batch, *self.agent_values(batch, q_all))
        demo = batch["demo"] & batch["filled"]  # [E, L]
        if not demo.any():
            return loss, {**logs, "transfer_loss": torch.zeros(())}
        q = q_all[:, :-1][demo]  # [K, N, A]
        actions = batch["actions"][demo]  # [K, N]
        valid = allow_all_if_empty(batch["mask"][:, :-1][demo])
        margins = MARGIN * torch.ones_like(q).scatter(-1, actions.unsqueeze(-1), 0.0)
        best = torch.where(valid, q + margins, torch.full_like(q, -torch.inf)).amax(-1)
        gaps = best - q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)  # [K, N], >= 0
        live = batch["active"][demo].to(q.dtype)
        margin_loss = (gaps * live).sum() / live.sum().clamp(min=1.0)
        return loss + self.transfer_weight * margin_loss, {
            **logs,
            "transfer_loss": margin_loss.detach(),
        }


class TransferValueSide(ValueSide):
    """IQL's side, recording which steps CL acted (``own`` is IL's steps)."""

    def record(self, t, obs, mask, state, actions, own, step) -> None:
        state = state if self.learner.needs_state else None
        self.learner.record_step(obs, mask, state, actions, *step, demo=~own)


class TransferPolicySide(PolicySide):
    """IPPO's side, adding a behaviour-cloning term on CL's steps to each update."""

    def __init__(self, learner: Any, weight: float):
        super().__init__(learner)
        self.weight = weight
        t, b, n = learner.cfg.rollout_length, learner.env.num_envs, learner.env.num_agents
        #: ``[T, B, N]`` 1 where CL acted and the agent was still in its episode
        self.demo_weights = np.zeros((t, b, n), dtype=np.float32)

    def record(self, t, obs, mask, state, actions, own, step) -> None:
        self.demo_weights[t] = ~self.agent_done & ~own[:, None]  # flags before the step
        super().record(t, obs, mask, state, actions, own, step)

    def update(self, new_env_steps: int, obs: np.ndarray, state: np.ndarray) -> dict[str, float]:
        learner = self.learner
        weights = torch.as_tensor(self.demo_weights)
        if self.own_steps == 0 and not weights.any():
            return {}
        last_values = learner.rollout_values(obs, state, self.starts)
        metrics = learner.update_from_rollout(last_values, (weights, self.weight))
        learner.updates += 1
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "demo_weights": self.demo_weights.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.demo_weights = np.array(state["demo_weights"], dtype=np.float32)


def transfer_side(learner: Any, weight: float) -> ValueSide | PolicySide:
    """IL's side with the transfer term at ``weight`` (the learner built as :class:`DemonstrationIQL`
    for the value pairing)."""
    if isinstance(learner, DemonstrationIQL):
        learner.transfer_weight = weight
        return TransferValueSide(learner)
    return TransferPolicySide(learner, weight)


def uniform_actions(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """One uniformly random valid action per agent: ``mask`` ``[B, N, A]`` -> ``[B, N]``."""
    mask = np.asarray(mask, dtype=bool)
    mask = np.where(mask.any(-1, keepdims=True), mask, True)  # no valid action: any
    cumulative = np.cumsum(mask / mask.sum(-1, keepdims=True), axis=-1)
    return (rng.random(mask.shape[:-1])[..., None] < cumulative).argmax(-1)


class StandInSeat(Side):
    """CL's seat played by a stand-in (``demonstrator``): uniformly random valid actions, or IL's
    greedy ones; the CL side underneath records and learns from every step as it would otherwise."""

    def __init__(self, inner: ValueSide | PolicySide, kind: str, il: Side, seed: int):
        self.inner, self.learner, self.kind, self.il = inner, inner.learner, kind, il
        self.rng = np.random.default_rng([seed, 1])  # training's called steps (uniform)
        self.eval_rng = np.random.default_rng([seed, 2])  # evaluation's

    def _play(self, obs, mask, state, rows, rng: np.random.Generator) -> np.ndarray:
        if self.kind == "uniform":
            return uniform_actions(rng, mask if rows is None else mask[rows])
        return self.il.greedy(obs, mask, state, True, rows)[0]

    def behaviour(self, obs, mask, state, rows=None) -> np.ndarray:
        return self._play(obs, mask, state, rows, self.rng)

    def greedy(self, obs, mask, state, greedy, rows=None, hidden=None):
        return self._play(obs, mask, state, rows, self.eval_rng), None

    def record(self, t, obs, mask, state, actions, own, step) -> None:
        self.inner.record(t, obs, mask, state, actions, own, step)

    def update(self, new_env_steps: int, obs: np.ndarray, state: np.ndarray) -> dict[str, float]:
        return self.inner.update(new_env_steps, obs, state)

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.inner.state_dict(),
            "uniform_rng": self.rng.bit_generator.state,
            "uniform_eval_rng": self.eval_rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)
        self.rng.bit_generator.state = state["uniform_rng"]
        self.eval_rng.bit_generator.state = state["uniform_eval_rng"]
