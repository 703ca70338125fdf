"""The value learners' targets and exploration: masked greedy and Boltzmann values, TD targets,
the TD loss, schedules, and epsilon-greedy / Boltzmann action choice.

Each piece is a pure function unit-tested against a naive loop (tests/test_value_targets.py).
Action masks (True = valid) enter everywhere: a row that allows nothing allows everything.
"""

from __future__ import annotations

import numpy as np
import torch

# --------------------------------------------------------------------------- TD targets


def allow_all_if_empty(mask: torch.Tensor) -> torch.Tensor:
    """A row whose mask allows nothing (padding, or an env bug) allows everything instead."""
    mask = mask.bool()
    return mask | ~mask.any(dim=-1, keepdim=True)


def masked_argmax(q: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The best valid action of ``q [..., A]`` (``mask [..., A]``, True = valid)."""
    if mask is None:
        return q.argmax(dim=-1)
    return torch.where(allow_all_if_empty(mask), q, torch.full_like(q, -torch.inf)).argmax(dim=-1)


def greedy_values(
    q_select: torch.Tensor, q_evaluate: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """``q_evaluate`` at the masked argmax of ``q_select``: ``[..., A] -> [...]``.

    Double Q-learning (van Hasselt et al. 2016) passes the online network's values as
    ``q_select`` and the target network's as ``q_evaluate``; plain Q-learning passes the
    target network's values as both.
    """
    best = masked_argmax(q_select, mask)
    return q_evaluate.gather(-1, best.unsqueeze(-1)).squeeze(-1)


def boltzmann_policy(
    q: torch.Tensor, mask: torch.Tensor | None, temperature: float
) -> torch.Tensor:
    """``softmax(q / temperature)`` over the valid actions, ``[..., A]``."""
    logits = q / temperature
    if mask is not None:
        logits = torch.where(allow_all_if_empty(mask), logits, torch.full_like(logits, -torch.inf))
    return torch.softmax(logits, dim=-1)


def boltzmann_values(
    q_policy: torch.Tensor, q_evaluate: torch.Tensor, mask: torch.Tensor | None, temperature: float
) -> torch.Tensor:
    """The mean-field value ``sum_a pi(a) q_evaluate(a)``, ``pi`` the Boltzmann policy of ``q_policy``
    (Yang et al. 2018, eq. 11): ``[..., A] -> [...]``."""
    probs = boltzmann_policy(q_policy, mask, temperature)
    return (probs * torch.where(probs > 0, q_evaluate, torch.zeros_like(q_evaluate))).sum(dim=-1)


def td_targets(
    rewards: torch.Tensor, next_values: torch.Tensor, bootstrap: torch.Tensor, gamma: float
) -> torch.Tensor:
    """One-step targets ``r + gamma * bootstrap * V(next)``; ``bootstrap`` is 0 after a termination.

    ``next_values`` is zeroed where ``bootstrap`` is 0 before the product, so a padded or
    terminal step never carries a stray value (not even a NaN) into its target.
    """
    bootstrap = bootstrap.bool()
    return rewards + gamma * torch.where(bootstrap, next_values, torch.zeros_like(next_values))


def masked_mse(values: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean squared TD error over the entries where ``weights`` is True (EPyMARL's loss)."""
    weights = weights.to(values.dtype)
    errors = (values - targets).pow(2)
    return (errors * weights).sum() / weights.sum().clamp(min=1.0)


# --------------------------------------------------------------------------- schedules and exploration


def linear_schedule(start: float, finish: float, duration: int, step: int) -> float:
    """``start`` moving linearly to ``finish`` over ``duration`` steps, then ``finish``."""
    if step >= duration:
        return finish
    return start + (finish - start) * step / duration


def geometric_schedule(start: float, finish: float, duration: int, step: int) -> float:
    """``start`` moving geometrically to ``finish`` over ``duration`` steps (even on a log scale)."""
    if step >= duration:
        return finish
    return start * (finish / start) ** (step / duration)


def epsilon_greedy(
    q: np.ndarray, mask: np.ndarray | None, epsilon: float, rng: np.random.Generator
) -> np.ndarray:
    """Per agent: a uniformly random valid action with probability ``epsilon``, else the greedy one.

    ``q [B, N, A]``; always draws ``B * N * (A + 1)`` uniforms, so the random stream (and a
    resumed run) does not depend on the Q-values or on epsilon.
    """
    valid = np.ones(q.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    valid = valid | ~valid.any(axis=-1, keepdims=True)
    greedy = np.where(valid, q, -np.inf).argmax(axis=-1)
    random = (rng.random(q.shape) * valid).argmax(axis=-1)  # uniform over the valid actions
    explore = rng.random(q.shape[:-1]) < epsilon
    return np.where(explore, random, greedy)


def epsilon_greedy_torch(
    q: torch.Tensor, mask: torch.Tensor | None, epsilon: float, generator: torch.Generator
) -> torch.Tensor:
    """:func:`epsilon_greedy` on a device, drawing from ``generator`` (the same rule and the same
    number of draws, not the same stream as numpy's)."""
    valid = torch.ones_like(q, dtype=torch.bool) if mask is None else mask.bool()
    valid = valid | ~valid.any(dim=-1, keepdim=True)
    greedy = torch.where(valid, q, torch.full_like(q, -torch.inf)).argmax(dim=-1)
    draws = torch.rand(q.shape, generator=generator, device=q.device)
    random = (draws * valid).argmax(dim=-1)  # uniform over the valid actions
    explore = torch.rand(q.shape[:-1], generator=generator, device=q.device) < epsilon
    return torch.where(explore, random, greedy)


def boltzmann_sample(
    q: np.ndarray, mask: np.ndarray | None, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """Sample ``softmax(q / temperature)`` over the valid actions per agent (Gumbel-max)."""
    valid = np.ones(q.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    valid = valid | ~valid.any(axis=-1, keepdims=True)
    gumbel = -np.log(-np.log(np.clip(rng.random(q.shape), 1e-20, 1.0 - 1e-12)))
    return np.where(valid, q / temperature + gumbel, -np.inf).argmax(axis=-1)
