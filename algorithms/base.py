"""The interface every learner offers the trainer, and what all learners share.

The trainer (``train.py``) drives any learner through this small surface::

    learner = LearnerClass(cfg.algo, env, device, seed)   # env: a BatchedCore (envs.make_vec)
    learner.set_horizon(total_env_steps)       # for schedules that end with the run
    while learner.env_steps < total_env_steps:
        metrics = learner.train_iteration()    # collect from env and update; {name: float}
        episodes = learner.episodes.drain()    # finished episodes: {"return": [...], ...}
    actions, hidden = learner.act(obs, mask, state, hidden, greedy=True)   # evaluation
    learner.policy()                           # agents.policy.Policy to save, or None
    learner.acting_state() / learner.load_acting_state(snapshot)   # what act() plays (best kept)
    learner.state_dict() / learner.load_state_dict(state)   # everything for a bit-exact resume

``state_dict`` must hold everything the next ``train_iteration`` depends on: parameters,
optimiser, normalisers, random generators, and the env core itself (it is plain numpy and
pickles, RNGs included) with the current observations. Capability flags (class attributes,
BenchMARL style) let the trainer and tests refuse pairs that cannot work, with a message.

Metric names follow CleanRL: ``losses/...`` from the update, ``charts/...`` for progress.
"""

from __future__ import annotations

import abc
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

if TYPE_CHECKING:
    from agents.policy import Policy


@dataclass
class AlgoConfig:
    """Base of the learners' config dataclasses; ``name`` selects the learner in the registry."""

    name: str = ""
    """The registered algorithm name (``algo=mappo`` on the command line sets it)."""


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the trainer stops and keeps the last good checkpoint."""

    def __init__(self, loss: str, update: int, value: float):
        self.loss, self.update, self.value = loss, update, value
        super().__init__(
            f"loss '{loss}' is {value} at update {update}; stopping before applying it"
        )

    def __reduce__(self):  # picklable, so a worker process can send it back to a benchmark's pool
        return type(self), (self.loss, self.update, self.value)


def check_finite(losses: dict[str, torch.Tensor], update: int) -> None:
    """Raise :class:`NonFiniteLossError` naming the first non-finite loss (one host sync)."""
    values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
    if not bool(torch.isfinite(values).all()):
        for name, value in zip(losses, values.tolist()):
            if not np.isfinite(value):
                raise NonFiniteLossError(name, update, value)


def adam(params: list[torch.nn.Parameter], lr: float, **kwargs: Any) -> torch.optim.Adam:
    """Adam through torch's fused kernel: one call for every parameter, where torch's default on
    CPU loops over the tensors in Python, which costs more than the update itself for small nets."""
    return torch.optim.Adam(params, lr=lr, fused=True, **kwargs)


class EpisodeTracker:
    """Collects the statistics of episodes that finish while a learner collects data."""

    def __init__(self):
        self._values: dict[str, list[float]] = defaultdict(list)

    def add(self, info: dict) -> None:
        """Record the episodes that ended in this step (``info["episode"]`` of a batched core)."""
        episode = info.get("episode")
        if episode is None:
            return
        final = info["_final"]
        if torch.is_tensor(final):  # a torch core's: read on the host, at episode ends only
            final = final.cpu().numpy()
            episode = {k: v.cpu().numpy() if torch.is_tensor(v) else v for k, v in episode.items()}
        for key, values in episode.items():
            if np.ndim(values) == 1:
                self._values[key].extend(np.asarray(values)[final].tolist())

    def drain(self) -> dict[str, list[float]]:
        """The episodes recorded since the last drain (``{"return": [...], "length": [...], ...}``)."""
        values, self._values = dict(self._values), defaultdict(list)
        return values


class Learner(abc.ABC):
    """Base class of the learners (see the module docstring for the protocol)."""

    #: works with Discrete action spaces
    supports_discrete: ClassVar[bool] = True
    #: works with Box action spaces
    supports_continuous: ClassVar[bool] = False
    #: learns from fresh on-policy rollouts (False: replay)
    on_policy: ClassVar[bool] = False
    #: uses the env's global state (``state()``) while training
    needs_state: ClassVar[bool] = False
    #: uses the env's neighbourhood (``neighbour_mean``)
    needs_neighbours: ClassVar[bool] = False
    #: ``act`` needs the global state (centralised controllers); evaluation then passes it
    act_needs_state: ClassVar[bool] = False
    #: the most joint-action inputs (agents x action size) a critic on all actions takes; None: no limit
    max_joint_actions: ClassVar[int | None] = None
    #: trains on a torch core's tensors where they are (``env.device``), without numpy
    trains_on_device: ClassVar[bool] = False

    def __init__(
        self, cfg: AlgoConfig, env: Any, device: str | torch.device = "cpu", seed: int = 0
    ):
        check_compatible(type(self), env)
        self.cfg = cfg
        self.env = env
        self.device = torch.device(device)
        self.seed = int(seed)
        self.env_steps = 0
        self.updates = 0
        self.episodes = EpisodeTracker()
        self.horizon: int | None = None

    def set_horizon(self, total_env_steps: int | None) -> None:
        """The env steps the run will train for (None: unknown), for schedules that end with
        the run (e.g. PPO's ``anneal_lr``); learners without such a schedule ignore it."""
        self.horizon = None if total_env_steps is None else int(total_env_steps)

    @abc.abstractmethod
    def train_iteration(self) -> dict[str, float]:
        """Collect from ``self.env``, update, advance ``env_steps``/``updates``; return scalars."""

    @abc.abstractmethod
    def act(
        self,
        obs: np.ndarray,
        mask: np.ndarray | None = None,
        state: np.ndarray | None = None,
        hidden: Any = None,
        greedy: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """Joint actions for ``obs [B, N, ...]`` (no learning, no training randomness)."""

    @classmethod
    def unsupported_reason(cls, env: Any) -> str | None:
        """Why this learner cannot train on ``env`` beyond the flags above (None: it can).

        Learners that need more of an env than the flags say (e.g. agent states to embed)
        override this; :func:`check_compatible` raises with the reason.
        """
        return None

    def policy(self) -> Policy | None:
        """The decentralised policy as an :class:`agents.policy.Policy`, or None if there is none."""
        return None

    def acting_state(self) -> dict[str, torch.Tensor]:
        """Copies of the tensors :meth:`act` reads (weights, tables), so the trainer can keep the
        best policy seen and play it later, also for learners whose policy is no :class:`Policy`
        (a table, or MANSA's switcher on the global state). Default: the policy's state_dict."""
        policy = self.policy()
        if policy is None:
            raise NotImplementedError(f"{type(self).__name__} has no policy and no acting_state")
        return {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()}

    def load_acting_state(self, state: dict[str, torch.Tensor]) -> None:
        """Make :meth:`act` play ``state`` (from :meth:`acting_state`); loading the snapshot taken
        before restores the learner. Default: into the live module :meth:`policy` returns."""
        policy = self.policy()
        if policy is None:
            raise NotImplementedError(f"{type(self).__name__} has no policy and no acting_state")
        policy.load_state_dict(state)

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training bit for bit (see the module docstring)."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the env core included)."""


class AnnealedLearningRate:
    """A learner's linear learning-rate schedule: ``cfg.lr``, falling to 0 at the run's horizon
    if ``cfg.anneal_lr`` (constant without a horizon), applied to ``self.optimizer``. The caller
    picks the moment: PPO before a rollout, the value learners after collecting, before the
    updates the new steps pay for."""

    def learning_rate(self) -> float:
        """The rate by the env steps collected so far."""
        if not self.cfg.anneal_lr or self.horizon is None:
            return self.cfg.lr
        return self.cfg.lr * max(0.0, 1.0 - self.env_steps / self.horizon)

    def apply_learning_rate(self) -> float:
        """Set the optimiser to :meth:`learning_rate` and return it (a public hook: MANSA's
        sides collect and update for their learners)."""
        lr = self.learning_rate()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr


def check_compatible(learner_cls: type[Learner], env: Any) -> None:
    """Refuse an env the learner cannot handle, saying why."""
    name = learner_cls.__name__
    if env.is_discrete and not learner_cls.supports_discrete:
        raise ValueError(f"{name} does not support discrete actions ({env.action_space})")
    if not env.is_discrete and not learner_cls.supports_continuous:
        raise ValueError(
            f"{name} does not support continuous actions ({env.action_space}); "
            "use a learner with supports_continuous (e.g. ippo, mappo, mfac, maddpg)"
        )
    reason = learner_cls.unsupported_reason(env)
    if reason is not None:
        raise ValueError(f"{name} {reason}")
    limit = learner_cls.max_joint_actions
    if limit is not None:
        size = env.num_actions if env.is_discrete else int(np.prod(env.action_space.shape))
        if env.num_agents * size > limit:
            raise ValueError(
                f"{name}'s critics take the joint action of all {env.num_agents} agents "
                f"({env.num_agents} x {size} = {env.num_agents * size} inputs, more than its "
                f"max_joint_actions = {limit}); use a learner whose critic does not (e.g. ippo, mappo, mfac)"
            )
