"""Per-agent networks over ``[..., N, D]`` inputs: shared parameters or one set per agent.

Every network here maps agent-major inputs ``[..., N, in]`` to ``[..., N, out]``. With
parameter sharing (the default, DESIGN 3) all agents use one weight matrix and an agent-id
one-hot is appended to the input so they can still specialise; without it each agent has its
own weights, applied to all agents at once by a batched matrix product (no Python loop over
agents). The optional GRU is written on the same per-agent linear layer, so recurrent
policies work in both modes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


@dataclass
class NetConfig:
    """The architecture of a learner's networks (a config's ``net`` field: ``algo.net.hidden_size``)."""

    hidden_size: int = 64
    """Width of the hidden layers (and of the GRU state)."""
    layers: int = 2
    """Hidden layers of the MLP."""
    activation: str = "relu"
    """Hidden activation: relu or tanh."""
    feature_norm: bool = False
    """LayerNorm on the network inputs (MAPPO's feature normalisation)."""
    recurrent: bool = False
    """A GRU between the MLP and the output layer."""
    share_parameters: bool = True
    """One network for all agents (with an agent-id one-hot); False gives every agent its own."""
    agent_id: bool = True
    """Append the agent-id one-hot to network inputs when parameters are shared."""

    def check(self, prefix: str) -> None:
        """Refuse out-of-range values, naming the key as ``<prefix>.<field>``."""
        for key in ("hidden_size", "layers"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{prefix}.{key} must be > 0, got {getattr(self, key)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"{prefix}.activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )

    def agent_net_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :class:`AgentNet` this config sets."""
        return {
            "hidden_size": self.hidden_size,
            "layers": self.layers,
            "shared": self.share_parameters,
            "agent_id": self.agent_id,
            "feature_norm": self.feature_norm,
            "activation": self.activation,
            "recurrent": self.recurrent,
        }


class AgentLinear(nn.Module):
    """``y = x W + b`` on ``[..., N, in]``, with one ``W`` for all agents or one per agent.

    Args:
        in_features, out_features: sizes of one agent's input and output.
        num_agents: N (used only when ``shared`` is False).
        shared: one weight matrix for every agent.
        gain: gain of the orthogonal initialisation.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_agents: int,
        shared: bool = True,
        gain: float = math.sqrt(2),
    ):
        super().__init__()
        self.shared = shared
        copies = 1 if shared else num_agents
        weight = torch.empty(copies, out_features, in_features)
        for w in weight:
            nn.init.orthogonal_(w, gain=gain)
        self.weight = nn.Parameter(weight[0] if shared else weight)
        self.bias = nn.Parameter(
            torch.zeros(out_features) if shared else torch.zeros(num_agents, out_features)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shared:
            return nn.functional.linear(x, self.weight, self.bias)
        return torch.einsum("...ni,noi->...no", x, self.weight) + self.bias


class AgentGRUCell(nn.Module):
    """A GRU cell (same equations as ``torch.nn.GRUCell``) built on :class:`AgentLinear`."""

    def __init__(self, input_size: int, hidden_size: int, num_agents: int, shared: bool = True):
        super().__init__()
        self.hidden_size = hidden_size
        self.input_gates = AgentLinear(input_size, 3 * hidden_size, num_agents, shared, gain=1.0)
        self.hidden_gates = AgentLinear(hidden_size, 3 * hidden_size, num_agents, shared, gain=1.0)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.step(self.input_gates(x), h)

    def step(self, input_gates: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One update from precomputed ``input_gates(x)`` (a sequence computes them all at once)."""
        xr, xz, xn = input_gates.chunk(3, dim=-1)
        hr, hz, hn = self.hidden_gates(h).chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1.0 - z) * n + z * h

    @property
    def shared(self) -> bool:
        return self.input_gates.shared

    def run_fused(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Every state of an uninterrupted sequence ``x [T, M, N, in]`` from ``h [M, N, H]``,
        ``[T, M, N, H]``, through torch's fused GRU (shared weights only): about 1.5-2x faster
        than stepping in Python on CPU, forward and backward."""
        steps, m, n = x.shape[:3]
        weights = [
            self.input_gates.weight,
            self.hidden_gates.weight,
            self.input_gates.bias,
            self.hidden_gates.bias,
        ]
        out, _ = torch.gru(
            x.reshape(steps, m * n, -1),
            h.reshape(1, m * n, -1).contiguous(),
            weights,
            True,
            1,
            0.0,
            self.training,
            False,
            False,
        )
        return out.reshape(steps, m, n, -1)


class AgentNet(nn.Module):
    """MLP (optionally followed by a GRU) applied to every agent of ``[..., N, in_dim]`` inputs.

    Args:
        in_dim: one agent's input size (without the agent id).
        out_dim: one agent's output size (logits, action mean, a value, Q-values...).
        num_agents: N.
        hidden_size: width of every hidden layer (and of the GRU state).
        layers: number of hidden layers of the MLP (at least 1).
        shared: share parameters across agents.
        agent_id: with shared parameters, append a one-hot agent id to the input.
        feature_norm: LayerNorm on the raw input features (MAPPO's feature normalisation).
        activation: ``"relu"`` or ``"tanh"``.
        recurrent: put a GRU cell between the MLP and the output head.
        out_gain: orthogonal-init gain of the output layer (small for policies, 1 for values).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        num_agents: int,
        *,
        hidden_size: int = 64,
        layers: int = 2,
        shared: bool = True,
        agent_id: bool = True,
        feature_norm: bool = False,
        activation: str = "relu",
        recurrent: bool = False,
        out_gain: float = 0.01,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        if hidden_size < 1:
            raise ValueError(f"hidden_size must be at least 1, got {hidden_size}")
        self.num_agents = num_agents
        self.recurrent = recurrent
        self.hidden_size = hidden_size
        self.with_id = shared and agent_id
        self.register_buffer("agent_ids", torch.eye(num_agents), persistent=False)
        self.input_norm = nn.LayerNorm(in_dim) if feature_norm else nn.Identity()
        body: list[nn.Module] = []
        width = in_dim + (num_agents if self.with_id else 0)
        for _ in range(layers):
            body += [AgentLinear(width, hidden_size, num_agents, shared), ACTIVATIONS[activation]()]
            width = hidden_size
        self.body = nn.Sequential(*body)
        self.gru = AgentGRUCell(hidden_size, hidden_size, num_agents, shared) if recurrent else None
        self.head = AgentLinear(hidden_size, out_dim, num_agents, shared, gain=out_gain)

    def initial_hidden(self, batch: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Zero recurrent state ``[batch, N, H]`` (``H = 0`` for feed-forward networks)."""
        size = self.hidden_size if self.recurrent else 0
        return torch.zeros(batch, self.num_agents, size, device=device)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(x)
        if self.with_id:
            x = torch.cat([x, self.agent_ids.expand(*x.shape[:-1], self.num_agents)], dim=-1)
        return self.body(x)

    def forward(
        self,
        x: torch.Tensor,
        hidden: torch.Tensor | None = None,
        starts: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One step. ``x [..., N, in]``; recurrent nets also take ``hidden [B, N, H]`` and
        ``starts [B]`` (True where an episode begins, which zeroes that copy's state)."""
        features = self._features(x)
        if self.gru is None:
            return self.head(features), hidden
        if hidden is None:
            hidden = torch.zeros(*features.shape[:-1], self.hidden_size, device=features.device)
        if starts is not None:
            hidden = hidden * (~starts.bool()).to(hidden.dtype)[:, None, None]
        hidden = self.gru(features, hidden)
        return self.head(hidden), hidden

    def forward_episodes(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``[E, L, N, out]`` of replayed episodes ``x [E, L, N, in]``; a GRU starts every
        episode from a zero state."""
        if not self.recurrent:
            return self(x)[0]
        e, steps = x.shape[:2]
        starts = torch.zeros(steps, e, dtype=torch.bool, device=x.device)
        starts[0] = True
        out, _ = self.forward_sequence(
            x.transpose(0, 1), self.initial_hidden(e, device=x.device), starts
        )
        return out.transpose(0, 1)

    def forward_sequence(
        self, x: torch.Tensor, hidden: torch.Tensor | None, starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A whole rollout: ``x [T, M, N, in]``, ``hidden [M, N, H]`` at its start, ``starts [T, M]``."""
        features = self._features(x)
        if self.gru is None:
            return self.head(features), hidden
        keep = (~starts.bool()).to(features.dtype)[..., None, None]
        if self.gru.shared and not starts[1:].any():  # no episode starts after the first step
            states = self.gru.run_fused(features, hidden * keep[0])
            return self.head(states), states[-1]
        input_gates = self.gru.input_gates(features)  # all steps in one product
        outputs = []
        for t in range(features.shape[0]):
            hidden = self.gru.step(input_gates[t], hidden * keep[t])
            outputs.append(hidden)
        return self.head(torch.stack(outputs)), hidden
