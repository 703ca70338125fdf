"""The PPO family's config (IPPO, MAPPO, MF-AC and the learners built on their core): defaults
after Yu et al. 2022 (the MAPPO study), tuned on LBF; :mod:`algorithms.ppo` is the loop."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.networks import NetConfig
from algorithms.base import AlgoConfig
from algorithms.config import check_ranges


@dataclass
class PPOConfig(AlgoConfig):
    """Hyperparameters shared by the PPO family (defaults after Yu et al. 2022, tuned on LBF)."""

    name: str = "ippo"
    lr: float = 3e-3
    """Adam learning rate (actor and critic); the starting rate when ``anneal_lr``."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly from ``lr`` to 0 over the run's ``total_env_steps`` (as
    CleanRL's ``anneal_lr`` and the MAPPO code's ``use_linear_lr_decay``); the trainer passes the
    horizon through :meth:`~algorithms.base.Learner.set_horizon` (no horizon: constant ``lr``)."""
    target_kl: float | None = None
    """Stop an update's epochs early, before the minibatch step that would be taken with the
    approximate KL to the behaviour policy above this (CleanRL's and SB3's ``target_kl``); None: never."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    rollout_length: int = 32
    """Steps collected from every env copy per iteration (T); a batch is T x num_envs x N samples."""
    epochs: int = 4
    """Passes over each batch."""
    minibatches: int = 4
    """Minibatches per pass (split over steps, or over env copies for recurrent policies)."""
    clip_coef: float = 0.2
    """PPO ratio clip (also the value clip when clip_value_loss)."""
    clip_value_loss: bool = False
    """Clip the value loss around the old value predictions."""
    ent_coef: float = 0.003
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip."""
    norm_advantages: bool = True
    """Standardise advantages over each batch."""
    value_norm: bool = True
    """Normalise value targets with running statistics (MAPPO's ValueNorm)."""
    team_reward: bool = False
    """Train every agent on the team reward (sum or mean of the agents' rewards, as the env says)."""
    net: NetConfig = field(default_factory=NetConfig)
    """Actor and critic architecture (``algo.net.hidden_size`` ...; no input LayerNorm by default:
    MAPPO's feature normalisation hurts low-dimensional observations)."""
    init_log_std: float = -0.5
    """Initial log standard deviation of the Gaussian policy (continuous actions)."""

    def __post_init__(self):
        check_ranges(
            self,
            positive=(
                "lr",
                "rollout_length",
                "epochs",
                "minibatches",
                "clip_coef",
                "max_grad_norm",
            ),
            unit=("gamma", "gae_lambda"),
            non_negative=("ent_coef", "vf_coef"),
        )
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"algo.target_kl must be > 0 or null, got {self.target_kl}")
        self.net.check("algo.net")
