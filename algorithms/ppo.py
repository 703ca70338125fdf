"""Multi-agent PPO: one learner, three critics (IPPO, MAPPO and MF-AC subclass it).

TorchRL switches its IPPO/MAPPO script with ``centralised_critic``; here the switch is the
critic-input builder (:mod:`agents.critic_inputs`), named by the subclass's ``critic_input``.
Everything else (collection, GAE, the clipped loss, value normalisation, masks, recurrence,
parameter sharing) is this one loop.

Data flow of one ``train_iteration``: T steps of B env copies with N agents are collected
into ``[T, B, N]`` storage (one tensor conversion per step for the whole batch), advantages
come from GAE over denormalised values, then ``epochs`` passes of ``minibatches`` clipped
PPO updates. Feed-forward nets shuffle single steps (keeping the agent axis, so separate
per-agent parameters apply); recurrent nets shuffle whole env copies and replay the rollout
from its starting hidden state.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

import numpy as np
import torch

from agents.critic_inputs import CriticInput, make_critic_input
from agents.networks import AgentNet
from agents.policy import Policy, PolicySpec
from algorithms.base import AnnealedLearningRate, Learner, adam
from algorithms.on_policy import (
    RolloutBuffer,
    ValueNorm,
    compute_gae,
    explained_variance,
    next_episode_flags,
    normalise_advantages,
    ppo_update,
)
from algorithms.ppo_config import PPOConfig
from envs.torch_core import TorchBatchedCore


class PPOLearner(AnnealedLearningRate, Learner):
    """PPO over a batched core; subclasses choose ``critic_input`` (local, central, mean_field)."""

    supports_continuous = True
    trains_on_device = True
    on_policy = True
    critic_input: ClassVar[str] = "local"

    def __init__(self, cfg: PPOConfig, env: Any, device: str | torch.device = "cpu", seed: int = 0):
        super().__init__(cfg, env, device, seed)
        self.critic_in = self.build_critic_input(env)
        b, n, t = env.num_envs, env.num_agents, cfg.rollout_length
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            spec = PolicySpec.for_env(env, init_log_std=cfg.init_log_std, **asdict(cfg.net))
            self.actor = Policy(spec)
            self.critic = AgentNet(
                self.critic_in.dim, 1, n, out_gain=1.0, **cfg.net.agent_net_kwargs()
            )
        self.actor.to(self.device)
        self.critic.to(self.device)
        self.params = [*self.actor.parameters(), *self.critic.parameters()]
        self.optimizer = adam(self.params, cfg.lr, eps=1e-5)
        self.value_norm = ValueNorm(device=self.device) if cfg.value_norm else None
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.seed)

        obs_dim, spec = self.critic_in.obs_dim, self.actor.spec
        specs: dict[str, tuple[tuple[int, ...], torch.dtype]] = {
            "obs": ((b, n, obs_dim), torch.float32),
            "log_probs": ((b, n), torch.float32),
            "values": ((b, n), torch.float32),
            "rewards": ((b, n), torch.float32),
            "dones": ((b, n), torch.float32),
            "active": ((b, n), torch.float32),
            "starts": ((b,), torch.bool),
        }
        if env.is_discrete:
            specs["actions"] = ((b, n), torch.int64)
            specs["mask"] = ((b, n, spec.action_dim), torch.bool)
        else:
            specs["actions"] = ((b, n, spec.action_dim), torch.float32)
        if self.critic_in.uses_state:
            specs["state"] = ((b, self.critic_in.dim), torch.float32)
        if self.critic_in.uses_actions:
            specs["neighbour_actions"] = ((b, n, self.critic_in.dim - obs_dim), torch.float32)
        # a numpy core's data stays on the CPU; a torch core's rollouts stay on its device
        self.on_device = isinstance(env, TorchBatchedCore)
        self.buffer = RolloutBuffer(t, specs, self.device if self.on_device else "cpu")

        obs, _ = env.reset(seed=self.seed)
        self._obs = obs
        self._starts = np.ones(b, dtype=bool)
        self._agent_done = np.zeros((b, n), dtype=bool)
        if self.on_device:
            self._starts = torch.as_tensor(self._starts, device=env.device)
            self._agent_done = torch.as_tensor(self._agent_done, device=env.device)
        self._actor_h = self.actor.initial_hidden(b)
        self._critic_h = self.critic.initial_hidden(b, device=self.device)

    # ------------------------------------------------------------------ critic input hooks
    def build_critic_input(self, env: Any) -> CriticInput:
        """The critic-input builder (the one named ``critic_input``; a learner whose critic input
        needs its config overrides this)."""
        return make_critic_input(self.critic_input, env)

    def global_state(self, info: dict | None = None) -> np.ndarray | None:
        """The state ``[B, S]`` a critic with ``uses_state`` sees: the env's now, or with ``info``
        of a step, the final one of the episodes that just ended (None where the env does not
        report it: the state the last actions were chosen from stands in)."""
        return self.env.state() if info is None else info.get("final_state")

    # ------------------------------------------------------------------ acting
    def _tensor(self, x: np.ndarray | torch.Tensor, flat_from: int | None = None) -> torch.Tensor:
        t = x.float() if torch.is_tensor(x) else torch.as_tensor(np.asarray(x, dtype=np.float32))
        if flat_from is not None:
            t = t.flatten(start_dim=flat_from)
        return t.to(self.device)

    def _inputs(self, obs: np.ndarray, state: np.ndarray | None = None):
        obs_t = self._tensor(obs, flat_from=2)
        state_t = None
        if self.critic_in.uses_state:
            state_t = self._tensor(self.global_state() if state is None else state, flat_from=1)
        return obs_t, state_t

    def _value(self, obs, state, neighbour_actions, hidden, starts=None):
        x = self.critic_in.build(obs, state, neighbour_actions)
        out, hidden = self.critic(x, hidden, starts)
        value = out.squeeze(-1)
        return (self.value_norm.denormalize(value) if self.value_norm else value), hidden

    def _neighbour_actions(self, env_actions: np.ndarray) -> torch.Tensor | None:
        if not self.critic_in.uses_actions:
            return None
        return self._tensor(self.critic_in.neighbour_actions(self.env, env_actions))

    def _rewards(self, rewards: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """The float32 rewards each agent learns from (its own, or the team's)."""
        if torch.is_tensor(rewards):
            rewards = rewards.float()
            if not self.cfg.team_reward:
                return rewards
            team = rewards.sum(1) if self.env.team_reward == "sum" else rewards.mean(1)
            return team[:, None].expand_as(rewards).contiguous()
        if not self.cfg.team_reward:
            return rewards.astype(np.float32)
        team = rewards.sum(axis=1) if self.env.team_reward == "sum" else rewards.mean(axis=1)
        return np.repeat(team[:, None], rewards.shape[1], axis=1).astype(np.float32)

    def _env_actions(self, actions: torch.Tensor) -> np.ndarray | torch.Tensor:
        """Actions as the env takes them: numpy for a numpy core, tensors for a torch core."""
        if not self.on_device:
            return self.actor.to_env(actions)
        return actions.to(self.env.device) if self.env.is_discrete else self.actor.clip(actions)

    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray,
        mask: np.ndarray | None = None,
        state: np.ndarray | None = None,
        hidden: torch.Tensor | None = None,
        greedy: bool = True,
    ) -> tuple[np.ndarray, torch.Tensor | None]:
        return self.actor.act(obs, mask, hidden, greedy=greedy)

    def policy(self) -> Policy:
        return self.actor

    # ------------------------------------------------------------------ collection
    @torch.no_grad()
    def _collect(self) -> torch.Tensor:
        """Fill the buffer with T steps; return the value of the observation after the last."""
        env, buf = self.env, self.buffer
        self._hidden0 = (self._actor_h.clone(), self._critic_h.clone())
        for t in range(buf.length):
            obs, state = self._inputs(self._obs)
            mask = torch.as_tensor(env.action_mask()).to(self.device) if env.is_discrete else None
            starts = torch.as_tensor(self._starts).to(self.device)
            dist, self._actor_h = self.actor.distribution(obs, mask, self._actor_h, starts)
            actions = dist.sample(self.generator)
            env_actions = self._env_actions(actions)
            neighbours = self._neighbour_actions(env_actions)
            values, self._critic_h = self._value(obs, state, neighbours, self._critic_h, starts)
            step = env.step(env_actions)
            self._store(
                t,
                (obs, state, mask, neighbours),
                actions,
                dist.log_prob(actions),
                values,
                step,
                self._starts,
                self._agent_done,
                critic_h=self._critic_h,
            )
            self._starts, self._agent_done = next_episode_flags(self._agent_done, *step[2:])
            self._obs = step[0]
            self.episodes.add(step[4])

        obs, state = self._inputs(self._obs)
        starts = torch.as_tensor(self._starts).to(self.device)
        neighbours = None
        if self.critic_in.uses_actions:  # the neighbours' next actions, sampled from the policy
            mask = torch.as_tensor(env.action_mask()).to(self.device) if env.is_discrete else None
            dist, _ = self.actor.distribution(obs, mask, self._actor_h, starts)
            neighbours = self._neighbour_actions(self._env_actions(dist.sample(self.generator)))
        last_values, _ = self._value(obs, state, neighbours, self._critic_h, starts)
        return last_values

    def _store(
        self,
        t: int,
        inputs: tuple,
        actions: torch.Tensor,
        log_probs: torch.Tensor,
        values: torch.Tensor,
        step: tuple,
        starts: np.ndarray,
        done: np.ndarray,
        learn: np.ndarray | None = None,
        critic_h: torch.Tensor | None = None,
    ) -> None:
        """Write step ``t``: ``inputs`` ``(obs, state, mask, neighbour actions)`` the actions were
        chosen from (tensors or None), the ``env.step`` tuple, the episode flags before it; the
        losses use the copies where ``learn [B]`` is True (None: all)."""
        obs, state, mask, neighbours = inputs
        next_obs, rewards, terminated, truncated, info = step
        rewards = self._rewards(rewards)
        bootstrap = truncated & ~terminated & ~done
        if bootstrap.any():  # time limit: bootstrap from the final observation's value
            final_obs = self._tensor(info.get("final_obs", next_obs), flat_from=2)
            final_state = self.global_state(info) if self.critic_in.uses_state else None
            final_state = state if final_state is None else self._tensor(final_state, flat_from=1)
            final_values, _ = self._value(final_obs, final_state, neighbours, critic_h)
            final = final_values if self.on_device else final_values.cpu().numpy()
            rewards = rewards + self.cfg.gamma * final * bootstrap
        active = ~done if learn is None else ~done & learn[:, None]
        self.buffer.store(
            t,
            obs=obs,
            log_probs=log_probs,
            values=values,
            actions=actions,
            rewards=rewards,
            dones=terminated | truncated,
            active=active,
            starts=starts,
        )
        for name, value in (("mask", mask), ("state", state), ("neighbour_actions", neighbours)):
            if value is not None:
                self.buffer.store(t, **{name: value})
        self.env_steps += len(rewards)

    # ------------------------------------------------------------------ hooks for a controller
    # A controller that chooses who acts per env copy (MANSA) drives the rollout itself: it asks
    # for actions on the copies this learner plays, records every step (whoever acted) into
    # ``buffer`` with its own episode flags, and runs the update. Feed-forward, local or central
    # critics only (a GRU or a mean-field critic needs every copy's history or neighbours).
    def _check_hookable(self) -> None:
        if self.cfg.net.recurrent or self.critic_in.uses_actions:
            raise ValueError(
                f"{type(self).__name__}: the controller hooks need a feed-forward network and a "
                "critic without neighbours' actions"
            )

    @torch.no_grad()
    def behaviour_actions(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Training actions ``[K, N]`` sampled for observations ``[K, N, ...]`` of any K copies."""
        self._check_hookable()
        obs_t = self._tensor(obs, flat_from=2)
        dist, _ = self.actor.distribution(obs_t, torch.as_tensor(mask).to(self.device))
        return self.actor.to_env(dist.sample(self.generator))

    @torch.no_grad()
    def record_step(
        self,
        t: int,
        obs: np.ndarray,
        mask: np.ndarray,
        state: np.ndarray | None,
        actions: np.ndarray,
        step: tuple,
        starts: np.ndarray,
        agent_done: np.ndarray,
        learn: np.ndarray,
    ) -> None:
        """Store step ``t`` of a rollout someone else collected: ``obs [B, N, ...]``, ``mask`` and
        ``state`` the actions were chosen from, the ``env.step`` tuple, the caller's episode flags
        before the step (see :func:`~algorithms.on_policy.next_episode_flags`). Values are this
        learner's on every step; the losses use the copies where ``learn [B]`` is True, whose
        actions must have come from :meth:`behaviour_actions` (their log-probs are then exact)."""
        self._check_hookable()
        obs_t, state_t = self._inputs(obs, state)
        mask_t = torch.as_tensor(mask).to(self.device)
        dist, _ = self.actor.distribution(obs_t, mask_t)
        actions_t = torch.as_tensor(actions).to(self.device)
        values, _ = self._value(obs_t, state_t, None, None, torch.as_tensor(starts).to(self.device))
        log_probs = dist.log_prob(actions_t)
        inputs = (obs_t, state_t, mask_t, None)
        self._store(t, inputs, actions_t, log_probs, values, step, starts, agent_done, learn)

    @torch.no_grad()
    def rollout_values(
        self, obs: np.ndarray, state: np.ndarray | None, starts: np.ndarray
    ) -> torch.Tensor:
        """Denormalised values ``[B, N]`` of the observations after a recorded rollout's last step."""
        obs_t, state_t = self._inputs(obs, state)
        return self._value(obs_t, state_t, None, None, torch.as_tensor(starts).to(self.device))[0]

    def share_actor(self, other: PPOLearner) -> None:
        """Act and learn with ``other``'s actor and sampling generator; this learner's optimiser is
        rebuilt over that actor and its own critic (MANSA's ``switch=learn``: one policy, two
        critics, each critic's update on the steps it serves)."""
        self.actor, self.generator = other.actor, other.generator
        self.params = [*self.actor.parameters(), *self.critic.parameters()]
        self.optimizer = adam(self.params, self.cfg.lr, eps=1e-5)

    @torch.no_grad()
    def rollout_advantages(self, last_values: torch.Tensor) -> torch.Tensor:
        """GAE advantages ``[T, B, N]`` of the rollout in ``buffer`` on this learner's values, not
        normalised (MANSA's ``switch=learn`` compares two critics' advantages)."""
        data = {k: self.buffer[k].to(self.device) for k in ("rewards", "values", "dones")}
        cfg = self.cfg
        return compute_gae(
            data["rewards"], data["values"], data["dones"], last_values, cfg.gamma, cfg.gae_lambda
        )[0]

    # ------------------------------------------------------------------ update
    def _evaluate(self, mb: dict[str, torch.Tensor], sequence: bool):
        """New log-probs, entropies and normalised values of a minibatch."""
        mask = mb.get("mask")
        x = self.critic_in.build(mb["obs"], mb.get("state"), mb.get("neighbour_actions"))
        if sequence:
            dist = self.actor.distribution_sequence(mb["obs"], mask, mb["actor_h"], mb["starts"])
            values, _ = self.critic.forward_sequence(x, mb["critic_h"], mb["starts"])
        else:
            dist, _ = self.actor.distribution(mb["obs"], mask)
            values, _ = self.critic(x)
        return dist.log_prob(mb["actions"]), dist.entropy(), values.squeeze(-1)

    def rollout_targets(self, last_values: torch.Tensor):
        """``(data, advantages, returns, old_values, targets)`` of the rollout in ``buffer``: its
        fields on the device, GAE advantages ``[T, B, N]`` (not normalised) and returns, and the
        old values and value targets as the critic predicts them (normalised with ``value_norm``,
        which first takes in the returns of the live steps). A public hook: the update below,
        and MANSA's joint update of two critics."""
        cfg = self.cfg
        data = {k: v.to(self.device) for k, v in self.buffer.data.items()}
        advantages, returns = compute_gae(
            data["rewards"], data["values"], data["dones"], last_values, cfg.gamma, cfg.gae_lambda
        )
        old_values, targets = data["values"], returns
        if self.value_norm is not None:
            self.value_norm.update(returns[data["active"].bool()])
            old_values = self.value_norm.normalize(old_values)
            targets = self.value_norm.normalize(returns)
        return data, advantages, returns, old_values, targets

    def update_from_rollout(
        self,
        last_values: torch.Tensor,
        imitation: tuple[torch.Tensor, float] | None = None,
        rows: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """GAE over the rollout in ``buffer`` and ``epochs`` x ``minibatches`` clipped PPO updates;
        the mean ``losses/*``. :meth:`train_iteration` calls it after collecting; so does MANSA,
        which may pass ``imitation = (weights [T, B, N], coef)``: a behaviour-cloning term
        ``-coef * mean log pi(a | o)`` over the entries in ``weights`` (another policy's actions),
        and ``rows [T, B]``: the steps the minibatches are drawn from (feed-forward nets; GAE still
        runs over the whole rollout), None for all."""
        cfg = self.cfg
        data, advantages, returns, old_values, targets = self.rollout_targets(last_values)
        active = data["active"]
        if cfg.norm_advantages:
            advantages = normalise_advantages(advantages, active)
        keep = active.bool()
        explained = explained_variance(data["values"][keep], returns[keep])
        needed = (
            "obs",
            "mask",
            "state",
            "neighbour_actions",
            "actions",
            "log_probs",
            "active",
            "starts",
        )
        data = {k: data[k] for k in needed if k in data}
        data.update(advantages=advantages, targets=targets, old_values=old_values)
        if imitation is not None:
            data["imitation"] = imitation[0].to(self.device)

        sequence = cfg.net.recurrent
        take = None
        if sequence:  # shuffle env copies, keep whole sequences
            data["actor_h"], data["critic_h"] = (h.to(self.device) for h in self._hidden0)
            size, per_step = self.env.num_envs, ("actor_h", "critic_h")

            def take(data, idx):
                return {k: (v[idx] if k in per_step else v[:, idx]) for k, v in data.items()}

        else:  # shuffle single steps
            size = self.buffer.length * self.env.num_envs
            data = {k: v.flatten(0, 1) for k, v in data.items()}
            if rows is not None:
                keep_rows = rows.to(self.device).flatten().nonzero().squeeze(-1)
                data = {k: v[keep_rows] for k, v in data.items()}
                size = len(keep_rows)
        metrics = ppo_update(
            data,
            size,
            lambda mb: self._evaluate(mb, sequence),
            self.optimizer,
            self.params,
            cfg,
            self.generator,
            self.updates + 1,
            take=take,
            clip_value=cfg.clip_value_loss,
            imitation_coef=0.0 if imitation is None else imitation[1],
            target_kl=cfg.target_kl,
        )
        metrics = {f"losses/{k}": v for k, v in metrics.items()}
        metrics["losses/explained_variance"] = explained
        return metrics

    def train_iteration(self) -> dict[str, float]:
        lr = self.apply_learning_rate()
        last_values = self._collect()
        metrics = self.update_from_rollout(last_values)
        self.updates += 1
        metrics["charts/learning_rate"] = lr
        return metrics

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "value_norm": self.value_norm.state_dict() if self.value_norm else None,
            "generator": self.generator.get_state(),
            "env": self.env,
            "obs": self._obs,
            "starts": self._starts,
            "agent_done": self._agent_done,
            "actor_h": self._actor_h.cpu(),
            "critic_h": self._critic_h.cpu(),
            "env_steps": self.env_steps,
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.value_norm is not None:
            self.value_norm.load_state_dict(state["value_norm"])
        self.generator.set_state(state["generator"])
        self.env = state["env"]
        self._obs = state["obs"]
        self._starts = state["starts"]
        self._agent_done = state["agent_done"]
        self._actor_h = state["actor_h"].to(self.device)
        self._critic_h = state["critic_h"].to(self.device)
        self.env_steps = int(state["env_steps"])
        self.updates = int(state["updates"])
