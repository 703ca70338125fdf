"""switch=learn's calls after a rollout: a mixin of :class:`~algorithms.mansa.learner.MANSALearner`.

The learned switcher is paid once the rollout is in (the rules' disagreement at the steps it
called, minus the cost); ``switcher.mode=hindsight`` instead picks the steps itself from that
same signal, after the rollout, and hands them to the central rule.
"""

from __future__ import annotations

import numpy as np
import torch

from algorithms.mansa.learn_policy import hindsight_calls


class LearnCalls:
    """The switcher's pay and the hindsight calls of a ``switch=learn`` run (on ``self``)."""

    def _pay_switcher(self, obs: np.ndarray, state: np.ndarray) -> dict[str, float]:
        """switch=learn: the switcher's rewards for the rollout, ``calls * (signal / std - cost)``,
        added to what its buffer holds (time-limit bootstraps)."""
        signal = self.il.signal(obs, state)  # switch=learn has a single side
        signal_t = torch.as_tensor(signal, dtype=torch.float32)
        self.signal_norm.update(signal_t)
        scaled = signal_t / self.signal_norm.std.float()
        calls = torch.as_tensor(self.rollout_calls, dtype=torch.float32)
        self.switcher.buffer.data["rewards"] += calls * (scaled - self.cfg.cost)
        out = {"mansa/signal": float(signal_t.mean())}
        if self.rollout_calls.any():
            out["mansa/signal_called"] = float(scaled[calls.bool()].mean())
        return out

    def _hindsight_calls(self, obs: np.ndarray, state: np.ndarray) -> dict[str, float]:
        """switcher.mode=hindsight: call the rollout's ``rate`` share of live steps where the two
        rules disagree most (:func:`~algorithms.mansa.learn_policy.hindsight_calls`), and hand
        them to the central rule."""
        signal = self.il.signal(obs, state)
        called = hindsight_calls(signal, self.il.live_steps(), self.cfg.switcher.rate)
        self.il.reassign(called)
        self.rollout_calls = called
        self.cl_calls += int(called.sum())
        np.add.at(
            self.cl_calls_by_step, np.minimum(self.rollout_steps[called], self.max_length - 1), 1
        )
        out = {
            "mansa/cl_fraction": float(called.mean()),
            "mansa/cl_prob": float(called.mean()),
            "mansa/cl_calls_used": float(self.cl_calls),
            "mansa/cl_fraction_total": self.cl_calls / max(self.env_steps, 1),
            "mansa/signal": float(signal.mean()),
        }
        if called.any():
            out["mansa/cl_mean_step"] = float(self.rollout_steps[called].mean())
        return out
