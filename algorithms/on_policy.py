"""What every on-policy learner needs: rollout storage, episode flags, GAE, the PPO loss and its
update loop, value normalisation.

Each piece is small and unit-tested against a naive Python loop (tests/test_on_policy.py).
Shapes: a rollout is ``[T, B, N, ...]`` (time, env copies, agents). :func:`ppo_update` is the one
clipped-PPO minibatch loop: the PPO learners and MANSA's switcher both run it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from algorithms.base import check_finite


class RolloutBuffer:
    """Preallocated tensors ``[T, *shape]`` for one rollout, filled step by step.

    Args:
        length: T, the rollout length.
        specs: ``{name: (shape, dtype)}`` with the per-step shape, e.g. ``(B, N, D)``.
        device: where the tensors live.
    """

    def __init__(
        self,
        length: int,
        specs: dict[str, tuple[tuple[int, ...], torch.dtype]],
        device: torch.device | str = "cpu",
    ):
        self.length = length
        self.data = {
            name: torch.zeros((length, *shape), dtype=dtype, device=device)
            for name, (shape, dtype) in specs.items()
        }

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.data[name]

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def store(self, t: int, **items: torch.Tensor | np.ndarray) -> None:
        """Copy one step's values into row ``t``."""
        for name, value in items.items():
            target = self.data[name][t]
            target.copy_(
                torch.as_tensor(value).to(target.dtype) if isinstance(value, np.ndarray) else value
            )


def next_episode_flags(
    agent_done: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, info: dict
) -> tuple[np.ndarray, np.ndarray]:
    """After a step of B copies: ``(starts [B], agent_done [B, N])``, where a new episode begins
    and which agents have finished their current one (all False again in copies that reset)."""
    done = agent_done | terminated | truncated
    final = info.get("_final")
    if final is None:
        if torch.is_tensor(done):  # a torch core's flags stay on its device
            return torch.zeros(len(done), dtype=torch.bool, device=done.device), done
        return np.zeros(len(done), dtype=bool), done
    done[final] = False
    return (final.clone() if torch.is_tensor(final) else final.copy()), done


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_values: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016) over a ``[T, ...]`` rollout.

    Args:
        rewards: ``[T, ...]``; a truncated step's reward already includes ``gamma * V(final obs)``.
        values: ``[T, ...]`` value estimates of the observations the steps started from.
        dones: ``[T, ...]`` 1 where the episode ended with step t (no bootstrap past it).
        last_values: ``[...]`` value of the observation after the last step.
        gamma, lam: discount and GAE lambda.

    Returns:
        ``(advantages, returns)``, both ``[T, ...]``, with ``returns = advantages + values``.
    """
    advantages = torch.zeros_like(values)
    next_advantage = torch.zeros_like(last_values)
    next_value = last_values
    for t in reversed(range(rewards.shape[0])):
        not_done = 1.0 - dones[t].to(values.dtype)
        delta = rewards[t] + gamma * next_value * not_done - values[t]
        next_advantage = delta + gamma * lam * not_done * next_advantage
        advantages[t] = next_advantage
        next_value = values[t]
    return advantages, advantages + values


class ValueNorm:
    """Running mean and variance of value targets, for a critic that predicts normalised values.

    MAPPO (Yu et al. 2022) normalises value targets with running statistics and
    denormalises predictions when computing advantages. Statistics are exact over every
    target seen (Chan et al.'s parallel update, in float64): MAPPO's debiased moving average
    with beta = 0.99999 is the same to within 1e-5 per update.
    """

    def __init__(self, eps: float = 1e-5, device: torch.device | str = "cpu"):
        self.eps = eps
        self.mean = torch.zeros((), dtype=torch.float64, device=device)
        self.var = torch.ones((), dtype=torch.float64, device=device)
        self.count = torch.zeros((), dtype=torch.float64, device=device)

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().reshape(-1).to(torch.float64)
        n = x.numel()
        if n == 0:
            return
        batch_mean = x.mean()
        batch_var = x.var(unbiased=False)
        total = self.count + n
        delta = batch_mean - self.mean
        if self.count == 0:
            self.mean, self.var = batch_mean, batch_var
        else:
            m2 = self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total
            self.mean = self.mean + delta * n / total
            self.var = m2 / total
        self.count = total

    @property
    def std(self) -> torch.Tensor:
        return torch.sqrt(self.var + self.eps)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.std).to(x.dtype)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.std + self.mean).to(x.dtype)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean.clone(), "var": self.var.clone(), "count": self.count.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.mean, self.var, self.count = (
            state[k].clone().to(self.mean.device) for k in ("mean", "var", "count")
        )


def normalise_advantages(advantages: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Advantages standardised over the entries where ``weights`` is 1; unchanged with fewer than
    two such entries (one entry alone would standardise to 0)."""
    count = weights.sum()
    if count <= 1:
        return advantages
    mean = (advantages * weights).sum() / count
    var = ((advantages - mean).pow(2) * weights).sum() / count
    return (advantages - mean) / (var.sqrt() + 1e-8)


def weighted_mean(x: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``weights`` is 1 (all entries if None)."""
    if weights is None:
        return x.mean()
    return (x * weights).sum() / weights.sum().clamp(min=1.0)


def ppo_losses(
    new_log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    entropy: torch.Tensor,
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_coef: float,
    clip_value: bool = False,
    weights: torch.Tensor | None = None,
    weigh_values: bool = True,
) -> dict[str, torch.Tensor]:
    """The clipped PPO objective (Schulman et al. 2017), averaged over the entries in ``weights``
    (the value loss over every entry if not ``weigh_values``: a critic may learn where the policy
    had no choice).

    Returns ``policy_loss``, ``value_loss`` (0.5 * squared error, clipped around the old value
    if ``clip_value``), ``entropy`` (with gradients), and ``approx_kl`` / ``clipfrac``
    (without) for logging.
    """
    log_ratio = new_log_prob - old_log_prob
    ratio = log_ratio.exp()
    pg_unclipped = -advantages * ratio
    pg_clipped = -advantages * ratio.clamp(1.0 - clip_coef, 1.0 + clip_coef)
    policy_loss = weighted_mean(torch.maximum(pg_unclipped, pg_clipped), weights)
    v_error = (new_values - returns).pow(2)
    if clip_value:
        v_clipped = old_values + (new_values - old_values).clamp(-clip_coef, clip_coef)
        v_error = torch.maximum(v_error, (v_clipped - returns).pow(2))
    value_loss = 0.5 * weighted_mean(v_error, weights if weigh_values else None)
    with torch.no_grad():
        approx_kl = weighted_mean((ratio - 1.0) - log_ratio, weights)
        clipfrac = weighted_mean(((ratio - 1.0).abs() > clip_coef).to(ratio.dtype), weights)
    return {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": weighted_mean(entropy, weights),
        "approx_kl": approx_kl,
        "clipfrac": clipfrac,
    }


def explained_variance(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """1 - Var(targets - predictions) / Var(targets); NaN when the targets do not vary."""
    var = targets.var(unbiased=False)
    if var == 0:
        return float("nan")
    return float(1.0 - (targets - predictions).var(unbiased=False) / var)


def ppo_update(
    data: dict[str, torch.Tensor],
    size: int,
    evaluate: Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, ...]],
    optimizer: torch.optim.Optimizer,
    params: list[torch.nn.Parameter],
    cfg: Any,
    generator: torch.Generator,
    update: int,
    *,
    take: Callable[[dict[str, torch.Tensor], torch.Tensor], dict[str, torch.Tensor]] | None = None,
    clip_value: bool = False,
    weigh_values: bool = True,
    prefix: str = "",
    imitation_coef: float = 0.0,
    target_kl: float | None = None,
) -> dict[str, float]:
    """``cfg.epochs`` passes of ``cfg.minibatches`` clipped PPO steps over ``size`` samples.

    Args:
        data: ``log_probs`` (the behaviour's), ``advantages``, ``targets`` (normalised as the
            critic predicts), ``active`` (loss weights), ``old_values`` (with ``clip_value``),
            and whatever ``evaluate`` reads; indexed along dim 0 unless ``take`` says otherwise.
        evaluate: a minibatch -> ``(log_prob, entropy, values)`` of the current networks.
        cfg: has ``epochs``, ``minibatches``, ``clip_coef``, ``ent_coef``, ``vf_coef`` and
            ``max_grad_norm`` (a PPO or switcher config).
        update: the update number a non-finite loss is reported with; ``prefix`` its loss names'.
        imitation_coef: if > 0, add ``-imitation_coef * mean log_prob`` over the entries where
            ``data["imitation"]`` is 1 (behaviour cloning of the actions taken there).
        target_kl: if set, stop the update (all remaining epochs) at the first minibatch whose
            approximate KL to the behaviour policy, measured before its step, exceeds it; that
            step is not taken.

    Returns:
        The mean of each loss term (and ``grad_norm``) over the minibatches stepped, by name;
        with ``target_kl``, also ``update_fraction``: the share of the ``epochs x minibatches``
        steps taken.
    """
    take = take or (lambda d, idx: {k: v[idx] for k, v in d.items()})
    batches = min(cfg.minibatches, size)
    totals: dict[str, torch.Tensor] = {}
    steps, stopped = 0, False
    for _ in range(cfg.epochs):
        if stopped:
            break
        order = torch.randperm(size, generator=generator, device=generator.device)
        for idx in order.tensor_split(batches):
            mb = take(data, idx)
            log_prob, entropy, values = evaluate(mb)
            losses = ppo_losses(
                log_prob,
                mb["log_probs"],
                mb["advantages"],
                entropy,
                values,
                mb.get("old_values"),
                mb["targets"],
                cfg.clip_coef,
                clip_value,
                weights=mb["active"],
                weigh_values=weigh_values,
            )
            loss = (
                losses["policy_loss"]
                - cfg.ent_coef * losses["entropy"]
                + cfg.vf_coef * losses["value_loss"]
            )
            if imitation_coef > 0:
                losses["transfer_loss"] = -weighted_mean(log_prob, mb["imitation"])
                loss = loss + imitation_coef * losses["transfer_loss"]
            if target_kl is not None and steps > 0 and float(losses["approx_kl"]) > target_kl:
                stopped = True
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            checked = ("policy_loss", "value_loss", "entropy")
            check_finite(
                {
                    **{f"{prefix}{k}": losses[k] for k in checked},
                    f"{prefix}grad_norm": grad_norm,
                },
                update,
            )
            optimizer.step()
            losses["grad_norm"] = grad_norm
            steps += 1
            for k, v in losses.items():
                totals[k] = totals.get(k, 0.0) + v.detach()
    metrics = {k: float(v) / steps for k, v in totals.items()}
    if target_kl is not None:
        metrics["update_fraction"] = steps / (cfg.epochs * batches)
    return metrics
