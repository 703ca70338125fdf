"""Human drivers' day-to-day route choice, vectorised over env copies and drivers (URB phase 1).

Each human keeps a cost expectation per route of its OD pair, stored as RouteRL stores it:
as a *negative* travel time (RouteRL 2.0.0, ``routerl/environment/agent_generation.py``
starts it at minus the free-flow route times; ``HumanAgent.get_reward`` returns minus the
travel time just experienced). A day: every human picks a route by the logit rule, drives,
and updates the expectation of the route it drove only. The models and their defaults are
RouteRL 2.0.0's (``routerl/human_learning/learning_model.py``, ``environment/defaults.json``):

- choice (every model below): ``P(route a) = exp(beta * cost_a) / sum_b exp(beta * cost_b)``,
  with ``beta`` drawn per human uniformly from ``[beta - beta_randomness, beta +
  beta_randomness]`` (defaults 1.5 and 0.1; RouteRL's times are in minutes, so ``beta`` is
  per minute there and per time unit of the network here);
- ``"gawron"`` (Gawron 1998): ``cost_a <- (1 - alpha) * cost_a + alpha * reward`` (alpha 0.2);
- ``"culo"`` (cumulative logit, Li et al. 2024): ``cost_a <- cost_a + alpha * reward``;
- ``"weighted"`` (weighted average, Cascetta 2009): the last ``remember`` (5) expectations
  of route ``a`` are averaged with weights proportional to ``1 / (j + 1)`` (j = 0 newest)
  and normalised, then ``cost_a <- average + alpha * reward``, as RouteRL writes it;
- ``"random"``: uniform over the routes, no learning; ``"aon"``: all-or-nothing, always
  the free-flow fastest route (RouteRL's ``AON``), no learning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODELS = ("gawron", "culo", "weighted", "random", "aon")


@dataclass(frozen=True)
class HumanModel:
    """Parameters of the human route-choice model (RouteRL 2.0.0's defaults)."""

    model: str = "gawron"
    """One of ``MODELS``: ``"gawron"``, ``"culo"`` (cumulative logit), ``"weighted"``,
    ``"random"``, ``"aon"``."""
    alpha: float = 0.2
    """Weight of the newest experienced travel time in the cost expectation."""
    beta: float = 1.5
    """Logit sensitivity to the cost expectation, per time unit of the network."""
    beta_randomness: float = 0.1
    """Each human's ``beta`` is uniform in ``[beta - beta_randomness, beta + beta_randomness]``."""
    remember: int = 5
    """Memory length of the ``"weighted"`` model."""
    deterministic: bool = False
    """Choose the route of the highest expectation instead of sampling the logit."""

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"human model must be one of {MODELS}, got {self.model!r}")
        if not 0.0 < self.alpha <= 1.0 and self.model != "culo":
            raise ValueError(f"human alpha must be in (0, 1], got {self.alpha!r}")
        if self.alpha <= 0.0:
            raise ValueError(f"human alpha must be positive, got {self.alpha!r}")
        if self.beta_randomness < 0.0:
            raise ValueError(f"beta_randomness must be >= 0, got {self.beta_randomness!r}")
        if int(self.remember) != self.remember or self.remember < 1:
            raise ValueError(f"remember must be a positive integer, got {self.remember!r}")

    @classmethod
    def of(cls, spec: str | dict | HumanModel) -> HumanModel:
        """A model from its name, a dict of fields, or a model."""
        if isinstance(spec, HumanModel):
            return spec
        if isinstance(spec, str):
            return cls(model=spec)
        if isinstance(spec, dict):
            unknown = set(spec) - set(cls.__dataclass_fields__)
            if unknown:
                raise ValueError(
                    f"unknown human model parameters {sorted(unknown)}; "
                    f"valid ones are {sorted(cls.__dataclass_fields__)}"
                )
            return cls(**spec)
        raise TypeError(
            f"human_model must be a name {MODELS}, a dict of HumanModel fields or a HumanModel, "
            f"got {type(spec).__name__}"
        )


class HumanPopulation:
    """``H`` humans in each of ``B`` copies, each choosing among its OD pair's ``k`` routes.

    Args:
        model: the :class:`HumanModel`.
        free_flow: ``[H, k]`` free-flow time of each human's route slots.
        valid: ``[H, k]`` which slots are real routes (the others are never chosen).
        num_envs: B.
    """

    def __init__(self, model: HumanModel, free_flow: np.ndarray, valid: np.ndarray, num_envs: int):
        self.model = model
        self.free_flow = np.asarray(free_flow, dtype=np.float64)  # [H, k]
        self.valid = np.asarray(valid, dtype=bool)  # [H, k]
        b, (h, k) = num_envs, self.free_flow.shape
        self.cost = np.zeros((b, h, k))  # [B, H, k] expectations (negative times)
        self.beta = np.zeros((b, h))  # [B, H]
        self.memory = np.zeros((b, h, k, model.remember))  # [B, H, k, M] newest first
        # weights of the "weighted" memory: 1 / (j + 1), normalised
        w = 1.0 / np.arange(1, model.remember + 1)
        self._weights = w / w.sum()
        self._aon = np.where(self.valid, self.free_flow, np.inf).argmin(axis=1)  # [H]

    @property
    def num_humans(self) -> int:
        return self.free_flow.shape[0]

    def reset(self, idx: np.ndarray, rngs: list[np.random.Generator]) -> None:
        """Fresh humans in copies ``idx``: free-flow expectations, a new ``beta`` each."""
        m = self.model
        for c in idx:
            self.beta[c] = rngs[c].uniform(
                m.beta - m.beta_randomness, m.beta + m.beta_randomness, self.num_humans
            )
        self.cost[idx] = -self.free_flow
        self.memory[idx] = -self.free_flow[None, :, :, None]

    def probabilities(self) -> np.ndarray:
        """``[B, H, k]`` the logit choice probabilities (0 on missing routes)."""
        utility = self.beta[:, :, None] * self.cost
        utility = np.where(self.valid[None], utility, -np.inf)
        utility -= utility.max(axis=2, keepdims=True)
        weight = np.exp(utility)
        return weight / weight.sum(axis=2, keepdims=True)

    def choose(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """``[B, H]`` each human's route slot today (randomness from each copy's generator)."""
        b, h = self.beta.shape
        m = self.model
        if m.model == "aon":
            return np.broadcast_to(self._aon, (b, h)).copy()
        if m.model == "random":
            prob = np.broadcast_to(
                self.valid / self.valid.sum(axis=1, keepdims=True), self.cost.shape
            )
        else:
            prob = self.probabilities()
            if m.deterministic:
                return prob.argmax(axis=2)
        u = np.stack([rngs[c].random(h) for c in range(b)])  # [B, H]
        slot = (np.cumsum(prob, axis=2) < u[:, :, None]).sum(axis=2)
        return np.minimum(slot, self.valid.sum(axis=1)[None, :] - 1)

    def learn(self, slot: np.ndarray, time: np.ndarray, copies: np.ndarray | None = None) -> None:
        """Update the expectation of the route each human drove (``slot [B, H]``, ``time [B, H]``).

        ``copies`` (a boolean ``[B]``) limits learning to some copies.
        """
        m = self.model
        if m.model in ("aon", "random"):
            return
        b, h = slot.shape
        cb, ch = np.meshgrid(np.arange(b), np.arange(h), indexing="ij")
        if copies is not None:
            keep = np.asarray(copies, dtype=bool)
            cb, ch, slot, time = cb[keep], ch[keep], slot[keep], time[keep]
        reward = -np.asarray(time, dtype=np.float64)
        old = self.cost[cb, ch, slot]
        if m.model == "gawron":
            new = (1.0 - m.alpha) * old + m.alpha * reward
        elif m.model == "culo":
            new = old + m.alpha * reward
        else:  # weighted: push the current expectation into the memory, average it
            memory = self.memory[cb, ch, slot]  # [..., M]
            memory = np.concatenate([old[..., None], memory[..., :-1]], axis=-1)
            self.memory[cb, ch, slot] = memory
            new = memory @ self._weights + m.alpha * reward
        self.cost[cb, ch, slot] = new
