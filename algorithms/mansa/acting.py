"""MANSA's joint policy as one snapshot: a mixin of :class:`~algorithms.mansa.learner.MANSALearner`.

The joint policy is IL's policy, CL's policy and the switcher's actor on the global state (and the
run's calls left, its budget input under ``budget_scope=run``), so no single
:class:`agents.policy.Policy` holds it. The trainer keeps this snapshot as the best policy seen
and writes it as the run's policy file (:mod:`algorithms.runs.acting`).
"""

from __future__ import annotations

import torch


class JointActing:
    """:meth:`~algorithms.base.Learner.acting_state` for MANSA (on ``self``)."""

    def _acting_parts(self) -> dict:
        return {"il": self.il.learner, "cl": None if self.cl is None else self.cl.learner}

    def acting_state(self) -> dict[str, torch.Tensor]:
        actor = self.switcher.actor.state_dict()
        state = {f"switcher/{k}": v.detach().cpu().clone() for k, v in actor.items()}
        for name, learner in self._acting_parts().items():
            if learner is not None:
                state.update({f"{name}/{k}": v for k, v in learner.acting_state().items()})
        state["run_calls_left"] = torch.tensor(int(self._run_calls_left))
        return state

    def load_acting_state(self, state: dict[str, torch.Tensor]) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

        self.switcher.actor.load_state_dict(part("switcher/"))
        for name, learner in self._acting_parts().items():
            if learner is not None:
                learner.load_acting_state(part(f"{name}/"))
        self._run_calls_left = int(state["run_calls_left"])
