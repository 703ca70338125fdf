"""What the switcher decides from, and how a decision is bounded: a mixin of :class:`MANSALearner`.

The switcher's inputs (the flattened state, the fraction of the budget left, the stall count),
the calls each copy may still make, and the decision itself: the learned switcher's, or a fixed
rule's (``switcher.mode`` il, cl, random), cut to the budget. ``hindsight`` calls nothing while
collecting: it picks its steps after the rollout (:func:`~algorithms.mansa.learn_policy.hindsight_calls`).
"""

from __future__ import annotations

import numpy as np
import torch

from algorithms.mansa.switcher import STALL_CAP, SwitchMemory, stall_counts

#: calls left where there is no budget
UNLIMITED = np.iinfo(np.int64).max // 2


class SwitchDecisions:
    """The budget and the decisions of :class:`~algorithms.mansa.learner.MANSALearner` (on ``self``)."""

    # ------------------------------------------------------------------ budget
    def _calls_left(self) -> np.ndarray:
        """``[B]`` CL calls each copy may make now."""
        if self.budget is None:
            return np.full(self.env.num_envs, UNLIMITED, dtype=np.int64)
        if self.cfg.budget_scope == "run":
            return np.full(self.env.num_envs, self._run_calls_left, dtype=np.int64)
        return self.budget - self._episode_calls

    def _stall_now(self) -> np.ndarray:
        """``[B]`` the stall count of this step's joint observation (in training), from the last decision's."""
        return stall_counts(self._obs, self._last_obs, self._stall, self._step == 0)

    def _inputs(self, state: np.ndarray, calls_left: np.ndarray, stall: np.ndarray) -> torch.Tensor:
        """The switcher's inputs: the flattened state, the fraction of the budget left (with a budget)
        and ``min(stall, STALL_CAP) / STALL_CAP`` (with ``stall_input``)."""
        columns = [np.asarray(state, dtype=np.float32).reshape(len(calls_left), -1)]
        if self.budget is not None:
            fraction = calls_left / self.budget if self.budget > 0 else np.zeros(len(calls_left))
            columns.append(fraction.astype(np.float32)[:, None])
        if self.stall_input:
            columns.append((np.minimum(stall, STALL_CAP) / STALL_CAP).astype(np.float32)[:, None])
        return torch.as_tensor(np.concatenate(columns, axis=1)).to(self.device)

    def _decide(
        self,
        inputs: torch.Tensor,
        calls_left: np.ndarray,
        greedy: bool,
        shared: bool,
        generator: torch.Generator | None = None,
        explore: float = 0.0,
    ):
        """CL decisions ``[B]`` (bool, within the budget), the switcher's choices and their
        log-probs, and the unmasked CL probabilities. ``shared``: the copies draw on one pool of
        ``calls_left[0]`` calls (the run budget while training); the lowest indices go first."""
        allowed = torch.as_tensor(calls_left > 0).to(self.device)
        mode = self.cfg.switcher.mode
        if mode == "learned":
            choices, log_probs, p_cl = self.switcher.decide(
                inputs, allowed, greedy, generator, explore
            )
        elif mode == "random":
            draws = torch.rand(len(allowed), generator=generator or self.switcher.generator)
            choices = ((draws < self.cfg.switcher.rate) & allowed).long()
            log_probs, p_cl = torch.zeros(len(choices)), choices.float()
        else:  # il, cl, and hindsight (which picks after the rollout)
            choices = (
                allowed.long() if mode == "cl" else torch.zeros_like(allowed, dtype=torch.long)
            )
            log_probs, p_cl = torch.zeros(len(choices)), choices.float()
        cl = choices.cpu().numpy().astype(bool)
        if shared:
            cl &= np.cumsum(cl) <= calls_left[0]
        return cl, choices, log_probs, p_cl

    def initial_memory(self, copies: int) -> SwitchMemory:
        """What an evaluation episode starts with: every copy's calls left, no call made yet."""
        left = (
            UNLIMITED
            if self.budget is None
            else (self._run_calls_left if self.cfg.budget_scope == "run" else self.budget)
        )
        return SwitchMemory(np.full(copies, left, dtype=np.int64), np.zeros(copies, dtype=bool))
