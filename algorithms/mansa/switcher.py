"""The switcher: a PPO agent with a two-way policy (0 = IL, 1 = CL), one decision per env copy and step.

Its inputs ``[B, D]`` are the flattened global state, plus the fraction of the budget left (with a
budget) and the stall count (with ``stall_input``): how many steps in a row the agents' joint
observation has stayed the same, which the state cannot show. Steps where CL was masked (no
calls left) carry no policy gradient, as there was no choice, but do train the critic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.distributions import MaskedCategorical
from agents.networks import AgentNet
from algorithms.base import adam
from algorithms.mansa.config import SwitcherConfig
from algorithms.on_policy import (
    RolloutBuffer,
    ValueNorm,
    compute_gae,
    normalise_advantages,
    ppo_update,
)

#: the switcher's stall input (``switcher.stall_input``) saturates after this many repeated observations
STALL_CAP = 10


def stall_counts(
    obs: np.ndarray, previous: np.ndarray, stall: np.ndarray, first: np.ndarray
) -> np.ndarray:
    """How many steps in a row the joint observation ``[B, ...]`` has stayed the same: ``stall + 1``
    where it equals ``previous`` (the last step's, whose count was ``stall``), 0 where it changed or
    where the episode has just begun (``first``)."""
    same = (
        np.asarray(obs).reshape(len(stall), -1) == np.asarray(previous).reshape(len(stall), -1)
    ).all(axis=1)
    return np.where(same & ~first, stall + 1, 0)


@dataclass
class SwitchMemory:
    """What :meth:`MANSALearner.act` carries between steps of an evaluation episode."""

    calls_left: np.ndarray
    """``[B]`` CL calls each copy may still make (a large number when unlimited)."""
    cl: np.ndarray
    """``[B]`` True where the last step's joint action came from CL."""
    obs: np.ndarray | None = None
    """``[B, ...]`` the last step's joint observation (None before an episode's first step)."""
    stall: np.ndarray | None = None
    """``[B]`` steps in a row it had stayed the same (see :func:`stall_counts`)."""
    agents: tuple = (None, None)
    """IL's and CL's recurrent states (None for a feed-forward side or before the first step)."""

    def stall_of(self, obs: np.ndarray) -> np.ndarray:
        """``[B]`` the stall count of this step's joint observation (0 at an episode's first step)."""
        if self.obs is None:
            return np.zeros(len(self.calls_left), dtype=np.int64)
        return stall_counts(obs, self.obs, self.stall, np.zeros(len(self.calls_left), dtype=bool))


class Switcher:
    """PPO over a two-way categorical (0 = IL, 1 = CL), one decision per env copy and step."""

    def __init__(
        self,
        cfg: SwitcherConfig,
        in_dim: int,
        num_envs: int,
        length: int,
        device: torch.device,
        seed: int,
    ):
        self.cfg, self.device = cfg, device
        net = cfg.net.agent_net_kwargs()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.actor = AgentNet(in_dim, 2, 1, out_gain=0.01, **net).to(device)
            self.critic = AgentNet(in_dim, 1, 1, out_gain=1.0, **net).to(device)
        with torch.no_grad():
            self.actor.head.bias[1] = math.log(cfg.init_cl_prob / (1.0 - cfg.init_cl_prob))
        self.params = [*self.actor.parameters(), *self.critic.parameters()]
        self.optimizer = adam(self.params, cfg.lr, eps=1e-5)
        self.value_norm = ValueNorm(device=device)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        # act(greedy=False) samples with its own generator: evaluation is not training randomness
        self.act_generator = torch.Generator(device=device)
        self.act_generator.manual_seed(seed + 1)
        self.buffer = RolloutBuffer(
            length,
            {
                "inputs": ((num_envs, in_dim), torch.float32),
                "allowed": ((num_envs,), torch.float32),
                "actions": ((num_envs,), torch.int64),
                "log_probs": ((num_envs,), torch.float32),
                "values": ((num_envs,), torch.float32),
                "rewards": ((num_envs,), torch.float32),
                "dones": ((num_envs,), torch.float32),
            },
        )

    def _logits(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.actor(inputs.unsqueeze(-2))[0].squeeze(
            -2
        )  # one "agent": [..., 1, 2] -> [..., 2]

    @staticmethod
    def _dist(logits: torch.Tensor, allowed: torch.Tensor) -> MaskedCategorical:
        mask = torch.stack([torch.ones_like(allowed, dtype=torch.bool), allowed.bool()], dim=-1)
        return MaskedCategorical(logits, mask)

    def _normalised_value(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.critic(inputs.unsqueeze(-2))[0].squeeze(-1).squeeze(-1)

    def value(self, inputs: torch.Tensor) -> torch.Tensor:
        """Denormalised values ``[...]`` of inputs ``[..., D]``."""
        return self.value_norm.denormalize(self._normalised_value(inputs))

    @torch.no_grad()
    def decide(
        self,
        inputs: torch.Tensor,
        allowed: torch.Tensor,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        explore: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(choices [B] (1 = CL), log-probs [B], unmasked CL probabilities [B])``; with ``explore``
        (sampled choices only) drawn from ``(1 - explore) * policy + explore * uniform`` over the
        allowed choices, the log-probs being that mixture's."""
        logits = self._logits(inputs)
        dist = self._dist(logits, allowed)
        if explore > 0 and not greedy:
            uniform = torch.stack([1.0 - 0.5 * allowed.float(), 0.5 * allowed.float()], dim=-1)
            dist = self._dist(((1.0 - explore) * dist.probs + explore * uniform).log(), allowed)
        choices = dist.mode() if greedy else dist.sample(generator or self.generator)
        return choices, dist.log_prob(choices), torch.softmax(logits, dim=-1)[..., 1]

    def _evaluate(self, mb: dict[str, torch.Tensor]):
        dist = self._dist(self._logits(mb["inputs"]), mb["active"])
        return dist.log_prob(mb["actions"]), dist.entropy(), self._normalised_value(mb["inputs"])

    def update(self, last_values: torch.Tensor, update: int) -> dict[str, float]:
        """The PPO core's update (:func:`~algorithms.on_policy.ppo_update`) over the rollout in the
        buffer: policy terms where CL was allowed, the value loss on every step."""
        cfg = self.cfg
        data = dict(self.buffer.data)
        advantages, returns = compute_gae(
            data["rewards"], data["values"], data["dones"], last_values, cfg.gamma, cfg.gae_lambda
        )
        data["active"] = data.pop("allowed")
        advantages = normalise_advantages(advantages, data["active"])
        self.value_norm.update(returns)
        data.update(advantages=advantages, targets=self.value_norm.normalize(returns))
        flat = {k: v.flatten(0, 1) for k, v in data.items()}
        size = flat["actions"].shape[0]
        metrics = ppo_update(
            flat,
            size,
            self._evaluate,
            self.optimizer,
            self.params,
            cfg,
            self.generator,
            update,
            weigh_values=False,
            prefix="switcher_",
        )
        return {f"losses/switcher/{k}": v for k, v in metrics.items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "value_norm": self.value_norm.state_dict(),
            "generator": self.generator.get_state(),
            "act_generator": self.act_generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.value_norm.load_state_dict(state["value_norm"])
        self.generator.set_state(state["generator"])
        self.act_generator.set_state(state["act_generator"])
