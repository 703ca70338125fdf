"""A standalone decentralised policy: acts from observations alone, saves and loads on its own.

Training, evaluation and the render command all use this one class, so a policy file written
by any learner (``runs/<name>/policy.pt``) can be played back without the learner, its
optimiser or the trainer. The file holds only a spec (plain numbers and strings) and the
tensors, so it loads with ``torch.load(weights_only=True)``: opening a policy someone sent you
runs no pickled code.

Value-based learners store their agent Q-network here too (``action_kind="discrete"``): the
greedy action is then the argmax of the masked Q-values. MF-Q's Q-network also takes the other
agents' mean one-hot action of the previous step (``mean_action_input``); the policy carries it
from step to step as its hidden state, so it still acts from observations alone.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from agents.distributions import DiagGaussian, MaskedCategorical
from agents.networks import AgentNet

POLICY_FORMAT = "marlgym-policy"
POLICY_VERSION = 1


@dataclass
class PolicySpec:
    """Everything needed to rebuild a :class:`Policy` (saved next to its weights)."""

    obs_dim: int
    num_agents: int
    action_kind: str  # "discrete" or "continuous"
    action_dim: int  # number of actions (discrete) or size of the action vector
    action_low: list[float] = field(default_factory=list)  # continuous only, flattened
    action_high: list[float] = field(default_factory=list)
    hidden_size: int = 64
    layers: int = 2
    activation: str = "relu"
    recurrent: bool = False
    share_parameters: bool = True
    agent_id: bool = True
    feature_norm: bool = False
    init_log_std: float = -0.5
    mean_action_input: bool = False  # MF-Q: the net also takes the others' previous mean action

    def __post_init__(self):
        if self.action_kind not in ("discrete", "continuous"):
            raise ValueError(
                f"action_kind must be 'discrete' or 'continuous', got {self.action_kind!r}"
            )
        if self.mean_action_input and (self.action_kind != "discrete" or self.recurrent):
            raise ValueError(
                "mean_action_input needs discrete actions and a feed-forward net (as MF-Q), "
                f"got action_kind={self.action_kind!r}, recurrent={self.recurrent}"
            )

    @classmethod
    def for_env(cls, env: Any, **network: Any) -> PolicySpec:
        """The spec for a batched core ``env`` (its observation and action spaces)."""
        obs_dim = int(np.prod(env.observation_space.shape))
        space = env.action_space
        if isinstance(space, gym.spaces.Discrete):
            return cls(obs_dim, env.num_agents, "discrete", int(space.n), **network)
        if isinstance(space, gym.spaces.Box):
            return cls(
                obs_dim,
                env.num_agents,
                "continuous",
                int(np.prod(space.shape)),
                [float(v) for v in np.ravel(space.low)],
                [float(v) for v in np.ravel(space.high)],
                **network,
            )
        raise TypeError(f"unsupported action space {space}: use Discrete or Box")


class Policy(nn.Module):
    """An actor network plus its action distribution, for ``[B, N, ...]`` observation batches."""

    def __init__(self, spec: PolicySpec):
        super().__init__()
        self.spec = spec
        self.net = AgentNet(
            spec.obs_dim + (spec.action_dim if spec.mean_action_input else 0),
            spec.action_dim,
            spec.num_agents,
            hidden_size=spec.hidden_size,
            layers=spec.layers,
            shared=spec.share_parameters,
            agent_id=spec.agent_id,
            feature_norm=spec.feature_norm,
            activation=spec.activation,
            recurrent=spec.recurrent,
            out_gain=0.01,
        )
        self.discrete = spec.action_kind == "discrete"
        self.metadata: dict[str, Any] = {}
        if not self.discrete:
            rows = 1 if spec.share_parameters else spec.num_agents
            self.log_std = nn.Parameter(
                torch.full((rows, spec.action_dim), float(spec.init_log_std))
            )
            self.register_buffer(
                "low", torch.tensor(spec.action_low, dtype=torch.float32), persistent=False
            )
            self.register_buffer(
                "high", torch.tensor(spec.action_high, dtype=torch.float32), persistent=False
            )

    # ------------------------------------------------------------------ distributions
    def initial_hidden(self, batch: int) -> torch.Tensor:
        return self.net.initial_hidden(batch, device=next(self.parameters()).device)

    def _distribution(self, out: torch.Tensor, mask: torch.Tensor | None):
        if self.discrete:
            return MaskedCategorical(out, mask)
        return DiagGaussian(out, self.log_std)

    def distribution(
        self,
        obs: torch.Tensor,
        mask: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
        starts: torch.Tensor | None = None,
    ):
        """One step: the action distribution for ``obs [B, N, D]`` and the new hidden state."""
        out, hidden = self.net(obs.flatten(start_dim=2), hidden, starts)
        return self._distribution(out, mask), hidden

    def distribution_sequence(
        self,
        obs: torch.Tensor,
        mask: torch.Tensor | None,
        hidden: torch.Tensor | None,
        starts: torch.Tensor,
    ):
        """A rollout: ``obs [T, M, N, D]`` from ``hidden [M, N, H]`` with episode ``starts [T, M]``."""
        out, _ = self.net.forward_sequence(obs.flatten(start_dim=3), hidden, starts)
        return self._distribution(out, mask)

    def to_env(self, actions: torch.Tensor) -> np.ndarray:
        """Actions as a numpy core takes them: integer indices, or vectors clipped to the Box."""
        if self.discrete:
            return actions.to("cpu", torch.int64).numpy()
        return self.clip(actions).to("cpu", torch.float32).numpy()

    def clip(self, actions: torch.Tensor) -> torch.Tensor:
        """Continuous actions clipped to the Box, where they are (a torch core takes these)."""
        return torch.maximum(torch.minimum(actions, self.high), self.low)

    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray,
        mask: np.ndarray | None = None,
        hidden: torch.Tensor | None = None,
        greedy: bool = True,
        generator: torch.Generator | None = None,
        starts: np.ndarray | None = None,
    ) -> tuple[np.ndarray, torch.Tensor | None]:
        """Env actions for observations ``[B, N, ...]`` (numpy in, numpy out) and the new hidden state."""
        device = next(self.parameters()).device
        obs_t = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=device)
        mask_t = (
            None
            if mask is None or not self.discrete
            else torch.as_tensor(np.asarray(mask), device=device)
        )
        starts_t = None if starts is None else torch.as_tensor(np.asarray(starts), device=device)
        if self.spec.mean_action_input:
            return self._act_on_mean_action(obs_t, mask_t, hidden, greedy, generator, starts_t)
        if hidden is None and self.spec.recurrent:
            hidden = self.initial_hidden(obs_t.shape[0])
        dist, hidden = self.distribution(obs_t, mask_t, hidden, starts_t)
        actions = dist.mode() if greedy else dist.sample(generator)
        return self.to_env(actions), hidden

    def _act_on_mean_action(self, obs, mask, mean, greedy, generator, starts):
        """MF-Q's acting: ``mean [B, N, A]`` is the other agents' mean one-hot action of the previous
        step (uniform at an episode's start, zeros for a single agent); returns the next one."""
        b, n = obs.shape[:2]
        a = self.spec.action_dim
        first = torch.full((b, n, a), 1.0 / a if n > 1 else 0.0, device=obs.device)
        if mean is None:
            mean = first
        elif starts is not None:
            mean = torch.where(starts.reshape(b, 1, 1).bool(), first, mean)
        out, _ = self.net(torch.cat([obs.flatten(start_dim=2), mean], dim=-1))
        dist = self._distribution(out, mask)
        actions = dist.mode() if greedy else dist.sample(generator)
        onehot = torch.nn.functional.one_hot(actions.long(), a).float()
        others = (onehot.sum(dim=1, keepdim=True) - onehot) / max(n - 1, 1)
        return self.to_env(actions), others

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
        """Write the policy to ``path`` atomically (a temporary file, then a rename)."""
        payload = {
            "format": POLICY_FORMAT,
            "version": POLICY_VERSION,
            "spec": asdict(self.spec),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            # plain JSON values only, so the file stays loadable with weights_only=True
            "metadata": json.loads(
                json.dumps(metadata if metadata is not None else self.metadata, default=str)
            ),
        }
        _save_atomically(payload, os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Policy:
        """Read a policy written by :meth:`save`; ``policy.metadata`` holds what was saved with it."""
        payload = read_saved(path, POLICY_FORMAT, POLICY_VERSION, "policy", map_location)
        known = {f.name for f in fields(PolicySpec)}
        policy = cls(PolicySpec(**{k: v for k, v in payload["spec"].items() if k in known}))
        policy.load_state_dict(payload["state_dict"])
        policy.metadata = dict(payload.get("metadata", {}))
        return policy.to(map_location)


def read_saved(
    path: str | os.PathLike,
    file_format: str,
    version: int,
    what: str,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """A saved payload (tensors and plain values only: ``weights_only``) with its ``format``
    header and ``version`` checked; ValueError names ``what`` the file should have been."""
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(f"{path} is not a readable marlgym {what} file ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != file_format:
        raise ValueError(f"{path} is not a marlgym {what} file (no '{file_format}' header)")
    if payload.get("version") != version:
        raise ValueError(
            f"{path} has {what} format version {payload.get('version')}, "
            f"this marlgym reads version {version}"
        )
    return payload


def _save_atomically(payload: dict, path: str) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader (the render command, a resumed run) sees the old file or the new one, never half
    of one. The runs layer's :func:`algorithms.runs.files.atomic_path` does the same for the
    other run files; agents/ sits below that layer, so the policy keeps its own few lines.
    """
    tmp = f"{path}.tmp"
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
