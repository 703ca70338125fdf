"""Mean-field Q-learning (MF-Q, Yang et al. 2018): Q(o_i, a_i, mean action of i's neighbours).

Each agent's Q-network sees its observation and ``a_bar_i``, the mean one-hot action of its
neighbours (``env.neighbour_mean``: a radius where the env has positions, the whole group
otherwise, as for MF-AC), which turns the many-agent interaction into one between an agent
and the mean effect of its neighbours. Following the paper's Algorithm 1:

- acting: agent i samples from the Boltzmann policy ``softmax(Q(o_i, ., a_bar_i^-) / T)`` over
  its valid actions, where ``a_bar_i^-`` is its neighbours' mean action of the previous step
  (the uniform distribution's at an episode's first step); the temperature T falls
  geometrically from ``temperature_start`` to ``temperature_finish``;
- storing: the mean action ``a_bar_i`` of the actions actually taken this step;
- target: ``r_i + gamma * v(o'_i)`` with the mean-field value ``v(o') = sum_a pi(a | o', a_bar_i)
  Q^-(o', a, a_bar_i)`` (eq. 11), the Boltzmann policy over the next step's valid actions
  taken from the online network when ``double_q`` (else the target network).

``learn_on=previous`` departs from Algorithm 1 in one place: the Q-network learns at o_t on
``a_bar_i^-``, the mean action it acted on, instead of the step's own ``a_bar_i`` (the target
still uses ``a_bar_i`` at o_{t+1}, which is what acting sees there). Algorithm 1 learns a Q
conditioned on the neighbours' *simultaneous* action and acts with a *lagged* one, which on a task
that needs simultaneous actions (LBF's coop loading) leaves a near-greedy policy waiting for a
partner that waits too. The paper's rule stays the default; the LBF configs choose ``previous``
(docs/experiments/mfq.md).

Acting outside training (``act``: evaluation, rendering) sees observations only, so there
``a_bar_i`` is the mean of the *other agents'* previous actions over the whole group: exact
for whole-group neighbourhoods (Level-Based Foraging with full sight, the benchmark tasks),
an approximation for local radii. Feed-forward agents only, as in the paper. Rewards are the
agents' own (``team_reward`` switches to the team reward), as MF-Q is meant for general-sum
many-agent games.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from algorithms.iql import IQLLearner
from algorithms.registry import register_algorithm
from algorithms.replay import Field
from algorithms.value_config import ValueConfig
from algorithms.value_targets import (
    boltzmann_sample,
    boltzmann_values,
    epsilon_greedy,
    geometric_schedule,
)

LEARN_ON = ("current", "previous")


@dataclass
class MFQConfig(ValueConfig):
    """MF-Q: EPyMARL's value-based defaults, a mean-action input and Boltzmann exploration."""

    name: str = "mfq"
    temperature_start: float = 1.0
    """Boltzmann temperature at the start (the initial Q-values are near 0: nearly uniform)."""
    temperature_finish: float = 0.1
    """Boltzmann temperature after the anneal (also used by act(greedy=False)); rewards are scaled
    to unit standard deviation (``scale_rewards``), so Q-value gaps are of order 1 and 0.1 still explores."""
    temperature_anneal_steps: int = 50_000
    """Env steps over which the temperature falls geometrically."""
    team_reward: bool = False
    """Train every agent on the team reward (sum or mean of the agents' rewards, as the env says)."""
    learn_on: str = "current"
    """Which mean action the Q-network learns on at o_t: "current" (the step's own, Yang et al.'s
    Algorithm 1, while acting sees the previous step's) or "previous" (the one it acted on)."""

    def __post_init__(self):
        super().__post_init__()
        if self.learn_on not in LEARN_ON:
            raise ValueError(
                f"algo.learn_on must be one of {list(LEARN_ON)}, got {self.learn_on!r}"
            )
        if self.bootstrap != "greedy":
            raise ValueError(
                "algo.bootstrap must be 'greedy' for mfq (its target is the Boltzmann mean, "
                f"not a max), got {self.bootstrap!r}"
            )
        for key in ("temperature_start", "temperature_finish"):
            if not getattr(self, key) > 0:
                raise ValueError(f"algo.{key} must be > 0, got {getattr(self, key)}")
        if self.temperature_anneal_steps < 0:
            raise ValueError(
                f"algo.temperature_anneal_steps must be >= 0, got {self.temperature_anneal_steps}"
            )
        if self.net.recurrent:
            raise ValueError(
                "algo.net.recurrent=true is not supported by mfq (the paper's MF-Q is "
                "feed-forward); set algo.net.recurrent=false"
            )


class MFQLearner(IQLLearner):
    """IQL's per-agent TD loss with the mean action as an input, Boltzmann exploration and target."""

    uses_mean_action = True
    needs_neighbours = True
    trains_on_device = False  # Boltzmann exploration and the mean actions are numpy

    def __init__(self, cfg: MFQConfig, env: Any, device: str | torch.device = "cpu", seed: int = 0):
        super().__init__(cfg, env, device, seed)
        uniform = np.full(
            (env.num_envs, env.num_agents, self.num_actions), 1.0 / self.num_actions, np.float32
        )
        self._start_mean = np.asarray(env.neighbour_mean(uniform), dtype=np.float32)
        self._prev_mean = self._start_mean.copy()
        self._eye = np.eye(self.num_actions, dtype=np.float32)

    @property
    def temperature(self) -> float:
        """The current Boltzmann temperature (geometric in env steps)."""
        cfg = self.cfg
        return geometric_schedule(
            cfg.temperature_start,
            cfg.temperature_finish,
            cfg.temperature_anneal_steps,
            self.env_steps,
        )

    # ------------------------------------------------------------------ collection hooks
    def _explore(self, q, mask):
        return boltzmann_sample(q, mask, self.temperature, self.rng)

    def exploration_metrics(self):
        return {"charts/temperature": self.temperature}

    def _mean_action_input(self):
        return self._prev_mean

    def _step_fields(self, n):
        # the step's own mean action; with learn_on=previous also the one the Q-network acted on
        names = (
            ("mean_action",) if self.cfg.learn_on == "current" else ("mean_action", "acted_mean")
        )
        return {name: Field((n, self.num_actions), np.float32) for name in names}

    def _after_actions(self, actions):
        acted = self._prev_mean
        mean = np.asarray(self.env.neighbour_mean(self._eye[actions]), dtype=np.float32)
        self._prev_mean = mean
        fields = {"mean_action": mean, "acted_mean": acted}
        return {name: fields[name] for name in self.writer.fields if name in fields}

    def _episodes_ended(self, ended):
        self._prev_mean[ended] = self._start_mean[ended]

    # ------------------------------------------------------------------ learning
    def agent_values(self, batch):
        obs, mean = batch["obs"], batch["mean_action"]
        now = mean if self.cfg.learn_on == "current" else batch["acted_mean"]
        q = self.q_net(torch.cat([obs[:, :-1], now], dim=-1))[0]
        taken = q.gather(-1, batch["actions"].unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():
            next_inputs = torch.cat(
                [obs[:, 1:], mean], dim=-1
            )  # a_bar_t is the input at o_{t+1} either way
            q_target = self.target_q_net(next_inputs)[0]
            q_policy = self.q_net(next_inputs)[0] if self.cfg.double_q else q_target
            next_values = boltzmann_values(
                q_policy, q_target, batch["mask"][:, 1:], self.temperature
            )
        return taken, next_values

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs, mask=None, state=None, hidden=None, greedy=True):
        """Greedy (or Boltzmann at ``temperature_finish``) actions; ``hidden`` carries the previous
        step's mean action of the other agents ``[B, N, A]`` (None at an episode's start)."""
        b, n = obs.shape[:2]
        if hidden is None:
            hidden = np.full(
                (b, n, self.num_actions), 1.0 / self.num_actions if n > 1 else 0.0, np.float32
            )
        q, _ = self._online_q(obs, hidden, None)
        if greedy:
            actions = epsilon_greedy(q, mask, 0.0, self._act_rng)
        else:
            actions = boltzmann_sample(q, mask, self.cfg.temperature_finish, self._act_rng)
        onehot = self._eye[actions]
        others = (onehot.sum(axis=1, keepdims=True) - onehot) / max(n - 1, 1)
        return actions, others.astype(np.float32)

    def policy(self):
        """The Q-network as a standalone :class:`~agents.policy.Policy` that carries the other
        agents' mean action from step to step as :meth:`act` does (``mean_action_input``)."""
        from agents.policy import Policy, PolicySpec

        spec = PolicySpec.for_env(self.env, **asdict(self.cfg.net), mean_action_input=True)
        policy = Policy(spec).to(self.device)
        policy.net.load_state_dict(self.q_net.state_dict())
        return policy

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self):
        return {**super().state_dict(), "prev_mean": self._prev_mean.copy()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self._prev_mean = np.array(state["prev_mean"], dtype=np.float32)


register_algorithm("mfq", MFQConfig, MFQLearner)
