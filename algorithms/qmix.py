"""QMIX (Rashid et al. 2018): the team Q is a monotonic mixture of the agents' Qs, conditioned on the state.

The mixer (:class:`agents.mixers.QMixer`) takes the agents' chosen-action values and the
global state ``env.state()``; hypernetworks of the state produce its weights, kept
non-negative, so ``Q_tot`` never decreases when one agent's Q increases and every agent's
greedy action is the greedy joint action: execution stays decentralised. Training is VDN's
(:mod:`algorithms.vdn`) with the sum replaced by the mixer; the target mixer sees the next
state (a truncated episode's final state). Sizes follow EPyMARL (mixing width 32,
two-layer hypernetworks of width 64); the state passes a LayerNorm first (``state_norm``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agents.mixers import QMixer
from algorithms.registry import register_algorithm
from algorithms.value_config import EpsilonGreedyConfig
from algorithms.vdn import VDNLearner


@dataclass
class QMIXConfig(EpsilonGreedyConfig):
    """QMIX: EPyMARL's value-based defaults with a state-conditioned monotonic mixer."""

    name: str = "qmix"
    mixing_embed_dim: int = 32
    """Width of the mixing layer."""
    hypernet_embed: int = 64
    """Hidden width of the hypernetworks."""
    hypernet_layers: int = 2
    """Layers of the weight hypernetworks: 1 (linear in the state) or 2."""
    state_norm: bool = True
    """LayerNorm on the state before the hypernetworks (not in EPyMARL; on LBF it turns seeds that
    learn nothing in 30k steps into seeds that solve 5x5-2p-1f-coop)."""

    def __post_init__(self):
        super().__post_init__()
        for key in ("mixing_embed_dim", "hypernet_embed"):
            if getattr(self, key) < 1:
                raise ValueError(f"algo.{key} must be at least 1, got {getattr(self, key)}")
        if self.hypernet_layers not in (1, 2):
            raise ValueError(f"algo.hypernet_layers must be 1 or 2, got {self.hypernet_layers}")


class QMIXLearner(VDNLearner):
    """VDN's loop with :class:`~agents.mixers.QMixer` as the mixer."""

    needs_state = True

    def _make_mixer(self) -> torch.nn.Module:
        cfg = self.cfg
        return QMixer(
            self.env.num_agents,
            int(np.prod(self.env.state_space.shape)),
            cfg.mixing_embed_dim,
            cfg.hypernet_embed,
            cfg.hypernet_layers,
            cfg.state_norm,
        )


register_algorithm("qmix", QMIXConfig, QMIXLearner)
