"""Mixers: how value-decomposition learners turn the agents' Q-values into one team value.

| mixer | learner | team value ``Q_tot`` | needs |
|---|---|---|---|
| :class:`VDNMixer` | VDN (Sunehag et al. 2018) | ``sum_i Q_i`` | nothing |
| :class:`QMixer` | QMIX (Rashid et al. 2018) | a monotonic network of the ``Q_i``, weights from the state | the global state |

Both map agent values ``[..., N]`` (and states ``[..., S]``) to team values ``[...]``.
QMIX's mixing weights come from hypernetworks fed the global state and pass through an
absolute value, and its hidden activation (ELU) is increasing, so ``dQ_tot / dQ_i >= 0``:
the greedy joint action is the tuple of every agent's own greedy action (the IGM property
that lets the agents act decentrally). Layer sizes follow EPyMARL's defaults
(``mixing_embed_dim=32``, ``hypernet_embed=64``, two-layer hypernetworks). One addition:
an optional LayerNorm on the state before the hypernetworks (``state_norm``), because
states that mix coordinates, levels and padding on different scales (Level-Based Foraging's)
otherwise give mixing weights large enough to make the TD targets drift.
"""

from __future__ import annotations

import torch
from torch import nn


class VDNMixer(nn.Module):
    """The team value is the sum of the agents' values (VDN); it has no parameters."""

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """``agent_qs [..., N]`` -> ``Q_tot [...]``; ``state`` is ignored."""
        return agent_qs.sum(dim=-1)


def _hypernet(in_dim: int, out_dim: int, embed: int, layers: int) -> nn.Module:
    if layers == 1:
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, embed), nn.ReLU(), nn.Linear(embed, out_dim))


class QMixer(nn.Module):
    """QMIX's monotonic mixing network conditioned on the global state.

    Args:
        num_agents: N.
        state_dim: S, the size of the (flattened) global state.
        embed_dim: width of the mixing layer.
        hypernet_embed: hidden width of the two-layer hypernetworks.
        hypernet_layers: 1 (a linear map from the state) or 2 (with a ReLU hidden layer).
        state_norm: LayerNorm on the state before the hypernetworks.
    """

    def __init__(
        self,
        num_agents: int,
        state_dim: int,
        embed_dim: int = 32,
        hypernet_embed: int = 64,
        hypernet_layers: int = 2,
        state_norm: bool = True,
    ):
        super().__init__()
        if hypernet_layers not in (1, 2):
            raise ValueError(f"hypernet_layers must be 1 or 2, got {hypernet_layers}")
        for name, value in (
            ("num_agents", num_agents),
            ("state_dim", state_dim),
            ("embed_dim", embed_dim),
            ("hypernet_embed", hypernet_embed),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        self.num_agents, self.embed_dim = num_agents, embed_dim
        self.state_norm = nn.LayerNorm(state_dim) if state_norm else nn.Identity()
        self.hyper_w1 = _hypernet(
            state_dim, num_agents * embed_dim, hypernet_embed, hypernet_layers
        )
        self.hyper_b1 = nn.Linear(state_dim, embed_dim)
        self.hyper_w2 = _hypernet(state_dim, embed_dim, hypernet_embed, hypernet_layers)
        # the state-dependent bias of the output (V(s) in the paper)
        self.hyper_b2 = nn.Sequential(
            nn.Linear(state_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1)
        )

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """``agent_qs [..., N]`` and ``state [..., S]`` -> ``Q_tot [...]``, monotonic in every ``Q_i``."""
        batch = agent_qs.shape[:-1]
        qs = agent_qs.reshape(-1, 1, self.num_agents)
        s = self.state_norm(state.reshape(qs.shape[0], -1))
        w1 = self.hyper_w1(s).abs().view(-1, self.num_agents, self.embed_dim)
        b1 = self.hyper_b1(s).view(-1, 1, self.embed_dim)
        hidden = nn.functional.elu(torch.bmm(qs, w1) + b1)  # [M, 1, E]
        w2 = self.hyper_w2(s).abs().view(-1, self.embed_dim, 1)
        b2 = self.hyper_b2(s).view(-1, 1, 1)
        return (torch.bmm(hidden, w2) + b2).reshape(batch)
