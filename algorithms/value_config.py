"""The value learners' config (defaults after EPyMARL; the departures are explained in
:mod:`algorithms.value_based`): replay, targets, target network, reward scaling, the agent
network, and epsilon-greedy exploration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.networks import NetConfig
from algorithms.base import AlgoConfig
from algorithms.config import check_ranges

#: what a TD target bootstraps from: the best next action, or the one taken next
BOOTSTRAPS = ("greedy", "taken")


@dataclass
class ValueConfig(AlgoConfig):
    """Hyperparameters shared by the value-based learners (defaults after EPyMARL)."""

    lr: float = 5e-4
    """Adam learning rate; the starting rate when ``anneal_lr``."""
    anneal_lr: bool = False
    """Anneal the learning rate linearly from ``lr`` to 0 over the run's ``total_env_steps``, as
    PPO's ``anneal_lr`` (EPyMARL keeps it constant)."""
    gamma: float = 0.99
    """Discount factor."""
    buffer_size: int = 5000
    """Episodes kept in the replay buffer."""
    batch_size: int = 32
    """Episodes per update; updates start once the buffer holds this many."""
    rollout_length: int = 10
    """Steps collected from every env copy per iteration (an iteration is rollout_length x num_envs env steps)."""
    env_steps_per_update: float = 50.0
    """Env steps collected per gradient update (fractions carry over between iterations)."""
    double_q: bool = True
    """Double Q-learning: the online network picks the next action, the target network values it."""
    bootstrap: str = "greedy"
    """The next step's value in the TD target: "greedy" (Q-learning: the best next action) or
    "taken" (in-sample: the action taken next, as SARSA; an episode's last stored step falls back
    to greedy). "taken" keeps a learner fed mostly by another's actions from diverging (MANSA's CL)."""
    target_update: str = "hard"
    """How the target network follows: "hard" (copy every target_update_interval updates) or "soft" (Polyak, tau)."""
    target_update_interval: int = 200
    """Gradient updates between hard target copies."""
    tau: float = 0.005
    """Polyak rate of soft target updates."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip."""
    scale_rewards: bool = True
    """Divide rewards by their running standard deviation (EPyMARL's standardise_rewards, without its
    mean shift, which would reward ending episodes early); sparse LBF rewards need it, QMIX most."""
    net: NetConfig = field(default_factory=lambda: NetConfig(feature_norm=True))
    """The agent network (LayerNorm on its inputs by default)."""
    max_episode_length: int = 0
    """Longest stored episode (0: the env's max_episode_steps, else 100); longer episodes are stored in chunks."""

    def __post_init__(self):
        positive = ("lr", "buffer_size", "batch_size", "rollout_length", "env_steps_per_update")
        check_ranges(self, positive=(*positive, "target_update_interval", "max_grad_norm"))
        if self.batch_size > self.buffer_size:
            raise ValueError(
                f"algo.batch_size ({self.batch_size}) must not exceed algo.buffer_size ({self.buffer_size})"
            )
        check_ranges(self, unit=("gamma",))
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"algo.tau must lie in (0, 1], got {self.tau}")
        if self.bootstrap not in BOOTSTRAPS:
            raise ValueError(
                f"algo.bootstrap must be one of {list(BOOTSTRAPS)}, got {self.bootstrap!r}"
            )
        if self.target_update not in ("hard", "soft"):
            raise ValueError(
                f"algo.target_update must be 'hard' or 'soft', got {self.target_update!r}"
            )
        self.net.check("algo.net")
        if self.max_episode_length < 0:
            raise ValueError(
                f"algo.max_episode_length must be >= 0 (0: the env's), got {self.max_episode_length}"
            )


@dataclass
class EpsilonGreedyConfig(ValueConfig):
    """Value-based hyperparameters plus EPyMARL's epsilon-greedy exploration."""

    epsilon_start: float = 1.0
    """Exploration rate at the start."""
    epsilon_finish: float = 0.05
    """Exploration rate after the anneal (also used by act(greedy=False))."""
    epsilon_anneal_steps: int = 50_000
    """Env steps over which epsilon falls linearly."""

    def __post_init__(self):
        super().__post_init__()
        for key in ("epsilon_start", "epsilon_finish"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"algo.{key} must lie in [0, 1], got {getattr(self, key)}")
        if self.epsilon_anneal_steps < 0:
            raise ValueError(
                f"algo.epsilon_anneal_steps must be >= 0, got {self.epsilon_anneal_steps}"
            )
