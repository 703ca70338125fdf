"""Action distributions: a masked categorical for Discrete actions, a diagonal Gaussian for Box.

Both sample from an explicit ``torch.Generator`` so a learner owns its whole random stream
(and can checkpoint it for a bit-for-bit resume); ``torch.distributions`` cannot take one.

Masking: invalid actions get the logit :data:`MASKED_LOGIT`, a large *finite* negative
number, so probabilities, log-probabilities and entropies stay free of ``inf - inf`` NaNs
and masked actions contribute exactly zero probability mass in float32. A row whose mask
allows nothing is treated as allowing everything (an env bug should not crash training).
"""

from __future__ import annotations

import math

import torch

#: The logit given to masked actions: exp(MASKED_LOGIT - max) underflows to 0 in float32.
MASKED_LOGIT = -1e9


class MaskedCategorical:
    """Categorical over the last dimension of ``logits``, restricted to ``mask``.

    Args:
        logits: ``[..., A]`` unnormalised log-probabilities.
        mask: optional boolean ``[..., A]``; ``True`` marks allowed actions.
    """

    def __init__(self, logits: torch.Tensor, mask: torch.Tensor | None = None):
        if mask is not None:
            mask = mask.bool()
            mask = mask | ~mask.any(dim=-1, keepdim=True)  # all-masked rows: allow everything
            logits = torch.where(mask, logits, torch.full_like(logits, MASKED_LOGIT))
        self.mask = mask
        self.logits = logits - torch.logsumexp(logits, dim=-1, keepdim=True)

    @property
    def probs(self) -> torch.Tensor:
        return self.logits.exp()

    def _gumbel(self, generator: torch.Generator | None) -> torch.Tensor:
        u = torch.rand(self.logits.shape, generator=generator, device=self.logits.device)
        return -torch.log(-torch.log(u.clamp(min=1e-20, max=1.0 - 1e-7)))

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Gumbel-max sampling; a masked action is never drawn."""
        return torch.argmax(self.logits + self._gumbel(generator), dim=-1)

    def gumbel_softmax(
        self, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """A one-hot sample ``[..., A]`` with the straight-through Gumbel-softmax gradient (Jang
        et al. 2017; MADDPG's discrete actions): forward, the one-hot of what :meth:`sample`
        draws from the same uniforms (never a masked action); backward, the gradient of
        ``softmax((logits + g) / temperature)``, in which masked actions have weight 0."""
        soft = torch.softmax((self.logits + self._gumbel(generator)) / temperature, dim=-1)
        hard = torch.nn.functional.one_hot(soft.argmax(dim=-1), soft.shape[-1]).to(soft.dtype)
        return (hard - soft).detach() + soft

    def mode(self) -> torch.Tensor:
        return torch.argmax(self.logits, dim=-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.logits.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        plogp = self.probs * self.logits
        if self.mask is not None:
            plogp = torch.where(self.mask, plogp, torch.zeros_like(plogp))
        return -plogp.sum(dim=-1)


class DiagGaussian:
    """Diagonal Gaussian over the last dimension; ``log_std`` broadcasts against ``mean``."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor):
        self.mean = mean
        self.log_std = log_std.expand_as(mean)
        self.std = self.log_std.exp()

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device)
        return self.mean + self.std * noise

    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        z = (actions - self.mean) / self.std
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)

    def entropy(self) -> torch.Tensor:
        return (0.5 + 0.5 * math.log(2 * math.pi) + self.log_std).sum(dim=-1)
