"""MANSA's ``switch=learn`` in the on-policy pairing: one actor, two critics.

IPPO's actor acts on every step; the MAPPO learner shares it and its sampling generator
(:meth:`~algorithms.ppo.PPOLearner.share_actor`) and keeps its central critic. Both learners record
every step with their own critic's values, so the central critic is evaluated (a forward pass)
on every step and GAE at a called step bootstraps through its values across uncalled ones; but
each learner's losses weigh only the steps it serves: MAPPO's the called steps (the central
advantage and value target), IPPO's the others. Each runs its own PPO update (its optimiser over
the shared actor and its own critic), IPPO's first. A rollout whose steps are all called is thus
MAPPO alone bit for bit, one with none called IPPO alone.

The switcher's signal (:func:`advantage_disagreement`): a rule's choice pays off only through
later updates, so the switcher is paid at once by how much the central critic would change the
step's policy gradient: ``|A_central - A_local|``, averaged over the live agents, from both
critics' GAE over the rollout before the update.
"""

from __future__ import annotations

import numpy as np
import torch

from algorithms.mansa.sides import PolicySide


def share_policy(il: PolicySide, cl: PolicySide) -> None:
    """Make CL's learner act and learn with IL's actor (and sampling generator)."""
    cl.learner.share_actor(il.learner)


@torch.no_grad()
def advantage_disagreement(
    il: PolicySide, cl: PolicySide, obs: np.ndarray, state: np.ndarray
) -> np.ndarray:
    """``[T, B]``: ``|A_central - A_local|`` averaged over the agents still in their episode, for
    the rollout both sides recorded; ``obs`` and ``state`` are those after its last step."""
    advantages = [
        side.learner.rollout_advantages(side.learner.rollout_values(obs, state, side.starts))
        for side in (il, cl)
    ]
    # each side's ``active`` is "alive and served by it"; the sides serve complementary steps
    alive = (il.learner.buffer["active"] + cl.learner.buffer["active"]).to(advantages[0].device)
    gap = (advantages[1] - advantages[0]).abs()
    per_step = (gap * alive).sum(-1) / alive.sum(-1).clamp(min=1.0)
    return per_step.cpu().numpy()
