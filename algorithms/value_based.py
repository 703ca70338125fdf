"""What the value-based learners (IQL, VDN, QMIX, MF-Q) share: the config and the loop.

Defaults follow EPyMARL (Papoudakis et al. 2021): episode replay of 5000 episodes, batches of
32 episodes, double Q-learning, a target network copied every 200 gradient updates (or
Polyak-averaged), epsilon-greedy from 1.0 to 0.05, Adam at 5e-4, gradient norm clipped at 10,
gamma 0.99, one update per 50 env steps. Two departures: rewards are divided by their running
standard deviation (``scale_rewards``, EPyMARL's ``standardise_rewards`` without the mean shift,
which would change what is optimal where episodes can end early; QMIX learns nothing on LBF
without it), and the agent network is feed-forward by default (``net.recurrent=true`` gives
EPyMARL's GRU, about 4x slower here). docs/experiments/value_targets.md has the measurements.

:class:`ValueLearner` collects from B env copies in lock step (one Q-network call per step for
the whole ``[B, N]`` batch), writes finished episodes to an :class:`~algorithms.replay.EpisodeReplay`,
and does the gradient updates; a subclass gives the loss (``_loss``) and may change what the
Q-network sees (``uses_mean_action``), how it explores (``_explore``) and the mixer
(``_make_mixer``). Action masks enter twice: exploration and the greedy action never pick a
masked action, and the max (or Boltzmann mean) of the TD target ranges over the next step's
valid actions only (:mod:`algorithms.value_targets`). ``updates`` counts iterations
(``train_iteration`` calls), as the trainer does; ``gradient_updates`` counts optimiser steps.

On a torch core (``env.device``) the same loop runs on the core's tensors: epsilon-greedy draws
from a ``torch.Generator``, and the episodes in progress and the replay are tensors on the
device (``on_device``); nothing crosses to numpy per step.

Bootstrapping: an agent's target is ``r + gamma * V(next)`` while it is alive after the step,
``r`` once it terminated; a truncated episode (time limit) bootstraps from its final
observation (``info["final_obs"]``, ``final_state``, ``final_action_mask``).

Public hooks for a controller that picks the actions itself (MANSA): :meth:`~ValueLearner.behaviour_actions`
(exploration actions for chosen copies), :meth:`~ValueLearner.record_step` (store a step someone
else chose), :meth:`~ValueLearner.update_from_replay` (the updates those steps pay for) and
:meth:`~ValueLearner.exploration_metrics`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from typing import Any, ClassVar

import numpy as np
import torch

from agents.networks import AgentNet
from algorithms.base import AnnealedLearningRate, Learner, adam, check_finite
from algorithms.on_policy import ValueNorm
from algorithms.replay import (
    EpisodeReplay,
    EpisodeWriter,
    Field,
    ReplayCollector,
    check_replay_size,
    flatnonzero,
    next_obs_items,
)
from algorithms.value_config import ValueConfig
from algorithms.value_targets import (
    epsilon_greedy,
    epsilon_greedy_torch,
    greedy_values,
    linear_schedule,
    td_targets,
)
from envs.torch_core import TorchBatchedCore

# --------------------------------------------------------------------------- learner


class ValueLearner(AnnealedLearningRate, ReplayCollector, Learner):
    """Episode-replay Q-learning over a batched core.

    The behaviour policy is epsilon-greedy (``cfg`` an :class:`EpsilonGreedyConfig`); MF-Q
    overrides :meth:`_explore` and :meth:`act`. Subclasses give the loss (``_loss``) and, for
    team learners, the mixer (``_make_mixer``).
    """

    #: the Q-network also sees the neighbours' mean action (MF-Q)
    uses_mean_action: ClassVar[bool] = False
    trains_on_device = True

    def __init__(
        self, cfg: ValueConfig, env: Any, device: str | torch.device = "cpu", seed: int = 0
    ):
        super().__init__(cfg, env, device, seed)
        b, n = env.num_envs, env.num_agents
        self.num_actions = env.num_actions
        self.obs_dim = int(np.prod(env.observation_space.shape))
        self.max_length = cfg.max_episode_length or int(getattr(env, "max_episode_steps", 0) or 100)
        fields = {
            "obs": Field((n, self.obs_dim), np.float32, obs=True),
            "mask": Field((n, self.num_actions), np.bool_, obs=True),
            "actions": Field((n,), np.int64),
            "rewards": Field((n,), np.float32),
            "terminated": Field((n,), np.bool_),
            "active": Field((n,), np.bool_),
        }
        if self.needs_state:
            fields["state"] = Field((int(np.prod(env.state_space.shape)),), np.float32, obs=True)
        fields.update(self._step_fields(n))
        check_replay_size(cfg.buffer_size, self.max_length, fields, n)
        in_dim = self.obs_dim + (self.num_actions if self.uses_mean_action else 0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.q_net = AgentNet(
                in_dim, self.num_actions, n, out_gain=0.1, **cfg.net.agent_net_kwargs()
            )
            self.mixer = self._make_mixer()
        self.q_net.to(self.device)
        self.target_q_net = copy.deepcopy(self.q_net).requires_grad_(False)
        self.params = list(self.q_net.parameters())
        self.target_mixer = None
        if self.mixer is not None:
            self.mixer.to(self.device)
            self.target_mixer = copy.deepcopy(self.mixer).requires_grad_(False)
            self.params += list(self.mixer.parameters())
        self.optimizer = adam(self.params, cfg.lr)
        self.reward_norm = ValueNorm(device=self.device) if cfg.scale_rewards else None
        # a torch core's steps, the replay and its sampling stay on the core's device
        self.on_device = isinstance(env, TorchBatchedCore)
        on = self.device if self.on_device else None
        if self.on_device:  # exploration and replay sampling
            self.rng = torch.Generator(device=self.device)
            self.rng.manual_seed(self.seed)
        else:
            self.rng = np.random.default_rng(self.seed)
        self._act_rng = np.random.default_rng(
            self.seed + 1
        )  # act(greedy=False) only: not training randomness
        self.replay = EpisodeReplay(cfg.buffer_size, self.max_length, fields, on)
        self.writer = EpisodeWriter(b, self.max_length, fields, on)

        obs, _ = env.reset(seed=self.seed)
        self._obs = obs
        self._agent_done = np.zeros((b, n), dtype=bool)
        if self.on_device:
            self._agent_done = torch.as_tensor(self._agent_done, device=self.device)
        self._hidden = self.q_net.initial_hidden(b, device=self.device)
        self._update_credit = 0.0
        #: gradient steps taken (``updates`` counts iterations, as the trainer does)
        self.gradient_updates = 0

    # ------------------------------------------------------------------ hooks
    def _make_mixer(self) -> torch.nn.Module | None:
        """The mixing network of a team learner (VDN, QMIX), or None."""
        return None

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The TD loss of a sampled batch, and detached scalars to log."""
        raise NotImplementedError

    def _explore(self, q: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Behaviour actions ``[B, N]`` from online Q-values ``[B, N, A]``: epsilon-greedy."""
        if self.on_device:
            return epsilon_greedy_torch(q, mask, self.epsilon, self.rng)
        return epsilon_greedy(q, mask, self.epsilon, self.rng)

    def exploration_metrics(self) -> dict[str, float]:
        """``charts/*`` scalars of the exploration schedule now (a public hook: MANSA logs them)."""
        return {"charts/epsilon": self.epsilon}

    def _mean_action_input(self) -> np.ndarray | None:
        """MF-Q: the mean action the Q-network is given while acting now, ``[B, N, A]``."""
        return None

    def _step_fields(self, n: int) -> dict[str, Field]:
        """Extra replay fields per step, filled by :meth:`_after_actions` (MF-Q: mean actions)."""
        return {}

    def _after_actions(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """Extra step fields recorded with the actions (MF-Q: the neighbours' mean action)."""
        return {}

    def _episodes_ended(self, ended: np.ndarray) -> None:
        """Reset the per-copy acting state of copies whose episode just ended (``ended [B]``)."""

    @property
    def epsilon(self) -> float:
        """The current exploration rate (linear in env steps)."""
        cfg = self.cfg
        return linear_schedule(
            cfg.epsilon_start, cfg.epsilon_finish, cfg.epsilon_anneal_steps, self.env_steps
        )

    # ------------------------------------------------------------------ networks
    def _tensor(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        if torch.is_tensor(x):
            return x.to(self.device, torch.float32)
        return torch.as_tensor(np.asarray(x, dtype=np.float32)).to(self.device)

    def q_sequence(
        self, net: AgentNet, inputs: torch.Tensor, steps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Q-values ``[E, L, N, A]`` of episode batches ``inputs [E, L, N, D]`` (a GRU from a zero state).

        A feed-forward net runs on the steps where ``steps [E, L]`` is True only and leaves zeros
        elsewhere: a batch is padded to its longest episode, and on LBF most of it can be padding."""
        if steps is None or net.recurrent:
            return net.forward_episodes(inputs)
        packed = net(inputs[steps])[0]
        out = packed.new_zeros(*steps.shape, *packed.shape[1:])
        out[steps] = packed
        return out

    @staticmethod
    def stored_steps(batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """``[E, L+1]`` True on the obs entries an episode holds (its steps and the observation after
        the last), from the batch's ``lengths``; None for a batch without them."""
        lengths = batch.get("lengths")
        if lengths is None:
            return None
        entries = torch.arange(batch["obs"].shape[1], device=lengths.device)
        return entries[None, :] <= lengths[:, None]

    def online_q(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The online net's Q-values ``[E, L+1, N, A]`` over a replay batch (with gradients)."""
        return self.q_sequence(self.q_net, batch["obs"], self.stored_steps(batch))

    def agent_values(
        self, batch: dict[str, torch.Tensor], q: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Q_i(o_t, a_t) [E, L, N], V_i(o_{t+1}) [E, L, N])``: the taken actions' values (with
        gradients) and the next steps' target values (greedy, double Q as configured, or the action
        taken next with ``bootstrap="taken"``). ``q``: :meth:`online_q` of the batch, if the caller
        has it already (a loss with further terms on the same forward pass)."""
        steps = self.stored_steps(batch)
        q = self.online_q(batch) if q is None else q  # [E, L+1, N, A]
        taken = q[:, :-1].gather(-1, batch["actions"].unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():
            q_target = self.q_sequence(self.target_q_net, batch["obs"], steps)[:, 1:]
            q_select = q[:, 1:].detach() if self.cfg.double_q else q_target
            next_values = greedy_values(q_select, q_target, batch["mask"][:, 1:])
            if self.cfg.bootstrap == "taken":  # Q(o_{t+1}, a_{t+1}) where step t+1 was played
                next_taken = (
                    q_target[:, :-1].gather(-1, batch["actions"][:, 1:].unsqueeze(-1)).squeeze(-1)
                )
                # played: not padding, not a truncated episode's final observation
                played = batch["active"][:, 1:]
                next_values = torch.cat(
                    [torch.where(played, next_taken, next_values[:, :-1]), next_values[:, -1:]],
                    dim=1,
                )
        return taken, next_values

    def team_rewards(self, rewards: torch.Tensor) -> torch.Tensor:
        """The team reward ``[..., N] -> [...]``, summed or averaged as the env says."""
        return rewards.sum(dim=-1) if self.env.team_reward == "sum" else rewards.mean(dim=-1)

    def scaled_rewards(
        self, rewards: torch.Tensor, weights: torch.Tensor | None, norm: ValueNorm | None = None
    ) -> torch.Tensor:
        """With ``scale_rewards``: fold the rewards where ``weights`` is True (none if None) into the
        running statistics ``norm`` (the learner's own if None) and return the rewards divided by
        the running standard deviation."""
        norm = norm or self.reward_norm
        if norm is None:
            return rewards
        if weights is not None:
            norm.update(rewards[weights.bool()])
        return (rewards / norm.std).to(rewards.dtype)

    def independent_targets(
        self,
        batch: dict[str, torch.Tensor],
        next_values: torch.Tensor,
        steps: torch.Tensor,
        norm: ValueNorm | None = None,
        team_reward: bool = False,
        fold: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """IQL's per-agent TD targets ``[E, L, N]`` and their loss weights (the live agents of the
        steps where ``steps [E, L]`` is True), on each agent's own reward (or the team's).

        A public hook: IQL's loss, and MANSA's ``switch=learn`` on the steps it learns
        independently (with its own reward statistics ``norm``; ``fold=False`` leaves them as
        they are, for a signal that is not an update)."""
        rewards = batch["rewards"]
        if team_reward:
            rewards = self.team_rewards(rewards).unsqueeze(-1).expand_as(rewards)
        active = batch["active"]
        alive_next = active & ~batch["terminated"]
        weights = steps.unsqueeze(-1) & active
        scaled = self.scaled_rewards(rewards, weights if fold else None, norm)
        return td_targets(scaled, next_values, alive_next, self.cfg.gamma), weights

    def mixer_targets(
        self,
        taken: torch.Tensor,
        next_values: torch.Tensor,
        batch: dict[str, torch.Tensor],
        state: torch.Tensor | None,
        next_state: torch.Tensor | None,
        fold: torch.Tensor | None,
        norm: ValueNorm | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Q_tot [...], team TD targets [...])`` of the mixer over the agents' values ``[..., N]``
        (``taken`` with gradients), for any leading shape: the steps of ``batch`` (its ``active``,
        ``terminated`` and ``rewards``, indexed alike) in states ``state`` and ``next_state``.
        Team rewards where ``fold`` is True enter the reward statistics ``norm`` (the learner's own
        if None; ``fold`` None: none enter).

        A public hook: VDN's and QMIX's loss, and MANSA's ``switch=learn`` on the called steps
        only (so the mixer's cost scales with the calls)."""
        active = batch["active"]
        alive_next = active & ~batch["terminated"]
        zero = torch.zeros((), dtype=taken.dtype, device=taken.device)
        q_tot = self.mixer(torch.where(active, taken, zero), state)
        with torch.no_grad():
            next_tot = self.target_mixer(torch.where(alive_next, next_values, zero), next_state)
        rewards = self.scaled_rewards(self.team_rewards(batch["rewards"]), fold, norm)
        return q_tot, td_targets(rewards, next_tot, alive_next.any(dim=-1), self.cfg.gamma)

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def _online_q(self, obs: np.ndarray, mean_action: np.ndarray | None, hidden: Any):
        x = self._tensor(obs.reshape(*obs.shape[:2], -1))
        if mean_action is not None:
            x = torch.cat([x, self._tensor(mean_action)], dim=-1)
        q, hidden = self.q_net(x, hidden)
        return (q if torch.is_tensor(obs) else q.cpu().numpy()), hidden

    @torch.no_grad()
    def act(self, obs, mask=None, state=None, hidden=None, greedy=True):
        """Greedy (or epsilon-greedy at ``epsilon_finish``) joint actions under the action mask."""
        if self.q_net.recurrent and hidden is None:
            hidden = self.q_net.initial_hidden(obs.shape[0], device=self.device)
        q, hidden = self._online_q(obs, None, hidden)
        return epsilon_greedy(
            q, mask, 0.0 if greedy else self.cfg.epsilon_finish, self._act_rng
        ), hidden

    def policy(self):
        """The agent Q-network as a standalone :class:`~agents.policy.Policy` (greedy = masked argmax)."""
        from agents.policy import Policy, PolicySpec

        spec = PolicySpec.for_env(self.env, **asdict(self.cfg.net))
        policy = Policy(spec).to(self.device)
        policy.net.load_state_dict(self.q_net.state_dict())
        return policy

    def load_acting_state(self, state):
        """The agent Q-network's weights from a :meth:`policy` state_dict (``net.`` prefixed)."""
        self.q_net.load_state_dict({k.removeprefix("net."): v for k, v in state.items()})

    # ------------------------------------------------------------------ collection
    def _next_obs_fields(
        self, idx: np.ndarray, ended: np.ndarray, next_obs: np.ndarray, info: dict
    ) -> dict[str, np.ndarray]:
        """Obs fields after the last step of rows ``idx`` (see :func:`~algorithms.replay.next_obs_items`)."""
        return next_obs_items(self.env, idx, ended, next_obs, info, state=self.needs_state)

    @torch.no_grad()
    def _collect(self) -> None:
        env, b = self.env, self.env.num_envs
        for _ in range(self.cfg.rollout_length):
            obs = self._obs.reshape(b, env.num_agents, -1)
            mask = env.action_mask()
            state = env.state().reshape(b, -1) if self.needs_state else None
            q, self._hidden = self._online_q(obs, self._mean_action_input(), self._hidden)
            actions = self._explore(q, mask)
            extra = self._after_actions(actions)

            next_obs, rewards, terminated, truncated, info = env.step(actions)
            self.record_step(
                obs, mask, state, actions, next_obs, rewards, terminated, truncated, info, **extra
            )
            self._obs = next_obs
            self.episodes.add(info)

    @torch.no_grad()
    def behaviour_actions(
        self, obs: np.ndarray, mask: np.ndarray | None, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Exploration actions for a controller that decides per copy which learner acts (MANSA,
        :mod:`algorithms.mansa`): ``obs [B, N, ...]`` and ``mask`` of the learner's B env copies,
        actions ``[K, N]`` for the copies ``rows`` (all if None).

        A feed-forward net looks at the rows only. A GRU keeps one state per copy (reset where
        :meth:`record_step` ends an episode) and advances it on every copy's observation, whoever
        acts there, as in :meth:`_collect`. Not with mean-action input (it needs the own actions).
        """
        if self.uses_mean_action:
            raise ValueError(
                f"{type(self).__name__}.behaviour_actions needs a Q-network without mean-action input"
            )
        if self.q_net.recurrent:  # every copy's GRU advances
            q, self._hidden = self._online_q(obs, None, self._hidden)
            q = q if rows is None else q[rows]
        else:
            q, _ = self._online_q(obs if rows is None else obs[rows], None, None)
        return self._explore(q, mask if rows is None else mask[rows])

    def record_step(
        self,
        obs: np.ndarray,
        mask: np.ndarray,
        state: np.ndarray | None,
        actions: np.ndarray,
        next_obs: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        info: dict,
        **extra: np.ndarray,
    ) -> None:
        """Store one step of all B copies in the episode replay and advance ``env_steps``.

        ``obs [B, N, D]``, ``mask`` and ``state [B, S]`` (None unless ``needs_state``) are what the
        actions were chosen from; the rest is what ``env.step(actions)`` returned. :meth:`_collect`
        calls it; so does a controller that chooses the actions itself (MANSA).
        """
        b = len(actions)
        items = {"obs": obs.reshape(b, self.env.num_agents, -1), "mask": mask}
        if self.needs_state:
            items["state"] = state.reshape(b, -1)
        self.writer.write_obs(**items)
        self.writer.write_step(
            actions=actions,
            rewards=rewards,
            terminated=terminated,
            active=~self._agent_done,
            **extra,
        )
        self._agent_done |= terminated | truncated
        self.env_steps += b
        ended = info.get("_final")
        if ended is None:
            ended = self._agent_done.new_zeros(b) if self.on_device else np.zeros(b, dtype=bool)
        flush = ended | self.writer.full()
        if flush.any():
            idx = flatnonzero(flush)
            episodes, lengths = self.writer.finish(
                idx, **self._next_obs_fields(idx, ended, next_obs, info)
            )
            self.replay.add(episodes, lengths)
        if ended.any():
            self._agent_done[ended] = False
            if self.q_net.recurrent:
                self._hidden[torch.as_tensor(ended, device=self.device)] = 0.0
            self._episodes_ended(ended)

    # ------------------------------------------------------------------ update
    def _update(self) -> dict[str, torch.Tensor]:
        sample = self.replay.sample(self.cfg.batch_size, self.rng)
        batch = {k: torch.as_tensor(v).to(self.device) for k, v in sample.items()}
        loss, logs = self._loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.max_grad_norm)
        check_finite({"td_loss": loss, "grad_norm": grad_norm}, self.updates + 1)
        self.optimizer.step()
        self.gradient_updates += 1
        self._update_targets()
        return {"td_loss": loss.detach(), "grad_norm": grad_norm.detach(), **logs}

    @torch.no_grad()
    def _update_targets(self) -> None:
        pairs = [(self.q_net, self.target_q_net)]
        if self.mixer is not None:
            pairs.append((self.mixer, self.target_mixer))
        if self.cfg.target_update == "hard":
            if self.gradient_updates % self.cfg.target_update_interval == 0:
                for online, target in pairs:
                    target.load_state_dict(online.state_dict())
            return
        for online, target in pairs:
            for p, tp in zip(online.parameters(), target.parameters()):
                tp.lerp_(p, self.cfg.tau)

    def train_iteration(self) -> dict[str, float]:
        cfg = self.cfg
        self._collect()
        lr = self.apply_learning_rate()  # by the env steps collected, this iteration's included
        metrics = self.update_from_replay(cfg.rollout_length * self.env.num_envs)
        self.updates += 1
        metrics.update(self.exploration_metrics())
        metrics["charts/learning_rate"] = lr
        metrics["charts/buffer_episodes"] = float(len(self.replay))
        metrics["charts/gradient_updates"] = float(self.gradient_updates)
        return metrics

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "q_net": self.q_net.state_dict(),
            "target_q_net": self.target_q_net.state_dict(),
            "mixer": self.mixer.state_dict() if self.mixer is not None else None,
            "target_mixer": self.target_mixer.state_dict()
            if self.target_mixer is not None
            else None,
            "optimizer": self.optimizer.state_dict(),
        } | self.collector_state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q_net.load_state_dict(state["q_net"])
        self.target_q_net.load_state_dict(state["target_q_net"])
        if self.mixer is not None:
            self.mixer.load_state_dict(state["mixer"])
            self.target_mixer.load_state_dict(state["target_mixer"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.load_collector_state(state)
