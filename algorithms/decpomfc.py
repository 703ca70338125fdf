"""Dec-POMFC (Cui, Fabian, Koeppl et al., ICLR 2024): decentralised policies trained through
mean-field control, with a critic on a kernel mean embedding of the swarm's state distribution.

In the mean-field control view the swarm's state is the empirical distribution ``mu_t`` of
the agents' states, and the shared decentralised policy ``pi(u | y)`` on local observations
is the control. The critic estimates ``V(mu_t)``, one value for all agents (with the swarm's
shared reward, every agent's PPO policy gradient then uses the same advantage), while acting
stays decentralised: the exported policy sees one agent's observation, so it runs on any
number of agents. Where a histogram of ``mu``
would need a bin per cell of the state space, the critic sees the kernel mean embedding of
``mu`` (the paper's improvement over histograms):

    m_c(mu) = mean_i k(x_i, c),   c in a fixed grid of centres,

with ``x_i`` the agent's state as angles on a torus (position ``2 pi x / L``, ``2 pi y / L``
and the aligned angle: heading for Vicsek, phase for Kuramoto) and ``k`` a product of von
Mises (periodic RBF) kernels, each scaled so that its mean over a uniform angle is 1: a
uniformly spread swarm embeds to all ones. The bandwidth is given in units of the centre
spacing. The state for the critic is read from the env's agents (``positions``,
``aligned_angles``, ``box_size``): the swarming family; other envs are refused.

The loop is the PPO learner's (:mod:`algorithms.ppo`) with a centralised critic whose state
is this embedding (its ``build_critic_input`` and ``global_state`` hooks). The core resets a
finished copy before a learner could read its last configuration, so a truncated episode
bootstraps from the embedding of the step its last actions were chosen from (one step early).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.critic_inputs import CentralInput
from agents.networks import NetConfig
from algorithms.config import check_ranges
from algorithms.ppo import PPOLearner
from algorithms.ppo_config import PPOConfig
from algorithms.registry import register_algorithm

TWO_PI = 2.0 * math.pi
#: what the learner reads from an env's agents
AGENT_STATE_ATTRIBUTES = ("positions", "aligned_angles", "box_size")


def _no_agent_id() -> NetConfig:
    return NetConfig(agent_id=False)


@dataclass
class DecPOMFCConfig(PPOConfig):
    """Dec-POMFC: the PPO defaults with a critic on the kernel mean embedding of the swarm."""

    name: str = "decpomfc"
    position_centres: int = 3
    """Kernel centres per axis of the box (0: positions are not embedded)."""
    angle_centres: int = 8
    """Kernel centres on the aligned angle (heading for Vicsek, phase for Kuramoto)."""
    bandwidth: float = 1.0
    """Kernel width (the von Mises kernel's standard deviation) in units of the centre spacing."""
    net: NetConfig = field(default_factory=_no_agent_id)
    """Actor and critic architecture; no agent id by default: the agents are interchangeable and
    the policy must run on any number of them."""

    def __post_init__(self):
        super().__post_init__()
        check_ranges(
            self, positive=("angle_centres", "bandwidth"), non_negative=("position_centres",)
        )


class KernelEmbedding:
    """Kernel mean embedding ``[B, M]`` of the agents' states on a torus (see the module docstring).

    Args:
        centres: the number of centres on each coordinate (angles in radians); the embedding
            has one value per point of their product grid, ``M = prod(centres)``.
        bandwidth: kernel standard deviation in units of each coordinate's centre spacing.
    """

    def __init__(self, centres: tuple[int, ...], bandwidth: float):
        self.centres = [TWO_PI * np.arange(p) / p for p in centres]  # [P_k] per coordinate
        spacing = np.array([TWO_PI / p for p in centres])
        self.kappa = 1.0 / (bandwidth * spacing) ** 2  # von Mises concentration per coordinate
        # mean of exp(kappa (cos d - 1)) over a uniform d: I0(kappa) exp(-kappa)
        self.uniform_mean = np.i0(self.kappa) * np.exp(-self.kappa)
        self.dim = int(np.prod(centres))

    def __call__(self, coords: np.ndarray) -> np.ndarray:
        """The embedding of ``coords [B, N, K]`` (K angles per agent): ``[B, M]`` float32."""
        b, n, _ = coords.shape
        product = np.ones((b, n, 1))
        for k, centres in enumerate(self.centres):
            kernel = np.exp(self.kappa[k] * (np.cos(coords[..., k, None] - centres) - 1.0))
            kernel /= self.uniform_mean[k]  # [B, N, P_k]
            product = (product[..., :, None] * kernel[..., None, :]).reshape(b, n, -1)
        return product.mean(axis=1).astype(np.float32)


class MeanFieldEmbeddingInput(CentralInput):
    """Critic input ``V(m(mu))``: the swarm's kernel mean embedding, the same for every agent."""

    name = "mean_field_embedding"

    def __init__(self, env: Any, position_centres: int, angle_centres: int, bandwidth: float):
        super().__init__(env)
        self.embed_positions = position_centres > 0
        centres = (position_centres,) * 2 * self.embed_positions + (angle_centres,)
        self.embedding = KernelEmbedding(centres, bandwidth)
        self.uses_state = True
        self.dim = self.embedding.dim

    def coordinates(self, env: Any) -> np.ndarray:
        """The agents' states as angles ``[B, N, K]``: (x, y scaled to the torus,) aligned angle."""
        angles = np.asarray(env.aligned_angles, dtype=np.float64)[..., None]
        if not self.embed_positions:
            return angles
        positions = np.asarray(env.positions, dtype=np.float64) * (TWO_PI / env.box_size)
        return np.concatenate([positions, angles], axis=-1)

    def embed(self, env: Any) -> np.ndarray:
        """The embedding ``[B, M]`` of ``env``'s current swarm."""
        return self.embedding(self.coordinates(env))


class DecPOMFCLearner(PPOLearner):
    """PPO with decentralised actors and a critic ``V(m(mu_t))`` on the kernel mean embedding."""

    critic_input = "mean_field_embedding"
    needs_state = True

    @classmethod
    def unsupported_reason(cls, env: Any) -> str | None:
        missing = [a for a in AGENT_STATE_ATTRIBUTES if not hasattr(env, a)]
        if not missing:
            return None
        return (
            f"needs the agents' states to embed ({', '.join(AGENT_STATE_ATTRIBUTES)}), as the "
            f"swarming family has them (swarming-vicsek-v0, swarming-kuramoto-v0); "
            f"{type(env).__name__} lacks {', '.join(missing)}. Use ippo, mappo or mfac on this env"
        )

    def build_critic_input(self, env: Any) -> MeanFieldEmbeddingInput:
        cfg = self.cfg
        return MeanFieldEmbeddingInput(env, cfg.position_centres, cfg.angle_centres, cfg.bandwidth)

    def global_state(self, info: dict | None = None) -> np.ndarray | None:
        return self.critic_in.embed(self.env) if info is None else None

    @torch.no_grad()
    def critic_value(self, env: Any | None = None) -> np.ndarray:
        """The critic's (denormalised) value ``V(m(mu))`` ``[B]`` of ``env``'s swarm (default: the
        training env); a diagnostic for how the critic reads the mean field."""
        state = self.critic_in.embed(self.env if env is None else env)
        obs = torch.zeros(state.shape[0], self.env.num_agents, self.critic_in.obs_dim)
        value, _ = self._value(obs.to(self.device), self._tensor(state), None, None)
        return value[:, 0].cpu().numpy()


register_algorithm("decpomfc", DecPOMFCConfig, DecPOMFCLearner)
