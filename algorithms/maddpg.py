"""MADDPG (Lowe et al. 2017): decentralised deterministic actors, one centralised critic per agent.

Agent i's critic ``Q_i(x, a_1, ..., a_N)`` sees the global state (all observations concatenated
when the env has no state or with ``critic_state=False``, the paper's x;
:class:`agents.critic_inputs.CentralInput`, as MAPPO's critic) and the joint action; its actor
``mu_i(o_i)`` sees its own observation only. Each agent learns from its own reward, so
general-sum envs are fine (``team_reward`` trains every agent on the team's). With parameter
sharing (the default) one actor and one critic network serve all agents, each
input carrying the agent's id one-hot; without it every agent has its own actor and critic
(turn it off where agents compete).

Actions. Discrete: the actor gives logits; invalid actions get the masked logit, so they are
never played and carry no gradient. Exploration samples the masked categorical (Gumbel-max,
as EPyMARL's hard Gumbel-softmax), the target actor plays its masked argmax, and the actor
loss differentiates through a straight-through Gumbel-softmax sample (EPyMARL's MADDPG).
Continuous: the actor gives the action itself (clipped to the Box); exploration adds Gaussian
noise of ``noise`` x the Box's half-width, and the critic's gradient passes the clip
straight through while a penalty keeps the action inside the Box. Either way the actor is an
:class:`agents.policy.Policy`, exported as is: greedy play is the masked argmax of the logits
or the deterministic action.

The actor loss of agent i is ``-Q_i(x, a_1, ..., a_N)`` with every ``a_j`` from the current
actors and only ``a_i`` carrying gradient (EPyMARL's choice; the paper draws the others' actions
from replay), plus ``reg`` x the mean squared logit (discrete). Targets
``r_i + gamma Q'_i(x', mu'_1(o'_1), ..., mu'_N(o'_N))`` use target actors and critics that follow
by Polyak averaging (``tau``). Replay is the value learners' episode replay
(:class:`~algorithms.replay.EpisodeReplay`), collected from B env copies in lock step.

Defaults follow EPyMARL's ``src/config/algs/maddpg.yaml``: lr 5e-4 (actor and critic), 32-episode
batches, reg 1e-3, hidden size 128, standardised rewards; gradient clip 10 and gamma 0.99 from
``default.yaml``; tau 0.01 from ``maddpg_ns.yaml``. Departures, as the value learners': 5000
episodes of replay (not 50000: long swarming episodes would not fit), feed-forward actors
(``net.recurrent=true``: the GRU), LayerNorm on network inputs (it doubled the greedy return of
a toy coordination game), rewards divided by their running std without the mean shift.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from agents.critic_inputs import CentralInput
from agents.distributions import MaskedCategorical
from agents.networks import AgentNet, NetConfig
from agents.policy import Policy, PolicySpec
from algorithms.base import AlgoConfig, Learner, adam, check_finite
from algorithms.config import check_ranges
from algorithms.on_policy import ValueNorm, weighted_mean
from algorithms.registry import register_algorithm
from algorithms.replay import (
    EpisodeReplay,
    EpisodeWriter,
    Field,
    ReplayCollector,
    check_replay_size,
    next_obs_items,
)
from algorithms.value_targets import masked_mse, td_targets


@dataclass
class MADDPGConfig(AlgoConfig):
    """MADDPG hyperparameters (defaults after EPyMARL's maddpg.yaml; see the module docstring)."""

    name: str = "maddpg"
    lr: float = 5e-4
    """Adam learning rate of the actor and of the critic."""
    gamma: float = 0.99
    """Discount factor."""
    buffer_size: int = 5000
    """Episodes kept in the replay buffer."""
    batch_size: int = 32
    """Episodes per update; updates start once the buffer holds this many."""
    rollout_length: int = 10
    """Steps collected from every env copy per iteration (an iteration is rollout_length x num_envs env steps)."""
    env_steps_per_update: float = 50.0
    """Env steps collected per gradient update of actor and critic (fractions carry over)."""
    tau: float = 0.01
    """Polyak rate of the target actor and critic, after every update."""
    reg: float = 1e-3
    """Weight of the mean squared logit in the actor loss (discrete actions)."""
    noise: float = 0.1
    """Exploration noise (continuous actions): Gaussian, this fraction of the Box's half-width."""
    max_grad_norm: float = 10.0
    """Gradient-norm clip of the actor and of the critic."""
    scale_rewards: bool = True
    """Divide rewards by their running standard deviation (EPyMARL's standardise_rewards, no mean shift)."""
    team_reward: bool = False
    """Train every agent on the team reward (sum or mean of the agents' rewards, as the env says)."""
    critic_state: bool = True
    """The critic sees the env's global state (EPyMARL's MADDPG); False: every agent's
    observation concatenated (Lowe et al.'s x = (o_1, ..., o_N)). A state that summarises the
    agents without telling them apart (swarming's heading histogram) cannot show the critic
    what one agent's action does."""
    net: NetConfig = field(default_factory=lambda: NetConfig(hidden_size=128, feature_norm=True))
    """Actor and critic architecture (the critic is always feed-forward)."""
    max_episode_length: int = 0
    """Longest stored episode (0: the env's max_episode_steps, else 100); longer ones are stored in chunks."""

    def __post_init__(self):
        positive = ("lr", "buffer_size", "batch_size", "rollout_length", "env_steps_per_update")
        check_ranges(self, positive=(*positive, "max_grad_norm"))
        if self.batch_size > self.buffer_size:
            raise ValueError(
                f"algo.batch_size ({self.batch_size}) must not exceed algo.buffer_size ({self.buffer_size})"
            )
        check_ranges(self, unit=("gamma",))
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"algo.tau must lie in (0, 1], got {self.tau}")
        check_ranges(self, non_negative=("reg", "noise", "max_episode_length"))
        self.net.check("algo.net")


#: the learner's networks and optimisers, saved and restored by name
_MODULES = (
    "actor",
    "critic",
    "target_actor",
    "target_critic",
    "actor_optimizer",
    "critic_optimizer",
)


class MADDPGLearner(ReplayCollector, Learner):
    """MADDPG over a batched core: episode replay, per-agent centralised critics, target networks."""

    supports_continuous = True
    needs_state = True
    #: the critic input grows as N x (N x action size) per step: refuse large joint actions
    max_joint_actions = 256

    def __init__(
        self, cfg: MADDPGConfig, env: Any, device: str | torch.device = "cpu", seed: int = 0
    ):
        super().__init__(cfg, env, device, seed)
        b, n = env.num_envs, env.num_agents
        self.discrete = env.is_discrete
        self.central = CentralInput(env, use_state=cfg.critic_state)
        spec = PolicySpec.for_env(env, **asdict(cfg.net))
        self.action_size = spec.action_dim
        self.max_length = cfg.max_episode_length or int(getattr(env, "max_episode_steps", 0) or 100)
        fields = {
            "obs": Field((n, self.central.obs_dim), np.float32, obs=True),
            "rewards": Field((n,), np.float32),
            "terminated": Field((n,), np.bool_),
            "active": Field((n,), np.bool_),
        }
        if self.discrete:
            fields["mask"] = Field((n, self.action_size), np.bool_, obs=True)
            fields["actions"] = Field((n,), np.int64)
        else:
            fields["actions"] = Field((n, self.action_size), np.float32)
        if self.central.uses_state:
            fields["state"] = Field((self.central.dim,), np.float32, obs=True)
        check_replay_size(cfg.buffer_size, self.max_length, fields, n)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.actor = Policy(spec)
            critic_net = {**cfg.net.agent_net_kwargs(), "recurrent": False}
            joint = self.central.dim + n * self.action_size
            self.critic = AgentNet(joint, 1, n, out_gain=1.0, **critic_net)
        if not self.discrete:  # the Policy's Gaussian is the exploration noise (never trained)
            half = (self.actor.high - self.actor.low) / 2
            with torch.no_grad():
                self.actor.log_std.copy_(
                    torch.log(cfg.noise * half + 1e-12).expand_as(self.actor.log_std)
                )
        self.actor.to(self.device)
        self.critic.to(self.device)
        self.target_actor = copy.deepcopy(self.actor).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_params = list(self.actor.net.parameters())
        self.actor_optimizer = adam(self.actor_params, cfg.lr)
        self.critic_optimizer = adam(list(self.critic.parameters()), cfg.lr)
        self.reward_norm = ValueNorm(device=self.device) if cfg.scale_rewards else None
        self.generator = torch.Generator(device=self.device)  # exploration and Gumbel noise
        self.generator.manual_seed(self.seed)
        self._act_generator = torch.Generator(device=self.device)  # act(greedy=False) only
        self._act_generator.manual_seed(self.seed + 1)
        self.rng = np.random.default_rng(self.seed)  # replay sampling
        self.replay = EpisodeReplay(cfg.buffer_size, self.max_length, fields)
        self.writer = EpisodeWriter(b, self.max_length, fields)

        obs, _ = env.reset(seed=self.seed)
        self._obs = obs
        self._agent_done = np.zeros((b, n), dtype=bool)
        self._hidden = self.actor.initial_hidden(b)
        self._update_credit = 0.0
        #: gradient steps taken (``updates`` counts iterations, as the trainer does)
        self.gradient_updates = 0

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs, mask=None, state=None, hidden=None, greedy=True):
        """Greedy joint actions (masked argmax / the deterministic action), or exploration ones."""
        return self.actor.act(obs, mask, hidden, greedy=greedy, generator=self._act_generator)

    def policy(self) -> Policy:
        """The actor: greedy play is the masked argmax of its logits or its (clipped) action."""
        return self.actor

    @torch.no_grad()
    def _collect(self) -> None:
        env, b, n = self.env, self.env.num_envs, self.env.num_agents
        for _ in range(self.cfg.rollout_length):
            obs = self._obs.reshape(b, n, -1)
            mask = env.action_mask() if self.discrete else None
            state = env.state().reshape(b, -1) if self.central.uses_state else None
            mask_t = None if mask is None else torch.as_tensor(mask).to(self.device)
            obs_t = torch.as_tensor(obs, dtype=torch.float32).to(self.device)
            dist, self._hidden = self.actor.distribution(obs_t, mask_t, self._hidden)
            actions = self.actor.to_env(dist.sample(self.generator))
            step = env.step(actions)
            self._record(obs, mask, state, actions, *step)
            self._obs = step[0]
            self.episodes.add(step[4])

    def _record(self, obs, mask, state, actions, next_obs, rewards, terminated, truncated, info):
        """Store one step of all B copies in the episode replay and advance ``env_steps``."""
        b = len(actions)
        items = (("obs", obs), ("mask", mask), ("state", state))
        self.writer.write_obs(**{k: v for k, v in items if v is not None})
        self.writer.write_step(
            actions=actions, rewards=rewards, terminated=terminated, active=~self._agent_done
        )
        self._agent_done |= terminated | truncated
        self.env_steps += b
        ended = info.get("_final", np.zeros(b, dtype=bool))
        flush = ended | self.writer.full()
        if flush.any():
            idx = np.flatnonzero(flush)
            final = next_obs_items(
                self.env, idx, ended, next_obs, info, mask=self.discrete, state=state is not None
            )
            self.replay.add(*self.writer.finish(idx, **final))
        if ended.any():
            self._agent_done[ended] = False
            self._hidden[torch.as_tensor(ended, device=self.device)] = 0.0

    # ------------------------------------------------------------------ the update
    def _joint(self, actions: torch.Tensor, own_gradient_only: bool = False) -> torch.Tensor:
        """The joint action ``[..., N, N * A]`` every critic sees, from ``actions [..., N, A]``;
        with ``own_gradient_only`` agent i's copy carries gradient through ``a_i`` alone."""
        n = actions.shape[-2]
        if not own_gradient_only:
            return actions.flatten(-2).unsqueeze(-2).expand(*actions.shape[:-2], n, -1)
        own = torch.eye(n, dtype=torch.bool, device=actions.device).unsqueeze(-1)  # [N(i), N(j), 1]
        mixed = torch.where(own, actions.unsqueeze(-3), actions.detach().unsqueeze(-3))
        return mixed.flatten(-2)

    def _q(self, net: AgentNet, joint_in: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return net(torch.cat([joint_in, actions], dim=-1))[0].squeeze(-1)

    def _policy_actions(self, out: torch.Tensor, mask: torch.Tensor | None, explore: bool):
        """Actions ``[..., N, A]`` from actor outputs, and the actor's regulariser: a one-hot
        straight-through Gumbel-softmax sample (``explore``) or the masked argmax (discrete);
        the action clipped to the Box, gradient passed straight through (continuous)."""
        if self.discrete:
            dist = MaskedCategorical(out, mask)
            if explore:
                actions = dist.gumbel_softmax(self.generator)
            else:
                actions = torch.nn.functional.one_hot(dist.mode(), self.action_size).float()
            valid = None if dist.mask is None else dist.mask.to(out.dtype)
            return actions, self.cfg.reg * weighted_mean(out.pow(2), valid)
        low, high = self.actor.low, self.actor.high
        clipped = torch.maximum(torch.minimum(out, high), low)
        overshoot = ((out - clipped) / ((high - low) / 2)).pow(2).mean()
        return out + (clipped - out).detach(), overshoot

    def _update(self) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        sample = self.replay.sample(cfg.batch_size, self.rng)
        batch = {k: torch.as_tensor(v).to(self.device) for k, v in sample.items()}
        obs, mask = batch["obs"], batch.get("mask")  # [E, L+1, N, D], [E, L+1, N, A]
        joint_in = self.central.build(obs, batch.get("state"), None)  # [E, L+1, N, C]
        rewards, active = batch["rewards"], batch["active"]
        if cfg.team_reward:
            team = rewards.sum(-1) if self.env.team_reward == "sum" else rewards.mean(-1)
            rewards = team.unsqueeze(-1).expand_as(rewards)
        weights = batch["filled"].unsqueeze(-1) & active  # [E, L, N]
        if self.reward_norm is not None:
            self.reward_norm.update(rewards[weights])
            rewards = (rewards / self.reward_norm.std).to(rewards.dtype)

        # critic: Q_i(x, a) towards r_i + gamma Q'_i(x', mu'(o'))
        with torch.no_grad():
            next_mask = None if mask is None else mask[:, 1:]
            next_out = self.target_actor.net.forward_episodes(obs[:, 1:])
            next_actions, _ = self._policy_actions(next_out, next_mask, explore=False)
            next_q = self._q(self.target_critic, joint_in[:, 1:], self._joint(next_actions))
            alive_next = active & ~batch["terminated"]
            targets = td_targets(rewards, next_q, alive_next, cfg.gamma)
        taken = batch["actions"]  # [E, L, N] indices or [E, L, N, A] vectors
        if self.discrete:
            taken = torch.nn.functional.one_hot(taken, self.action_size).float()
        taken = self._joint(taken)
        q_taken = self._q(self.critic, joint_in[:, :-1], taken)
        critic_loss = masked_mse(q_taken, targets, weights)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        critic_norm = torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.max_grad_norm)
        check_finite(
            {"critic_loss": critic_loss, "critic_grad_norm": critic_norm}, self.updates + 1
        )
        self.critic_optimizer.step()

        # actor: ascend the updated Q_i through a_i = mu_i(o_i), the others' current actions fixed
        out = self.actor.net.forward_episodes(obs[:, :-1])
        actions, penalty = self._policy_actions(
            out, None if mask is None else mask[:, :-1], explore=True
        )
        self.critic.requires_grad_(False)
        q_policy = self._q(self.critic, joint_in[:, :-1], self._joint(actions, True))
        self.critic.requires_grad_(True)
        actor_loss = -weighted_mean(q_policy, weights.to(q_policy.dtype)) + penalty
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        actor_norm = torch.nn.utils.clip_grad_norm_(self.actor_params, cfg.max_grad_norm)
        check_finite({"actor_loss": actor_loss, "actor_grad_norm": actor_norm}, self.updates + 1)
        self.actor_optimizer.step()
        self.gradient_updates += 1
        online = [*self.actor.parameters(), *self.critic.parameters()]
        with torch.no_grad():  # Polyak averaging
            targets_params = [*self.target_actor.parameters(), *self.target_critic.parameters()]
            for p, tp in zip(online, targets_params):
                tp.lerp_(p, cfg.tau)
        w = weights.to(q_taken.dtype)
        logs = {"q_taken": weighted_mean(q_taken.detach(), w), "target": weighted_mean(targets, w)}
        losses = {"critic_loss": critic_loss, "actor_loss": actor_loss}
        norms = {"critic_grad_norm": critic_norm, "actor_grad_norm": actor_norm}
        return {k: v.detach() for k, v in (losses | norms).items()} | logs

    def train_iteration(self) -> dict[str, float]:
        cfg = self.cfg
        self._collect()
        metrics = self.update_from_replay(cfg.rollout_length * self.env.num_envs)
        self.updates += 1
        metrics["charts/learning_rate"] = cfg.lr
        metrics["charts/buffer_episodes"] = float(len(self.replay))
        metrics["charts/gradient_updates"] = float(self.gradient_updates)
        return metrics

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        modules = {name: getattr(self, name).state_dict() for name in _MODULES}
        return modules | {"generator": self.generator.get_state()} | self.collector_state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in _MODULES:
            getattr(self, name).load_state_dict(state[name])
        self.generator.set_state(state["generator"])
        self.load_collector_state(state)


register_algorithm("maddpg", MADDPGConfig, MADDPGLearner)
