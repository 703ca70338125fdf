"""MANSA's ``switch=learn`` in the value pairing: one set of agent Qs, two learning rules.

One learner of the CL's class (QMIX or VDN: its mixer, replay, optimiser and exploration, set by
``algo.cl_cfg``) whose agents act on every step. Each stored step carries the switcher's call (a
replay field ``called``). A sampled batch is learned with the mixer's team TD loss on its called
steps and IQL's per-agent TD loss (own rewards) on the others, each loss weighted by its share of
the batch's steps. Both rules divide rewards by one std, that of the agents' own rewards over
every replayed step (not the called ones: the switcher's choice is no sample of the rewards), so
their targets agree in scale. The mixer runs on the called steps only, so CL's cost grows with
the calls. A batch whose steps are all called takes the CL
learner's own loss (so ``switcher.mode=cl`` is QMIX or VDN alone, bit for bit); one with none
called takes IQL's arithmetic (``mode=il`` is IQL alone, bit for bit).

The switcher's signal (:meth:`RuleSwitchValue.disagreement`): a rule's choice pays off only
through later updates, so the switcher is paid at once by a proxy of how much the centralised
rule would change the update of a transition: ``mean_i |delta_tot * dQ_tot/dQ_i - delta_i|``, the
gap between the gradient the mixer's TD error sends to agent i's Q and agent i's own TD error,
computed for the rollout's transitions in one batched pass before the update.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from algorithms.mansa.sides import ValueSide
from algorithms.on_policy import ValueNorm, weighted_mean
from algorithms.qmix import QMIXLearner
from algorithms.replay import Field
from algorithms.value_targets import masked_mse
from algorithms.vdn import VDNLearner

#: what a rollout transition keeps for the signal: step fields, then obs fields (now and next)
STEP_KEYS = ("actions", "rewards", "terminated", "active")
OBS_KEYS = ("obs", "mask", "state")


class RuleSwitchValue:
    """Mixin over a team value learner (VDN, QMIX): the learning rule chosen per stored step."""

    def __init__(self, cfg: Any, env: Any, device: str | torch.device = "cpu", seed: int = 0):
        super().__init__(cfg, env, device, seed)
        #: the reward statistics of the independent rule (the learner's own serve the mixer)
        self.local_reward_norm = ValueNorm(device=self.device) if cfg.scale_rewards else None
        #: replayed steps each rule learned from, over the run (gradient updates x batch steps)
        self.rule_steps = {"independent": 0, "central": 0}
        #: wall-clock seconds of the mixer's part of the losses (CL's update time)
        self.mixer_seconds = 0.0
        self.rollout: list[dict[str, np.ndarray]] = []

    def _step_fields(self, n: int):
        return {**super()._step_fields(n), "called": Field((), np.bool_)}

    # ------------------------------------------------------------------ recording
    def record_called(
        self, obs, mask, state, actions, called: np.ndarray, step: tuple, keep: bool
    ) -> None:
        """Store one step of all copies with the switcher's calls ``called [B]``; with ``keep`` also
        keep it for :meth:`disagreement` (the rollout's signal)."""
        if keep:
            b = len(actions)
            ended = step[4].get("_final", np.zeros(b, dtype=bool))
            after = self._next_obs_fields(np.arange(b), ended, step[0], step[4])
            now = {"obs": obs.reshape(after["obs"].shape), "mask": mask, "state": state}
            self.rollout.append(
                {
                    **{k: np.stack([now[k], after[k]], axis=1) for k in OBS_KEYS if k in after},
                    "actions": actions[:, None],
                    "rewards": step[1][:, None].astype(np.float32),
                    "terminated": step[2][:, None],
                    "active": ~self._agent_done[:, None],
                }
            )
        state = state if self.needs_state else None
        self.record_step(obs, mask, state, actions, *step, called=called)

    # ------------------------------------------------------------------ the loss
    def _central(self, batch, taken, next_values, steps):
        """The mixer's ``(Q_tot [K], targets [K])`` on the K steps where ``steps [E, L]`` is True.
        Team rewards are scaled by the independent rule's statistics (own rewards), so that the
        two rules' targets agree in scale: with VDN, the sum of the agents' independent targets
        is the team target. (The team's own std is about twice as large with two agents; two
        scales pull the shared agent Qs toward two fixed points.)"""
        sub = {k: batch[k][steps] for k in ("active", "terminated", "rewards")}
        state = batch.get("state")
        now, after = (None, None) if state is None else (state[:, :-1][steps], state[:, 1:][steps])
        norm = self.local_reward_norm
        return self.mixer_targets(taken[steps], next_values[steps], sub, now, after, None, norm)

    def _fold_rewards(self, batch, team: bool = True) -> None:
        """Fold every replayed step's rewards into both rules' statistics (own rewards of live
        agents; team rewards), whichever rule learns the step: the called steps are the
        switcher's choice, not a sample of the task's rewards (calls at episode starts, where
        rewards are rare, would leave the team statistics near zero and their scaled rewards
        huge)."""
        filled = batch["filled"]
        if self.local_reward_norm is not None:
            live = filled.unsqueeze(-1) & batch["active"]
            self.scaled_rewards(batch["rewards"], live, self.local_reward_norm)
        if team and self.reward_norm is not None:
            rewards = self.team_rewards(batch["rewards"][filled])
            self.scaled_rewards(rewards, torch.ones_like(rewards, dtype=torch.bool))

    def _loss(self, batch):
        filled = batch["filled"]
        called = batch["called"] & filled
        n_all, n_cl = int(filled.sum()), int(called.sum())
        self.rule_steps["central"] += n_cl
        self.rule_steps["independent"] += n_all - n_cl
        share = torch.tensor(n_cl / max(n_all, 1))
        if n_cl == n_all:  # every step called: the CL learner's own loss (it folds team rewards)
            self._fold_rewards(batch, team=False)
            tick = time.perf_counter()
            loss, logs = super()._loss(batch)
            self.mixer_seconds += time.perf_counter() - tick
            return loss, {**logs, "central_share": share}
        taken, next_values = self.agent_values(batch)
        self._fold_rewards(batch)
        targets, weights = self.independent_targets(
            batch, next_values, filled & ~called, self.local_reward_norm, fold=False
        )
        loss = masked_mse(taken, targets, weights)
        w = weights.to(taken.dtype)
        logs = {
            "q_taken": weighted_mean(taken.detach(), w),
            "target": weighted_mean(targets, w),
            "central_share": share,
        }
        if n_cl == 0:  # IQL's arithmetic
            return loss, logs
        tick = time.perf_counter()
        q_tot, team_targets = self._central(batch, taken, next_values, called)
        central = masked_mse(q_tot, team_targets, torch.ones_like(q_tot, dtype=torch.bool))
        loss = (1.0 - share) * loss + share * central
        self.mixer_seconds += time.perf_counter() - tick
        return loss, logs

    # ------------------------------------------------------------------ the switcher's signal
    @torch.no_grad()
    def disagreement(self) -> np.ndarray:
        """``[T, B]`` for the T steps kept since the last call: the mean over live agents of
        ``|delta_tot * dQ_tot/dQ_i - delta_i|`` (TD errors of the mixer's and the independent rule,
        at the current networks and reward statistics, which it leaves unchanged)."""
        t, b = len(self.rollout), len(self.rollout[0]["actions"])
        batch = {
            k: torch.as_tensor(np.concatenate([s[k] for s in self.rollout])).to(self.device)
            for k in self.rollout[0]
        }
        self.rollout = []
        batch["obs"] = batch["obs"].float()
        filled = torch.ones(t * b, 1, dtype=torch.bool, device=self.device)
        taken, next_values = self.agent_values(batch)
        targets, weights = self.independent_targets(
            batch, next_values, filled, self.local_reward_norm, fold=False
        )
        with torch.enable_grad():
            leaf = taken.detach().requires_grad_(True)
            q_tot, team_targets = self._central(batch, leaf, next_values, filled)
            (slope,) = torch.autograd.grad(q_tot.sum(), leaf)
        # [K] -> [E, 1, N]: the mixer's TD error as it reaches each agent's Q
        central = (team_targets - q_tot.detach())[:, None] * slope.reshape(-1, slope.shape[-1])
        gap = (central.reshape(taken.shape) - (targets - taken)).abs()
        w = weights.to(gap.dtype)
        per_step = (gap * w).sum(-1) / w.sum(-1).clamp(min=1.0)
        return per_step.reshape(t, b).cpu().numpy()

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        norm = self.local_reward_norm
        return {
            **super().state_dict(),
            "local_reward_norm": norm.state_dict() if norm is not None else None,
            "rule_steps": dict(self.rule_steps),
            "mixer_seconds": self.mixer_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.local_reward_norm is not None:
            self.local_reward_norm.load_state_dict(state["local_reward_norm"])
        self.rule_steps = dict(state["rule_steps"])
        self.mixer_seconds = float(state["mixer_seconds"])


class RuleSwitchVDN(RuleSwitchValue, VDNLearner):
    """VDN's sum as the centralised rule."""


class RuleSwitchQMIX(RuleSwitchValue, QMIXLearner):
    """QMIX's mixer as the centralised rule."""


#: ``switch=learn``'s value learner for each value CL
RULE_LEARNERS = {"vdn": RuleSwitchVDN, "qmix": RuleSwitchQMIX}


class ValueRuleSide(ValueSide):
    """Drives a :class:`RuleSwitchValue` learner: records every step with its calls."""

    def __init__(self, learner: RuleSwitchValue, keep: bool):
        super().__init__(learner)
        self.keep = keep

    def record(self, t, obs, mask, state, actions, called, step) -> None:
        self.learner.record_called(obs, mask, state, actions, called, step, self.keep)

    def signal(self, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        """The rollout's ``[T, B]`` rule disagreement (:meth:`RuleSwitchValue.disagreement`)."""
        return self.learner.disagreement()

    def cl_seconds(self) -> float:
        return self.learner.mixer_seconds
