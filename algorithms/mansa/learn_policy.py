"""MANSA's ``switch=learn`` in the on-policy pairing: one actor, two critics, one update.

IPPO's actor acts on every step; the MAPPO learner shares it and its sampling generator
(:meth:`~algorithms.ppo.PPOLearner.share_actor`) and keeps its central critic. Both learners record
every step with their own critic's values, so the central critic is evaluated (a forward pass)
on every step and GAE at a called step bootstraps through its values across uncalled ones.

After a rollout, one PPO update (:func:`joint_update`, IPPO's settings and optimiser, which also
holds the central critic) trains the actor on every step: at a called step with the central
critic's advantage, elsewhere with the local critic's, normalised together. Each critic's value
loss covers the steps it serves, and the central critic runs in the update on the called steps
only, so CL's training cost grows with the calls. A rollout whose steps are all called takes
MAPPO's own update (``switcher.mode=cl`` is MAPPO alone bit for bit), one with none called
IPPO's (``mode=il`` is IPPO alone).

Why one update: two PPO updates in turn (each learner's own, with its own Adam over the shared
actor) gave the few called steps as many full-size actor steps as all the others together, and
the policy collapsed (``docs/experiments/mansa.md``).

The switcher's signal (:func:`advantage_disagreement`): a rule's choice pays off only through
later updates, so the switcher is paid at once by how much the central critic would change the
step's policy gradient: ``|A_central - A_local|``, averaged over the live agents, from both
critics' GAE over the rollout before the update.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from algorithms.mansa.sides import PolicySide, Side
from algorithms.on_policy import normalise_advantages, ppo_update


def alive_steps(il: PolicySide, cl: PolicySide) -> torch.Tensor:
    """``[T, B, N]`` 1 where an agent is in its episode at a recorded step: each side's
    ``active`` is "alive and served by it", and the sides serve complementary steps."""
    return il.learner.buffer["active"] + cl.learner.buffer["active"]


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
    alive = alive_steps(il, cl).to(advantages[0].device)
    gap = (advantages[1] - advantages[0]).abs()
    per_step = (gap * alive).sum(-1) / alive.sum(-1).clamp(min=1.0)
    return per_step.cpu().numpy()


def hindsight_calls(signal: np.ndarray, live: np.ndarray, rate: float) -> np.ndarray:
    """``[T, B]`` True on the ``round(rate * live.sum())`` live steps with the largest ``signal``
    (ties: the earlier step, then the lower copy): ``switcher.mode=hindsight``'s calls."""
    order = np.argsort(-np.where(live, signal, -np.inf), axis=None, kind="stable")
    called = np.zeros(signal.size, dtype=bool)
    called[order[: int(round(rate * int(live.sum())))]] = True
    return called.reshape(signal.shape)


def _targets(side: PolicySide, obs: np.ndarray, state: np.ndarray):
    """A side's rollout, advantages, old values and value targets (its value statistics take in
    the returns of the steps it serves)."""
    learner = side.learner
    data, advantages, _, old, targets = learner.rollout_targets(
        learner.rollout_values(obs, state, side.starts)
    )
    return data, advantages, old, targets


def joint_update(
    il: PolicySide, cl: PolicySide, called: np.ndarray, obs: np.ndarray, state: np.ndarray
) -> tuple[dict[str, float], float]:
    """One PPO update of the shared actor and both critics over a rollout whose steps ``called
    [T, B]`` take the central critic's advantage and value target (the others the local one's);
    returns its mean losses and the seconds of the central critic's forward passes."""
    central_seconds = [0.0]  # added to inside the minibatch passes
    local, central = il.learner, cl.learner
    cfg, device = local.cfg, local.device
    il_data, il_adv, il_old, il_targets = _targets(il, obs, state)
    tick = time.perf_counter()
    cl_data, cl_adv, cl_old, cl_targets = _targets(cl, obs, state)
    central_seconds[0] += time.perf_counter() - tick
    rows = torch.as_tensor(called).to(device)[:, :, None].expand_as(il_adv)
    active = il_data["active"] + cl_data["active"]  # the sides serve complementary steps
    advantages = torch.where(rows, cl_adv, il_adv)
    if cfg.norm_advantages:
        advantages = normalise_advantages(advantages, active)
    data = {
        "obs": il_data["obs"],
        "state": cl_data["state"],
        "actions": il_data["actions"],
        "log_probs": il_data["log_probs"],
        "active": active,
        "advantages": advantages,
        "old_values": torch.where(rows, cl_old, il_old),
        "targets": torch.where(rows, cl_targets, il_targets),
        "called": rows[..., 0],
    }
    if "mask" in il_data:
        data["mask"] = il_data["mask"]
    data = {k: v.flatten(0, 1) for k, v in data.items()}

    def evaluate(mb: dict[str, torch.Tensor]):
        dist, _ = local.actor.distribution(mb["obs"], mb.get("mask"))
        x = local.critic_in.build(mb["obs"], mb["state"], None)
        values = local.critic(x)[0].squeeze(-1)
        picked = mb["called"]
        if picked.any():  # the central critic on the called steps only
            tick = time.perf_counter()
            x = central.critic_in.build(mb["obs"][picked], mb["state"][picked], None)
            values = values.index_put((picked,), central.critic(x)[0].squeeze(-1))
            central_seconds[0] += time.perf_counter() - tick
        return dist.log_prob(mb["actions"]), dist.entropy(), values

    params = [*local.params, *central.critic.parameters()]
    metrics = ppo_update(
        data,
        len(data["active"]),
        evaluate,
        local.optimizer,
        params,
        cfg,
        local.generator,
        local.updates + 1,
        clip_value=cfg.clip_value_loss,
        target_kl=cfg.target_kl,
    )
    return {f"losses/{k}": v for k, v in metrics.items()}, central_seconds[0]


class JointRuleSide(Side):
    """Both on-policy learners as one side: IPPO's actor acts, each step is recorded by both (IL
    serves the uncalled steps, CL the called), and :func:`joint_update` learns the rollout."""

    def __init__(self, il: PolicySide, cl: PolicySide):
        self.il, self.cl, self.learner = il, cl, il.learner
        cl.learner.share_actor(il.learner)
        # IPPO's optimiser also steps the central critic in the joint update
        il.learner.optimizer.add_param_group({"params": list(cl.learner.critic.parameters())})
        self.called = np.zeros((il.learner.cfg.rollout_length, il.learner.env.num_envs), bool)
        #: seconds of the central critic's forward passes (recording, and the joint update's);
        #: its backward pass, inside the joint one, is not separated
        self.cl_time = 0.0
        self.recording_time = 0.0  # this rollout's share, booked at its update

    def record(self, t, obs, mask, state, actions, called, step) -> None:
        self.il.record(t, obs, mask, state, actions, ~called, step)
        tick = time.perf_counter()
        self.cl.record(t, obs, mask, state, actions, called, step)
        self.recording_time += time.perf_counter() - tick
        self.called[t] = called

    def live_steps(self) -> np.ndarray:
        """``[T, B]`` the recorded rollout's steps with an agent still in its episode."""
        return (alive_steps(self.il, self.cl).sum(-1) > 0).cpu().numpy()

    def reassign(self, called: np.ndarray) -> None:
        """Hand the recorded rollout's steps ``called [T, B]`` to the central rule and the others
        to the local one, after the fact (``switcher.mode=hindsight``)."""
        local, central = self.il.learner.buffer, self.cl.learner.buffer
        alive = alive_steps(self.il, self.cl)
        rows = torch.as_tensor(called).to(alive.device)[..., None]
        local["active"].copy_(alive * ~rows)
        central["active"].copy_(alive * rows)
        self.il.own_rows[:], self.cl.own_rows[:], self.called[:] = ~called, called, called

    def update(self, new_env_steps: int, obs: np.ndarray, state: np.ndarray) -> dict[str, float]:
        # MANSA moves the CL seconds booked during an update from IL's time to CL's
        self.cl_time, self.recording_time = self.cl_time + self.recording_time, 0.0
        if self.called.all():
            return self.cl.update(new_env_steps, obs, state)
        if not self.called.any():
            return self.il.update(new_env_steps, obs, state)
        metrics, central_seconds = joint_update(self.il, self.cl, self.called, obs, state)
        self.cl_time += central_seconds
        for side in (self.il, self.cl):
            side.learner.updates += 1
        return metrics

    def signal(self, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        return advantage_disagreement(self.il, self.cl, obs, state)

    def cl_seconds(self) -> float:
        return self.cl_time

    def set_horizon(self, total_env_steps: int | None) -> None:
        for side in (self.il, self.cl):
            side.set_horizon(total_env_steps)

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.il.state_dict(),
            "cl": self.cl.learner.state_dict(),
            "cl_side": self.cl.state_dict(),
            "cl_time": self.cl_time,
            "recording_time": self.recording_time,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.il.load_state_dict(state)
        self.cl.learner.load_state_dict(state["cl"])
        self.cl.learner.env = self.learner.env
        self.cl.load_state_dict(state["cl_side"])
        self.cl_time = float(state["cl_time"])
        self.recording_time = float(state["recording_time"])
